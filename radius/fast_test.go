package radius

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/auth"
)

// splitAuth decides user "fast" at once and leaves everyone else to
// Authenticate, counting both.
type splitAuth struct {
	mu         sync.Mutex
	fast, slow map[string]int
	actors     map[string]bool
}

func (a *splitAuth) TryAuthenticate(r auth.Request) (auth.Result, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actors[r.Actor] = true
	if r.User != "fast" {
		return auth.Result{}, false
	}
	a.fast[r.Password]++
	return auth.Result{Decision: auth.Accept, ReplyMessage: "fast"}, true
}

func (a *splitAuth) Authenticate(_ context.Context, r auth.Request) auth.Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.slow[r.User+"/"+r.Password]++
	return auth.Result{Decision: auth.Reject}
}

// TestFastLoginsDecidedOnTheReadLoop: an authenticator that can decide a
// login at once is asked first, on the read loop; what it cannot decide
// goes to Authenticate, and each request is decided exactly once.
func TestFastLoginsDecidedOnTheReadLoop(t *testing.T) {
	conns, err := Listen([]string{"127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	a := &splitAuth{fast: map[string]int{}, slow: map[string]int{}, actors: map[string]bool{}}
	tab := NewTable([]Client{{Name: "nas", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: secret}}, nil)
	serveOn(t, conns, a, tab)
	c, err := net.DialUDP("udp", nil, conns[0].LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 100
	for i := range n {
		user := "fast"
		if i%4 == 0 {
			user = "slow"
		}
		p := radius.New(radius.CodeAccessRequest, secret)
		p.Identifier = byte(i)
		rfc2865.UserName_SetString(p, user)
		rfc2865.UserPassword_SetString(p, fmt.Sprintf("%06d", i))
		b, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	accepts, rejects := 0, 0
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d accepts, %d rejects: %v", accepts, rejects, err)
		}
		reply, err := radius.Parse(buf[:k], secret)
		if err != nil {
			t.Fatal(err)
		}
		switch reply.Code {
		case radius.CodeAccessAccept:
			accepts++
			if m := rfc2865.ReplyMessage_GetString(reply); m != "fast" {
				t.Errorf("accept with Reply-Message %q", m)
			}
		case radius.CodeAccessReject:
			rejects++
		}
	}
	if accepts != 75 || rejects != 25 {
		t.Fatalf("%d accepts, %d rejects; want 75 fast, 25 slow", accepts, rejects)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for user, k := range a.slow {
		if user[:4] != "slow" || k != 1 {
			t.Errorf("Authenticate asked %d times for %s", k, user)
		}
	}
	if len(a.slow) != 25 || len(a.fast) != 75 {
		t.Errorf("%d slow and %d fast decisions, want 25 and 75", len(a.slow), len(a.fast))
	}
	if !a.actors["radius:nas"] || len(a.actors) != 1 {
		t.Errorf("actors %v, want radius:nas", a.actors)
	}
}

// TestPortableDatagrams: the x/net path other systems use reads sources
// in the same forms and sends what the raw one does.
func TestPortableDatagrams(t *testing.T) {
	for _, tc := range batchFamilies {
		t.Run(tc.name, func(t *testing.T) {
			p := newBatchPair(t, tc.listen, tc.dial)
			d := newPortableDatagrams(p.w.conn)
			if n, err := d.write([]outMsg{{b: []byte("one"), dst: p.dst}, {b: []byte("two"), dst: p.dst}}); n != 2 || err != nil {
				t.Fatalf("write: %d, %v", n, err)
			}
			if got := p.receive(t, 2); !got["one"] || !got["two"] {
				t.Fatalf("received %v", got)
			}
			if _, err := p.client.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			bufs, ns, srcs := [][]byte{make([]byte, 64), make([]byte, 64)}, make([]int, 2), make([]netip.AddrPort, 2)
			p.w.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := d.read(bufs, ns, srcs)
			if err != nil || n != 1 || string(bufs[0][:ns[0]]) != "hello" || srcs[0] != p.dst {
				t.Fatalf("read %d %q from %v (%v), want hello from %v", n, bufs[0][:ns[0]], srcs[0], err, p.dst)
			}
		})
	}
}
