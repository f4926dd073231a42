package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/otp"
)

// fakeServer accepts every request whose password is want(user), counts
// the datagrams it reads, and answers each distinct request once.
type fakeServer struct {
	addr    string
	packets atomic.Int64
	mu      sync.Mutex
	seen    map[[16]byte]int
	// answerOn: the copy of a request that is answered (default 1: the
	// first; 2 plays a server that lost the first datagram).
	answerOn int
	// silent: users never answered.
	silent map[string]bool
	// forge: send a Reject signed with another secret before each answer.
	forge bool
}

func startFake(t *testing.T, want func(user string) string) *fakeServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &fakeServer{addr: conn.LocalAddr().String(), seen: map[[16]byte]int{}, answerOn: 1}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, src, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			f.packets.Add(1)
			p, err := radius.Parse(buf[:n], []byte("testing123"))
			if err != nil {
				continue
			}
			f.mu.Lock()
			f.seen[p.Authenticator]++
			copyNo, answerOn := f.seen[p.Authenticator], f.answerOn
			silent, forge := f.silent[rfc2865.UserName_GetString(p)], f.forge
			f.mu.Unlock()
			if copyNo != answerOn || silent {
				continue
			}
			code := radius.CodeAccessReject
			if rfc2865.UserPassword_GetString(p) == want(rfc2865.UserName_GetString(p)) {
				code = radius.CodeAccessAccept
			}
			if forge {
				q := *p
				q.Secret = []byte("not-the-secret")
				b, _ := q.Response(radius.CodeAccessReject).Encode()
				conn.WriteTo(b, src)
			}
			b, _ := p.Response(code).Encode()
			conn.WriteTo(b, src)
		}
	}()
	return f
}

// engines are the ways Run can drive its sockets.
var engines = []struct {
	name    string
	sockets int
}{
	{"socket per request", 0},
	{"batched, one socket", 1},
	{"batched, three sockets", 3},
}

func TestRunCounts(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			f := startFake(t, func(string) string { return "pw" })
			rep, err := Run(context.Background(), Config{Target: f.addr, Secret: "testing123", Mode: "pap", Password: "pw",
				Users: 10, Requests: 200, Parallel: 4, Sockets: eng.sockets, Timeout: time.Second, Retransmit: 3, MA: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 200 || rep.Accepts != 200 || rep.Timeouts != 0 || rep.P99ms <= 0 || rep.P50ms > rep.P99ms || rep.P99ms > rep.MaxMs {
				t.Fatalf("report %+v", rep)
			}
			// The last copies may still be in the fake's socket when Run returns.
			for deadline := time.Now().Add(2 * time.Second); f.packets.Load() < 600 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if got := f.packets.Load(); got != 600 {
				t.Fatalf("server read %d datagrams, want 3 x 200", got)
			}
		})
	}
}

// A reply that is not signed with the request's authenticator and the
// secret is not the answer: the engines wait for the real one.
func TestRunSkipsForgedReplies(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			f := startFake(t, func(string) string { return "pw" })
			f.mu.Lock()
			f.forge = true
			f.mu.Unlock()
			rep, err := Run(context.Background(), Config{Target: f.addr, Secret: "testing123", Mode: "pap", Password: "pw",
				Users: 4, Requests: 100, Parallel: 4, Sockets: eng.sockets, Timeout: time.Second, Retransmit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Accepts != 100 || rep.Rejects != 0 {
				t.Fatalf("report %+v: forged rejects were counted", rep)
			}
		})
	}
}

// A request nobody answers is a timeout, counted once; the others go on.
func TestRunCountsTimeouts(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			f := startFake(t, func(string) string { return "pw" })
			f.mu.Lock()
			f.silent = map[string]bool{UserName(1): true}
			f.mu.Unlock()
			rep, err := Run(context.Background(), Config{Target: f.addr, Secret: "testing123", Mode: "pap", Password: "pw",
				Users: 4, Requests: 40, Parallel: 4, Sockets: eng.sockets, Timeout: 100 * time.Millisecond, Retransmit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 40 || rep.Timeouts == 0 || rep.Accepts+rep.Timeouts != 40 || rep.Accepts == 0 {
				t.Fatalf("report %+v: want 40 requests, some timed out, the rest accepted", rep)
			}
		})
	}
}

// With --retry-every the tool resends an unanswered request as a NAS does.
func TestRunRetriesLikeANAS(t *testing.T) {
	f := startFake(t, func(string) string { return "pw" })
	f.mu.Lock()
	f.answerOn = 2
	f.mu.Unlock()
	cfg := Config{Target: f.addr, Secret: "testing123", Mode: "pap", Password: "pw", Users: 4, Requests: 4, Parallel: 4,
		Timeout: 300 * time.Millisecond, Retransmit: 1}
	rep, err := Run(context.Background(), cfg)
	if err == nil && rep.Accepts != 0 {
		t.Fatalf("without retries: %+v, want no accepts", rep)
	}
	cfg.Requests, cfg.Timeout, cfg.RetryEvery = 20, 2*time.Second, 50*time.Millisecond
	rep, err = Run(context.Background(), cfg)
	if err != nil || rep.Accepts != 20 || rep.Timeouts != 0 {
		t.Fatalf("with retries: %+v, %v", rep, err)
	}
}

func TestRunHOTPFreshCodesAcrossRuns(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			// The fake accepts exactly the next counter of each user, like a
			// server with replay protection and no look-ahead.
			var mu sync.Mutex
			next := map[string]uint64{}
			f := startFake(t, func(user string) string {
				mu.Lock()
				defer mu.Unlock()
				var i int
				for j := range 100 {
					if UserName(j) == user {
						i = j
					}
				}
				c := next[user]
				next[user]++
				return otp.Code(AnchorSeed(i), c, otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6})
			})
			state := filepath.Join(t.TempDir(), "state.json")
			for run := range 2 {
				rep, err := Run(context.Background(), Config{Target: f.addr, Secret: "testing123", Mode: "hotp", Users: 20,
					Requests: 100, Parallel: 8, Sockets: eng.sockets, Timeout: time.Second, Retransmit: 1, StateFile: state})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Accepts != 100 {
					t.Fatalf("run %d: %d accepts of 100: codes were not fresh", run, rep.Accepts)
				}
			}
		})
	}
}

func TestRunTOTPCodesOfTheStep(t *testing.T) {
	// The fake accepts each user's code of the step the fixed clock is in,
	// once: a user logs in once per step, so 20 users give 20 accepts.
	now := time.Unix(1_700_000_015, 0)
	step := uint64(otp.Step(now.Unix(), 30))
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			f := startFake(t, func(user string) string {
				for j := range 20 {
					if UserName(j) == user {
						return otp.Code(AnchorSeed(j), step, otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 30})
					}
				}
				return ""
			})
			rep, err := Run(context.Background(), Config{Target: f.addr, Secret: "testing123", Mode: "totp", Users: 20,
				Requests: 20, Parallel: 4, Sockets: eng.sockets, Timeout: time.Second, Retransmit: 1, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Accepts != 20 {
				t.Fatalf("%d accepts of 20: the codes were not those of the step", rep.Accepts)
			}
		})
	}
}

func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"remote target", Config{Target: "192.0.2.1:1812", Mode: "pap", Users: 1, Requests: 1, Parallel: 1, Timeout: time.Second, Retransmit: 1}, "--allow-remote"},
		{"unbounded", Config{Target: "127.0.0.1:1812", Mode: "pap", Users: 1, Parallel: 1, Timeout: time.Second, Retransmit: 1}, "bounded"},
		{"hotp parallel above users", Config{Target: "127.0.0.1:1812", Mode: "hotp", Users: 2, Requests: 1, Parallel: 4, Timeout: time.Second, Retransmit: 1}, "--parallel"},
		{"too many in flight per socket", Config{Target: "127.0.0.1:1812", Mode: "pap", Users: 1, Requests: 1, Parallel: 600, Sockets: 2, Timeout: time.Second, Retransmit: 1}, "--sockets"},
		{"negative sockets", Config{Target: "127.0.0.1:1812", Mode: "pap", Users: 1, Requests: 1, Parallel: 1, Sockets: -1, Timeout: time.Second, Retransmit: 1}, "--sockets"},
		{"rate without the batched engine", Config{Target: "127.0.0.1:1812", Mode: "pap", Users: 1, Requests: 1, Parallel: 1, Rate: 100, Timeout: time.Second, Retransmit: 1}, "--rate"},
		{"negative rate", Config{Target: "127.0.0.1:1812", Mode: "pap", Users: 1, Requests: 1, Parallel: 1, Sockets: 1, Rate: -1, Timeout: time.Second, Retransmit: 1}, "--rate"},
		{"bad mode", Config{Target: "127.0.0.1:1812", Mode: "chap", Users: 1, Requests: 1, Parallel: 1, Timeout: time.Second, Retransmit: 1}, "--mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestRunStopsWhenNobodyAnswers(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			conn, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = Run(context.Background(), Config{Target: conn.LocalAddr().String(), Secret: "x", Mode: "pap", Users: 8,
				Requests: 100000, Parallel: 8, Sockets: eng.sockets, Timeout: 20 * time.Millisecond, Retransmit: 1})
			if err == nil || !strings.Contains(err.Error(), "no reply") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// The k-th request of a socket is due k/rate after the start, whatever
// became of the ones before.
func TestPacer(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		rate float64
		sent int64
		want time.Duration
	}{
		{"first at once", 1000, 0, 0},
		{"second a millisecond later", 1000, 1, time.Millisecond},
		{"tenth", 1000, 10, 10 * time.Millisecond},
		{"fractional rate", 3, 2, 666666666 * time.Nanosecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pacer{start: start, rate: tc.rate, sent: tc.sent}
			if got := p.next().Sub(start); got != tc.want {
				t.Fatalf("next = start + %v, want + %v", got, tc.want)
			}
		})
	}
}

// With --rate the requests go out on schedule, not as fast as a quick
// server answers: 100 requests at 2000/s take at least 99/2000 s.
func TestRunRate(t *testing.T) {
	for _, eng := range engines[1:] {
		t.Run(eng.name, func(t *testing.T) {
			f := startFake(t, func(string) string { return "pw" })
			rep, err := Run(context.Background(), Config{Target: f.addr, Secret: "testing123", Mode: "pap", Password: "pw",
				Users: 10, Requests: 100, Parallel: 8, Sockets: eng.sockets, Rate: 2000, Timeout: time.Second, Retransmit: 1, MA: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 100 || rep.Accepts != 100 || rep.Rate != 2000 {
				t.Fatalf("report %+v", rep)
			}
			// Each socket's last request is due (its share - 1) / (its rate).
			share := (100 + eng.sockets - 1) / eng.sockets
			if min := float64(share-1) / (2000 / float64(eng.sockets)); rep.Seconds < min {
				t.Fatalf("100 requests at 2000/s took %.4fs, want at least %.4fs", rep.Seconds, min)
			}
			if rep.BehindMax < rep.BehindP99 {
				t.Fatalf("behind schedule p99 %.3fms above max %.3fms", rep.BehindP99, rep.BehindMax)
			}
		})
	}
}

// Asked for more than the server answers, the engine keeps the requests in
// flight at --parallel, reads the replies as they come and reports how far
// behind schedule it fell; nothing times out.
func TestRunRateAboveWhatTheServerAnswers(t *testing.T) {
	f := startFake(t, func(string) string { return "pw" })
	rep, err := Run(context.Background(), Config{Target: f.addr, Secret: "testing123", Mode: "pap", Password: "pw",
		Users: 10, Requests: 40, Parallel: 4, Sockets: 1, Rate: 1e9, Timeout: 500 * time.Millisecond, Retransmit: 1, MA: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepts != 40 || rep.Timeouts != 0 || rep.BehindMax <= 0 {
		t.Fatalf("report %+v", rep)
	}
}
