package radius

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/radmfa/radmfa/auth"
)

// gate accepts every request once open is closed, counting those waiting.
type gate struct {
	waiting atomic.Int32
	open    chan struct{}
}

func (g *gate) Authenticate(ctx context.Context, _ auth.Request) auth.Result {
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	select {
	case <-g.open:
	case <-ctx.Done():
	}
	return auth.Result{Decision: auth.Accept}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// Request goroutines wait for the next request once done, at most
// maxIdleWorkers of them, serve it when it comes, and end with Serve.
func TestRequestGoroutinesAreReused(t *testing.T) {
	tab := NewTable([]Client{{Name: "c", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: secret}}, nil)
	g := &gate{open: make(chan struct{})}
	srv, err := NewServer(context.Background(), Deps{Auth: g, Source: staticSource{tab}})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, []*net.UDPConn{pc}) }()

	conn := &fakeConn{}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	const burst = 3 * maxIdleWorkers
	for range burst {
		srv.HandlePacket(conn, request(t, "alice", "123456", true, nil), src)
	}
	eventually(t, "the burst is being evaluated", func() bool { return g.waiting.Load() == burst })
	close(g.open)
	srv.wg.Wait()
	eventually(t, "maxIdleWorkers goroutines are idle", func() bool { return srv.idle.Load() == maxIdleWorkers })
	if n := srv.spawned.Load(); n != burst {
		t.Fatalf("%d goroutines started for a burst of %d with none idle", n, burst)
	}
	if n := len(conn.out); n != burst {
		t.Fatalf("%d replies to %d requests", n, burst)
	}

	// A request held in Authenticate runs on one of the idle goroutines:
	// none is started for it. (How many are idle meanwhile depends on
	// when the burst's last goroutines get round to counting themselves.)
	g2 := &gate{open: make(chan struct{})}
	srv.auth = g2
	spawned := srv.spawned.Load()
	srv.HandlePacket(conn, request(t, "alice", "654321", true, nil), src)
	eventually(t, "the request is evaluated", func() bool { return g2.waiting.Load() == 1 })
	if n := srv.spawned.Load() - spawned; n != 0 {
		t.Errorf("%d goroutines started for a request while %d were idle, want none", n, maxIdleWorkers)
	}
	close(g2.open)
	srv.wg.Wait()
	eventually(t, "its goroutine is idle again", func() bool { return srv.idle.Load() == maxIdleWorkers })

	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the idle goroutines end with Serve", func() bool { return srv.idle.Load() == 0 })
}
