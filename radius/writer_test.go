package radius

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// batchPair is a server socket wrapped in a batchConn and a client socket
// that receives what it sends.
type batchPair struct {
	w      *batchConn
	client *net.UDPConn
	dst    netip.AddrPort // the client as the server's read loop names it
	errs   *[]error
}

func newBatchPair(t *testing.T, listen, dial string) batchPair {
	t.Helper()
	conns, err := Listen([]string{listen})
	if err != nil {
		t.Skipf("no loopback for %s here: %v", listen, err)
	}
	srv := conns[0]
	t.Cleanup(func() { srv.Close() })
	port := srv.LocalAddr().(*net.UDPAddr).Port
	client, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(dial), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	client.SetReadBuffer(4 << 20)
	dst := client.LocalAddr().(*net.UDPAddr).AddrPort()
	if srv.LocalAddr().(*net.UDPAddr).IP.To4() == nil && dst.Addr().Is4() {
		dst = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
	}
	var mu sync.Mutex
	errs := new([]error)
	w := newBatchConn(srv, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		*errs = append(*errs, err)
	})
	return batchPair{w: w, client: client, dst: dst, errs: errs}
}

// receive reads n datagrams, failing after a few seconds without one.
func (p batchPair) receive(t *testing.T, n int) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	buf := make([]byte, 4096)
	for range n {
		p.client.SetReadDeadline(time.Now().Add(3 * time.Second))
		k, err := p.client.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d replies: %v", len(got), n, err)
		}
		got[string(buf[:k])] = true
	}
	return got
}

var batchFamilies = []struct{ name, listen, dial string }{
	{"ipv4", "127.0.0.1:0", "127.0.0.1"},
	{"ipv6", "[::1]:0", "::1"},
	{"ipv4 on the dual-stack wildcard", ":0", "127.0.0.1"},
}

func TestBatchConnSendsEveryReplyInFewCalls(t *testing.T) {
	for _, tc := range batchFamilies {
		t.Run(tc.name, func(t *testing.T) {
			p := newBatchPair(t, tc.listen, tc.dial)
			// With one P the writers woken together run back to back, as
			// the requests of one group commit do in `serve --procs 1`.
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			const n = 3*writeBatch + 5 // more than one sendmmsg can carry
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					if _, err := p.w.WriteToUDPAddrPort(fmt.Appendf(nil, "reply %d", i), p.dst); err != nil {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			// Every writer has returned, so every reply has been sent.
			got := p.receive(t, n)
			for i := range n {
				if !got[fmt.Sprintf("reply %d", i)] {
					t.Errorf("reply %d never arrived", i)
				}
			}
			if len(*p.errs) > 0 {
				t.Errorf("send errors: %v", *p.errs)
			}
			if calls := p.w.calls.Load(); calls > n/8 {
				t.Errorf("%d replies took %d system calls; want them batched", n, calls)
			}
		})
	}
}

func TestBatchConnFailedSendSparesTheOthers(t *testing.T) {
	for _, tc := range batchFamilies {
		t.Run(tc.name, func(t *testing.T) {
			p := newBatchPair(t, tc.listen, tc.dial)
			// Port 0 is refused by the kernel (EINVAL) for that message only.
			bad := netip.AddrPortFrom(p.dst.Addr(), 0)
			p.w.send([]outMsg{
				{b: []byte("first"), dst: p.dst},
				{b: []byte("lost"), dst: bad},
				{b: []byte("last"), dst: p.dst},
			})
			got := p.receive(t, 2)
			if !got["first"] || !got["last"] {
				t.Errorf("got %v, want first and last", got)
			}
			if len(*p.errs) != 1 {
				t.Errorf("errors reported: %v, want exactly one", *p.errs)
			}
		})
	}
}
