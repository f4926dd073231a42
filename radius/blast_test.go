package radius

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"layeh.com/radius"
)

// BlastRADIUS (CVE-2024-3596): a client that does not require
// Message-Authenticator is warned about once at start, its requests
// without one are counted, and one that carries Proxy-State without
// Message-Authenticator is dropped.
func TestBlastRADIUSDefenses(t *testing.T) {
	var logs syncBuf
	tab := NewTable([]Client{
		{Name: "lax", Prefix: netip.MustParsePrefix("127.0.0.1/32"), Secret: secret},
		{Name: "strict", Prefix: netip.MustParsePrefix("127.0.0.2/32"), Secret: secret, RequireMA: true},
	}, nil)
	m := NewMetrics(nil)
	srv, err := NewServer(context.Background(), Deps{Auth: rejectAll{}, Source: staticSource{tab}, Metrics: m,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv.reload(context.Background(), true) // a second load warns no more
	if n := strings.Count(logs.String(), "does not require Message-Authenticator"); n != 1 || !strings.Contains(logs.String(), "client=lax") {
		t.Fatalf("%d warnings about clients without Message-Authenticator, want one for lax:\n%s", n, logs.String())
	}
	proxyState := func(p *radius.Packet) { p.Attributes.Add(33, radius.Attribute("proxy-1")) }
	tests := []struct {
		name    string
		from    string
		packet  []byte
		answers bool
	}{
		{"lax, with Message-Authenticator", "127.0.0.1", request(t, "u", "123456", true, nil), true},
		{"lax, without", "127.0.0.1", request(t, "u", "123456", false, nil), true},
		{"lax, without, again", "127.0.0.1", request(t, "u", "234567", false, nil), true},
		{"lax, Proxy-State without Message-Authenticator", "127.0.0.1", request(t, "u", "123456", false, proxyState), false},
		{"lax, Proxy-State with Message-Authenticator", "127.0.0.1", request(t, "u", "345678", true, proxyState), true},
		{"strict, without", "127.0.0.2", request(t, "u", "123456", false, nil), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := &fakeConn{}
			srv.HandlePacket(conn, tc.packet, netip.AddrPortFrom(netip.MustParseAddr(tc.from), 40000))
			srv.wg.Wait()
			if got := len(conn.out) > 0; got != tc.answers {
				t.Fatalf("answered %v, want %v", got, tc.answers)
			}
		})
	}
	if n := testutil.ToFloat64(m.WithoutMA.WithLabelValues("lax")); n != 3 {
		t.Errorf("lax's requests without Message-Authenticator counted %v, want 3", n)
	}
	if n := testutil.ToFloat64(m.Drops.WithLabelValues(DropProxyStateNoMA)); n != 1 {
		t.Errorf("Proxy-State drops %v, want 1", n)
	}
	if !bytes.Contains([]byte(logs.String()), []byte("BlastRADIUS")) {
		t.Error("the Proxy-State drop was not logged")
	}
}
