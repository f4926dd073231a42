package geoip_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/radmfa/radmfa/internal/geoip"
	"github.com/radmfa/radmfa/internal/geoiptest"
)

func TestLocate(t *testing.T) {
	l, err := geoip.Open(geoiptest.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct{ name, station, want string }{
		{"a city", "203.0.113.9", "Berlin, Germany"},
		{"a country alone", "198.51.100.4", "France"},
		{"not in the database", "192.0.2.1", "unknown"},
		{"a private address", "10.1.2.3", "private address"},
		{"carrier-grade NAT", "100.64.1.1", "private address"},
		{"IPv4 in IPv6", "::ffff:203.0.113.9", "Berlin, Germany"},
		{"a MAC address", "02-00-00-00-00-01", "unknown"},
		{"empty", "", "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.Locate(tc.station); got != tc.want {
				t.Fatalf("Locate(%q) = %q, want %q", tc.station, got, tc.want)
			}
		})
	}
}

func TestOpenRefusesOtherFiles(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "x.mmdb")
	os.WriteFile(bad, []byte("not a database"), 0o600)
	if _, err := geoip.Open(bad); err == nil {
		t.Fatal("a file that is no database opened")
	}
	if _, err := geoip.Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Fatal("a missing file opened")
	}
}
