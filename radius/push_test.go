package radius

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/auth"
)

// holdAuth holds every "push" login until release is closed, challenges
// "challenge", and records what it was asked.
type holdAuth struct {
	release chan struct{}
	mu      sync.Mutex
	reqs    []auth.Request
}

func (h *holdAuth) Authenticate(_ context.Context, r auth.Request) auth.Result {
	h.mu.Lock()
	h.reqs = append(h.reqs, r)
	h.mu.Unlock()
	switch r.User {
	case "push":
		return auth.Result{Wait: func(ctx context.Context) auth.Result {
			select {
			case <-h.release:
				return auth.Result{Decision: auth.Accept}
			case <-ctx.Done():
				return auth.Result{}
			}
		}}
	case "challenge":
		return auth.Result{Decision: auth.Challenge, State: []byte("state-1"), ReplyMessage: "pick 42"}
	}
	return auth.Result{Decision: auth.Accept}
}

func (h *holdAuth) requests() []auth.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]auth.Request(nil), h.reqs...)
}

func newHoldServer(t *testing.T, clients ...Client) (*Server, *holdAuth) {
	t.Helper()
	if len(clients) == 0 {
		clients = []Client{{Name: "c", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: secret, NumberMatching: "on"}}
	}
	h := &holdAuth{release: make(chan struct{})}
	srv, err := NewServer(context.Background(), Deps{Auth: h, Source: staticSource{NewTable(clients, nil)},
		Config: Config{MaxInFlight: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, h
}

func waitOut(t *testing.T, c *fakeConn, n int) [][]byte {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c.mu.Lock()
		out := append([][]byte(nil), c.out...)
		c.mu.Unlock()
		if len(out) >= n {
			return out
		}
	}
	t.Fatalf("fewer than %d replies", n)
	return nil
}

// A request held for the phone frees its evaluation slot: with
// MaxInFlight 1, OTP logins are still answered while a push waits.
func TestHeldRequestFreesItsSlot(t *testing.T) {
	srv, h := newHoldServer(t)
	conn := &fakeConn{}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	held := request(t, "push", "", true, nil)
	srv.HandlePacket(conn, held, src)
	for deadline := time.Now().Add(5 * time.Second); value(srv.metrics.Held) != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("request never held")
		}
	}
	for i := range 3 {
		srv.HandlePacket(conn, request(t, "otp", "123456", true, nil), netip.AddrPortFrom(src.Addr(), uint16(41000+i)))
		waitOut(t, conn, i+1)
	}
	if n := value(srv.metrics.Drops.WithLabelValues(DropOverloaded)); n != 0 {
		t.Fatalf("%v requests dropped as overloaded while a push was held", n)
	}
	// A retransmission of the held request is not evaluated again.
	srv.HandlePacket(conn, held, src)
	close(h.release)
	out := waitOut(t, conn, 4)
	srv.wg.Wait()
	if len(h.requests()) != 4 {
		t.Fatalf("evaluated %d requests, want 4", len(h.requests()))
	}
	if out[3][0] != byte(radius.CodeAccessAccept) || value(srv.metrics.Held) != 0 {
		t.Fatalf("held request answered with code %d; held gauge %v", out[3][0], value(srv.metrics.Held))
	}
}

func TestChallengeCarriesStateAndFollowUpsPassIt(t *testing.T) {
	srv, h := newHoldServer(t)
	conn := &fakeConn{}
	srv.HandlePacket(conn, request(t, "challenge", "", true, nil), netip.MustParseAddrPort("127.0.0.1:40000"))
	out := waitOut(t, conn, 1)
	p, err := radius.Parse(out[0], secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Code != radius.CodeAccessChallenge || string(rfc2865.State_Get(p)) != "state-1" || rfc2865.ReplyMessage_GetString(p) != "pick 42" {
		t.Fatalf("challenge %v state %q message %q", p.Code, rfc2865.State_Get(p), rfc2865.ReplyMessage_GetString(p))
	}
	srv.HandlePacket(conn, request(t, "follow", "", true, func(p *radius.Packet) { rfc2865.State_Set(p, []byte("state-1")) }),
		netip.MustParseAddrPort("127.0.0.1:40001"))
	waitOut(t, conn, 2)
	srv.wg.Wait()
	reqs := h.requests()
	if string(reqs[1].State) != "state-1" || reqs[1].NumberMatching != "on" {
		t.Fatalf("follow-up request = %+v", reqs[1])
	}
}

// No User-Password at all is the empty password (radtest omits it); CHAP,
// EAP and MS-CHAP are not passwords we can check: the server decides none
// of them itself, it hands each to auth with the method named, so that
// auth refuses and records it.
func TestRequestsWithoutAPassword(t *testing.T) {
	tests := []struct {
		name   string
		extra  func(*radius.Packet)
		method string
	}{
		{"no password attribute", nil, ""},
		{"CHAP", func(p *radius.Packet) { rfc2865.CHAPPassword_Set(p, make([]byte, 17)) }, auth.MethodCHAP},
		{"MS-CHAP", func(p *radius.Packet) {
			p.Attributes.Add(rfc2865.VendorSpecific_Type, radius.Attribute{0, 0, 1, 0x37, 11, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		}, auth.MethodMSCHAP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, h := newHoldServer(t)
			conn := &fakeConn{}
			p := radius.New(radius.CodeAccessRequest, secret)
			rfc2865.UserName_SetString(p, "otp")
			if tc.extra != nil {
				tc.extra(p)
			}
			b, err := p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			srv.HandlePacket(conn, b, netip.MustParseAddrPort("127.0.0.1:40000"))
			waitOut(t, conn, 1)
			srv.wg.Wait()
			reqs := h.requests()
			if len(reqs) != 1 {
				t.Fatalf("authenticator asked %d times, want once", len(reqs))
			}
			if reqs[0].Password != "" || reqs[0].Method != tc.method || reqs[0].User != "otp" {
				t.Fatalf("request user %q password %q method %q, want otp, empty, %q", reqs[0].User, reqs[0].Password, reqs[0].Method, tc.method)
			}
		})
	}
}

// value reads a gauge or counter.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}
