package radius

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"testing"
)

func TestLookupCert(t *testing.T) {
	leaf := &x509.Certificate{Raw: []byte("a certificate"), Subject: pkix.Name{CommonName: "nas1.example.com"}, DNSNames: []string{"vpn.example.com"}}
	fp := CertFingerprint(leaf)
	tab := NewTable([]Client{
		{Name: "udp", Prefix: netip.MustParsePrefix("0.0.0.0/0"), Secret: secret},
		{Name: "by-cn", Secret: []byte("radsec"), CertCN: "NAS1.example.com"},
		{Name: "by-dns", Secret: []byte("radsec"), CertCN: "vpn.example.com", Prefix: netip.MustParsePrefix("10.0.0.0/8")},
		{Name: "by-fp", Secret: []byte("radsec"), CertFingerprint: fp, Prefix: netip.MustParsePrefix("192.0.2.0/24")},
	}, nil)
	tests := []struct {
		name string
		leaf *x509.Certificate
		addr string
		want string
	}{
		{"the fingerprint wins over the name", leaf, "192.0.2.9", "by-fp"},
		{"outside the fingerprint client's prefix: by name", leaf, "198.51.100.1", "by-cn"},
		{"a DNS name", &x509.Certificate{Raw: []byte("other"), DNSNames: []string{"VPN.example.com"}}, "10.1.2.3", "by-dns"},
		{"a DNS name from outside its prefix", &x509.Certificate{Raw: []byte("other"), DNSNames: []string{"vpn.example.com"}}, "11.1.2.3", ""},
		{"no client's certificate", &x509.Certificate{Raw: []byte("x"), Subject: pkix.Name{CommonName: "udp"}}, "192.0.2.9", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if c := tab.LookupCert(tc.leaf, netip.MustParseAddr(tc.addr)); c != nil {
				got = c.Name
			}
			if got != tc.want {
				t.Fatalf("LookupCert = %q, want %q", got, tc.want)
			}
		})
	}
	// A RadSec client is never a UDP packet's client.
	if c := tab.Lookup(netip.MustParseAddr("10.1.2.3")); c == nil || c.Name != "udp" {
		t.Fatalf("Lookup = %+v", c)
	}
	if n := tab.Len(); n != 4 {
		t.Fatalf("Len = %d", n)
	}
}
