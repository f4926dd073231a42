package radius

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogBudget(t *testing.T) {
	t0 := time.Unix(1_750_000_000, 0)
	tests := []struct {
		name  string
		calls func(b *logBudget) []bool
		want  []bool
	}{
		{"one line per key per period", func(b *logBudget) []bool {
			a, _ := b.allow("r", "k", t0)
			c, _ := b.allow("r", "k", t0.Add(30*time.Second))
			d, _ := b.allow("r", "k", t0.Add(time.Minute))
			return []bool{a, c, d}
		}, []bool{true, false, true}},
		{"reasons apart", func(b *logBudget) []bool {
			a, _ := b.allow("r1", "k", t0)
			c, _ := b.allow("r2", "k", t0)
			return []bool{a, c}
		}, []bool{true, true}},
		{"budget per reason", func(b *logBudget) []bool {
			var out []bool
			for i := range 5 {
				ok, _ := b.allow("r", fmt.Sprint(i), t0)
				out = append(out, ok)
			}
			ok, _ := b.allow("r", "late", t0.Add(time.Minute))
			return append(out, ok)
		}, []bool{true, true, true, false, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newLogBudget(time.Minute, 3)
			if got := tc.calls(b); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("allowed %v, want %v", got, tc.want)
			}
		})
	}
}

// lineCounter is a slog handler's writer that counts lines.
type lineCounter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lineCounter) lines(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), substr)
}

// Floods of dropped packets (spoofed with a wrong Message-Authenticator,
// or from tens of thousands of unknown sources) are every one counted, and
// write a bounded number of log lines, whatever their number.
func TestDropFloodsLogBounded(t *testing.T) {
	logs := &lineCounter{}
	now := time.Unix(1_750_000_000, 0)
	tab := NewTable([]Client{{Name: "c", Prefix: netip.MustParsePrefix("127.0.0.0/24"), Secret: secret}}, nil)
	srv, err := NewServer(context.Background(), Deps{Auth: rejectAll{}, Source: staticSource{tab},
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: func() time.Time { return now },
		Config: Config{LogPerReason: 5}})
	if err != nil {
		t.Fatal(err)
	}
	bad := request(t, "alice", "123456", true, nil)
	bad[len(bad)-1] ^= 0xff // the Message-Authenticator's last byte
	conn := &fakeConn{}
	const spoofed, sources = 100_000, 30_000
	for i := range spoofed {
		srv.HandlePacket(conn, bad, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + i%200)}), 40000))
	}
	for i := range sources {
		addr := netip.AddrFrom4([4]byte{127, 1 + byte(i>>16), byte(i >> 8), byte(i)})
		srv.HandlePacket(conn, request(t, "alice", "123456", true, nil), netip.AddrPortFrom(addr, 40000))
	}
	srv.wg.Wait()
	if got := value(srv.metrics.Drops.WithLabelValues(DropBadMA)); got != spoofed {
		t.Fatalf("%v bad Message-Authenticator drops counted, want %d", got, spoofed)
	}
	if got := value(srv.metrics.Drops.WithLabelValues(DropUnknownClient)); got != sources {
		t.Fatalf("%v unknown-source drops counted, want %d", got, sources)
	}
	if n := logs.lines("bad Message-Authenticator"); n != 1 {
		t.Fatalf("%d log lines for %d spoofed packets from one client, want 1", n, spoofed)
	}
	if n := logs.lines("unknown client"); n != 5 {
		t.Fatalf("%d log lines for %d unknown sources, want the budget of 5", n, sources)
	}
	if len(conn.out) != 0 {
		t.Fatalf("%d replies to dropped packets", len(conn.out))
	}
}
