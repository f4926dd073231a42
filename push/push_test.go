package push_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/sqlite"
)

// clock is a settable clock for the API's and manager's notion of now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	st   *sqlite.Store
	clk  *clock
	mgr  *push.Manager
	srv  *httptest.Server
	pin  string
	refs map[string]int
	mu   sync.Mutex
}

func newEnv(t *testing.T, cfg push.Config, provider push.Provider) *env {
	t.Helper()
	clk := &clock{t: time.Now().Truncate(time.Second)}
	key := bytes.Repeat([]byte{7}, 32)
	st, err := sqlite.Open(sqlite.Options{Path: filepath.Join(t.TempDir(), "radmfa.db"), Key: key, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, clk: clk, refs: map[string]int{}}
	e.mgr = push.NewManager(push.Deps{Store: st, Provider: provider, Now: clk.Now, Config: cfg})
	t.Cleanup(e.mgr.Close)
	api := push.NewAPI(push.APIDeps{Store: st, Manager: e.mgr, Now: clk.Now, MaxActivationAttempts: 3,
		Refused: func(r string) { e.mu.Lock(); e.refs[r]++; e.mu.Unlock() }})
	e.srv = httptest.NewUnstartedServer(api.Handler())
	e.srv.EnableHTTP2 = true
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.pin = push.Pin(e.srv.Certificate())
	return e
}

func (e *env) refused(reason string) int { e.mu.Lock(); defer e.mu.Unlock(); return e.refs[reason] }

// pushToken makes a user with a push token and returns an enrollment URI.
func (e *env) pushToken(t *testing.T, user, serial string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := e.st.CreateUser(ctx, "test", store.User{Name: user}); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	if _, err := e.st.CreateToken(ctx, "test", store.Token{Serial: serial, User: user, Type: "push", Origin: store.OriginSoft,
		State: store.StateAssigned, Algorithm: "SHA1", Digits: 6, Period: 30}); err != nil {
		t.Fatal(err)
	}
	return e.activation(t, serial, "CODE"+serial, time.Hour)
}

func (e *env) activation(t *testing.T, serial, code string, life time.Duration) string {
	t.Helper()
	if err := e.st.SetActivation(context.Background(), "test", store.Activation{Serial: serial, CodeHash: push.HashCode(code),
		ExpiresAt: e.clk.Now().Add(life)}); err != nil {
		t.Fatal(err)
	}
	return push.Enrollment{URL: e.srv.URL, Serial: serial, Code: code, Pin: e.pin, User: "u", Issuer: "radmfa"}.URI()
}

func (e *env) enroll(t *testing.T, user, serial string) *push.Client {
	t.Helper()
	c, err := push.Enroll(context.Background(), e.pushToken(t, user, serial),
		push.DeviceInfo{OS: "iOS", OSVersion: "18.1", Model: "iPhone15,2", AppVersion: "1.0", Notifications: true}, "")
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	c.Now = e.clk.Now
	return c
}

func (e *env) start(t *testing.T, user, serial string, l push.Login) *push.Request {
	t.Helper()
	d, err := e.st.Device(context.Background(), serial)
	if err != nil {
		t.Fatal(err)
	}
	l.User = user
	r, _, err := e.mgr.Start(context.Background(), l, d)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return r
}

func TestEnrollDerivesTheSameSeedOnBothSides(t *testing.T) {
	e := newEnv(t, push.Config{}, nil)
	c := e.enroll(t, "alice", "RMP-1")
	tok, err := e.st.Token(context.Background(), "RMP-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.State.Seed) != push.SeedSize || !bytes.Equal(tok.Seed, c.State.Seed) {
		t.Fatalf("device seed %x, server seed %x", c.State.Seed, tok.Seed)
	}
	d, err := e.st.Device(context.Background(), "RMP-1")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.ParseRawPrivateKey(elliptic.P256(), c.State.SignKey)
	pub, _ := key.PublicKey.Bytes()
	if !bytes.Equal(d.PublicKey, pub) || d.OS != "iOS" || d.OSVersion != "18.1" || d.Model != "iPhone15,2" || d.PushState() != store.PushEnabled {
		t.Fatalf("device = %+v", d)
	}
	if c.State.User != "alice" || c.State.Digits != 6 || c.State.Period != 30 || c.State.Algorithm != "SHA1" {
		t.Fatalf("state = %+v", c.State)
	}
}

func TestEnrollRefusals(t *testing.T) {
	e := newEnv(t, push.Config{}, nil)
	info := push.DeviceInfo{OS: "Android", Model: "Pixel"}
	ctx := context.Background()

	uri := e.pushToken(t, "bob", "RMP-2")
	if _, err := push.Enroll(ctx, uri, info, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := push.Enroll(ctx, uri, info, ""); !push.IsRefused(err, http.StatusForbidden) {
		t.Fatalf("reused activation code: err = %v, want 403", err)
	}

	uri = e.activation(t, "RMP-2", "LATECODE", time.Minute)
	e.clk.Add(2 * time.Minute)
	if _, err := push.Enroll(ctx, uri, info, ""); !push.IsRefused(err, http.StatusForbidden) {
		t.Fatalf("expired activation code: err = %v, want 403", err)
	}

	uri = e.activation(t, "RMP-2", "RIGHTCODE", time.Hour)
	wrong := strings.Replace(uri, "code=RIGHTCODE", "code=WRONGCODE", 1)
	for range 3 {
		if _, err := push.Enroll(ctx, wrong, info, ""); !push.IsRefused(err, http.StatusForbidden) {
			t.Fatalf("wrong code: err = %v", err)
		}
	}
	if _, err := push.Enroll(ctx, uri, info, ""); !push.IsRefused(err, http.StatusForbidden) {
		t.Fatalf("right code after 3 wrong ones: err = %v, want 403 (activation void)", err)
	}

	uri = e.activation(t, "RMP-2", "PINNED", time.Hour)
	badPin := strings.Replace(uri, "pin=sha256%2F", "pin=sha256%2FAAAA", 1)
	if _, err := push.Enroll(ctx, badPin, info, ""); err == nil || !strings.Contains(err.Error(), "pin") {
		t.Fatalf("wrong certificate pin: err = %v, want a pin mismatch", err)
	}
	for name, bad := range map[string]push.DeviceInfo{
		"control characters": {OS: "iOS\x00"},
		"huge model":         {Model: strings.Repeat("x", 500)},
	} {
		if _, err := push.Enroll(ctx, uri, bad, ""); !push.IsRefused(err, http.StatusBadRequest) {
			t.Errorf("%s: err = %v, want 400", name, err)
		}
	}
	if _, err := push.Enroll(ctx, uri, info, "not-hex"); !push.IsRefused(err, http.StatusBadRequest) {
		t.Errorf("bad APNs token: err = %v, want 400", err)
	}
	// The pin was right and the bad requests did not consume the code.
	if _, err := push.Enroll(ctx, uri, info, "00112233445566778899aabbccddeeff"); err != nil {
		t.Fatalf("enroll after refusals: %v", err)
	}
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		name     string
		matching string
		decision string
		pick     int // 0: the right number; -1: a wrong one
		want     push.Outcome
		locked   bool
	}{
		{"approve", "off", push.DecisionApprove, 0, push.Approved, false},
		{"deny", "off", push.DecisionDeny, 0, push.Denied, false},
		{"fraud locks push", "off", push.DecisionFraud, 0, push.Fraud, true},
		{"number matching right pick", "on", push.DecisionApprove, 0, push.Approved, false},
		{"number matching wrong pick", "on", push.DecisionApprove, -1, push.WrongNumber, false},
		{"number matching no pick", "on", push.DecisionApprove, -2, push.WrongNumber, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, push.Config{}, nil)
			c := e.enroll(t, "carol", "RMP-3")
			r := e.start(t, "carol", "RMP-3", push.Login{Client: "vpn", CallingStation: "203.0.113.7", NumberMatching: tc.matching})
			pend, err := c.Pending(context.Background())
			if err != nil || len(pend) != 1 || pend[0].ID != r.ID || pend[0].CallingStation != "203.0.113.7" || pend[0].Client != "vpn" {
				t.Fatalf("Pending = %+v, %v", pend, err)
			}
			number := 0
			if tc.matching == "on" {
				if r.Number < 10 || r.Number > 99 || len(pend[0].Numbers) != 3 {
					t.Fatalf("number %d, choices %v", r.Number, pend[0].Numbers)
				}
				for _, n := range pend[0].Numbers {
					if (tc.pick == 0) == (n == r.Number) && tc.pick != -2 {
						number = n
						break
					}
				}
			} else if r.Number != 0 || pend[0].Numbers != nil {
				t.Fatalf("number matching off but number %d, choices %v", r.Number, pend[0].Numbers)
			}
			got, err := c.Answer(context.Background(), r.ID, tc.decision, number)
			if err != nil || got != tc.want.String() {
				t.Fatalf("Answer = %q, %v; want %s", got, err, tc.want)
			}
			if o := e.mgr.Wait(context.Background(), r); o != tc.want {
				t.Fatalf("outcome %s, want %s", o, tc.want)
			}
			u, _ := e.st.User(context.Background(), "carol")
			if u.PushLocked(e.clk.Now()) != tc.locked {
				t.Fatalf("push locked = %v, want %v", !tc.locked, tc.locked)
			}
			if pend, _ := c.Pending(context.Background()); len(pend) != 0 {
				t.Fatalf("still pending after the answer: %+v", pend)
			}
			hist, err := c.History(context.Background())
			if err != nil || len(hist) != 1 || hist[0].Result != tc.want.String() || !strings.Contains(hist[0].Details, r.ID) {
				t.Fatalf("History = %+v, %v", hist, err)
			}
		})
	}
}

func TestRefusedAnswers(t *testing.T) {
	e := newEnv(t, push.Config{Timeout: 300 * time.Millisecond}, nil)
	ctx := context.Background()
	dave := e.enroll(t, "dave", "RMP-4")
	eve := e.enroll(t, "eve", "RMP-5")

	r := e.start(t, "dave", "RMP-4", push.Login{Client: "vpn"})
	body, sig, err := dave.SignedAnswer(r.ID, push.DecisionApprove, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := dave.Raw(ctx, push.PathAnswer, body, nil); !push.IsRefused(err, http.StatusUnauthorized) {
		t.Fatalf("unsigned answer: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, _ := push.Sign(other, push.PathAnswer, body)
	if err := dave.Raw(ctx, push.PathAnswer, body, forged); !push.IsRefused(err, http.StatusUnauthorized) {
		t.Fatalf("answer signed by another key: %v", err)
	}
	tampered := bytes.Replace(body, []byte(`"approve"`), []byte(`"deny"`), 1)
	if err := dave.Raw(ctx, push.PathAnswer, tampered, sig); !push.IsRefused(err, http.StatusUnauthorized) {
		t.Fatalf("tampered answer: %v", err)
	}
	if _, err := eve.Answer(ctx, r.ID, push.DecisionApprove, 0); !push.IsRefused(err, http.StatusNotFound) {
		t.Fatalf("answer from another user's device: %v", err)
	}
	if _, err := dave.Answer(ctx, "no-such-id", push.DecisionApprove, 0); !push.IsRefused(err, http.StatusNotFound) {
		t.Fatalf("answer to an unknown request: %v", err)
	}
	if r.Outcome() != push.Pending {
		t.Fatalf("a refused answer changed the request: %s", r.Outcome())
	}
	if err := dave.Raw(ctx, push.PathAnswer, body, sig); err != nil {
		t.Fatalf("the genuine answer: %v", err)
	}
	if err := dave.Raw(ctx, push.PathAnswer, body, sig); !push.IsRefused(err, http.StatusConflict) {
		t.Fatalf("replayed answer: %v", err)
	}
	if _, err := dave.Answer(ctx, r.ID, push.DecisionDeny, 0); !push.IsRefused(err, http.StatusConflict) {
		t.Fatalf("second answer: %v", err)
	}
	if r.Outcome() != push.Approved {
		t.Fatalf("outcome %s, want approved", r.Outcome())
	}

	late := e.start(t, "dave", "RMP-4", push.Login{Client: "vpn"})
	if o := e.mgr.Wait(ctx, late); o != push.Expired {
		t.Fatalf("unanswered push: %s, want expired", o)
	}
	if _, err := dave.Answer(ctx, late.ID, push.DecisionApprove, 0); !push.IsRefused(err, http.StatusGone) {
		t.Fatalf("late answer: %v", err)
	}

	skewed := *dave
	skewed.Now = func() time.Time { return e.clk.Now().Add(-10 * time.Minute) }
	if _, err := skewed.Pending(ctx); !push.IsRefused(err, http.StatusUnauthorized) {
		t.Fatalf("request from 10 minutes ago: %v", err)
	}

	ev, err := e.st.AuditEvents(ctx, store.AuditFilter{Action: "push.answer"})
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"unsigned", "bad_signature", "foreign_request", "unknown_request", "answered", "late"} {
		if e.refused(reason) == 0 {
			t.Errorf("no refusal counted for %s", reason)
		}
	}
	if n := countRefused(ev); n != 8 {
		t.Errorf("refused answers audited = %d, want 8: %+v", n, ev)
	}

	// A revoked token's device is refused.
	if _, err := e.st.UpdateToken(ctx, "test", "RMP-4", "token.revoke", func(t *store.Token) error { t.State = store.StateRevoked; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := dave.Pending(ctx); !push.IsRefused(err, http.StatusForbidden) {
		t.Fatalf("revoked token's device: %v", err)
	}
}

func countRefused(ev []store.AuditEvent) int {
	n := 0
	for _, a := range ev {
		if a.Result == "refused" {
			n++
		}
	}
	return n
}

func TestOnePendingPushPerUser(t *testing.T) {
	e := newEnv(t, push.Config{TriggerBurst: 2, TriggerEvery: time.Hour}, nil)
	e.enroll(t, "frank", "RMP-6")
	d, _ := e.st.Device(context.Background(), "RMP-6")
	ctx := context.Background()
	l := push.Login{User: "frank", Client: "vpn", CallingStation: "198.51.100.1"}
	r1, joined, err := e.mgr.Start(ctx, l, d)
	if err != nil || joined {
		t.Fatal(err, joined)
	}
	r2, joined, err := e.mgr.Start(ctx, l, d)
	if err != nil || !joined || r2 != r1 {
		t.Fatalf("retry from the same station: joined=%v same=%v err=%v", joined, r2 == r1, err)
	}
	other := l
	other.CallingStation = "192.0.2.66"
	if _, _, err := e.mgr.Start(ctx, other, d); !errors.Is(err, push.ErrPending) {
		t.Fatalf("second login elsewhere while one is pending: %v", err)
	}
	e.mgr.Cancel(r1)
	if _, _, err := e.mgr.Start(ctx, other, d); err != nil {
		t.Fatalf("second trigger within the burst: %v", err)
	}
	e.mgr.Cancel(e.mgr.PendingFor("RMP-6")[0])
	if _, _, err := e.mgr.Start(ctx, l, d); !errors.Is(err, push.ErrRateLimited) {
		t.Fatalf("third trigger: %v, want rate limited", err)
	}
	ev, _ := e.st.AuditEvents(ctx, store.AuditFilter{Action: "push.request"})
	if len(ev) != 2 {
		t.Fatalf("push requests audited = %d, want 2 (the joined retry sends none)", len(ev))
	}
}

func TestMaxPending(t *testing.T) {
	e := newEnv(t, push.Config{MaxPending: 1}, nil)
	e.enroll(t, "g1", "RMP-7")
	e.enroll(t, "g2", "RMP-8")
	ctx := context.Background()
	d1, _ := e.st.Device(ctx, "RMP-7")
	d2, _ := e.st.Device(ctx, "RMP-8")
	if _, _, err := e.mgr.Start(ctx, push.Login{User: "g1"}, d1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.mgr.Start(ctx, push.Login{User: "g2"}, d2); !errors.Is(err, push.ErrOverloaded) {
		t.Fatalf("beyond MaxPending: %v", err)
	}
}

// A flood of triggers for one user from one station holds the push and at
// most MaxJoined requests beside it; the joined requests count against
// MaxPending with the pushes, and are given back when the push ends.
func TestJoinedRequestsBounded(t *testing.T) {
	e := newEnv(t, push.Config{MaxJoined: 2, MaxPending: 4}, nil)
	e.enroll(t, "h1", "RMP-9")
	e.enroll(t, "h2", "RMP-10")
	e.enroll(t, "h3", "RMP-11")
	ctx := context.Background()
	d1, _ := e.st.Device(ctx, "RMP-9")
	d2, _ := e.st.Device(ctx, "RMP-10")
	d3, _ := e.st.Device(ctx, "RMP-11")
	l := push.Login{User: "h1", Client: "vpn", CallingStation: "198.51.100.1"}
	r, _, err := e.mgr.Start(ctx, l, d1)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		login push.Login
		dev   store.Device
		want  error
	}{
		{"first join", l, d1, nil},
		{"second join", l, d1, nil},
		{"third join, over MaxJoined", l, d1, push.ErrJoinLimit},
		{"another user's push: 4 held with the joined", push.Login{User: "h2"}, d2, nil},
		{"a fifth held request, over MaxPending", push.Login{User: "h3"}, d3, push.ErrOverloaded},
	}
	for _, st := range steps {
		if _, _, err := e.mgr.Start(ctx, st.login, st.dev); !errors.Is(err, st.want) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.want)
		}
	}
	e.mgr.Cancel(r) // the push and its two joined requests end
	if _, _, err := e.mgr.Start(ctx, push.Login{User: "h3"}, d3); err != nil {
		t.Fatalf("after the push ended: %v", err)
	}
}

func TestTakeStateIsSingleUse(t *testing.T) {
	e := newEnv(t, push.Config{}, nil)
	e.enroll(t, "h", "RMP-9")
	r := e.start(t, "h", "RMP-9", push.Login{NumberMatching: "on"})
	if got := e.mgr.TakeState(context.Background(), r.State); got != r {
		t.Fatal("TakeState did not find the request")
	}
	if got := e.mgr.TakeState(context.Background(), r.State); got != nil {
		t.Fatal("a State continued a login twice")
	}
}

func TestDeviceUpdate(t *testing.T) {
	e := newEnv(t, push.Config{}, nil)
	c := e.enroll(t, "ivy", "RMP-10")
	tok := "aabbccddeeff00112233445566778899"
	st, err := c.Update(context.Background(), &tok, push.DeviceInfo{OS: "iOS", OSVersion: "19.0", Model: "iPhone16,1", Notifications: false})
	if err != nil || st != store.PushDisabled {
		t.Fatalf("Update = %q, %v", st, err)
	}
	d, _ := e.st.Device(context.Background(), "RMP-10")
	if d.APNsToken != tok || d.OSVersion != "19.0" || d.Notifications {
		t.Fatalf("device = %+v", d)
	}
}

// An answered request stays until its expiry plus Linger on the manager's
// clock, whatever the wall clock says: a NAS's follow-up with the State
// must still find it. (The forget timer once measured the time left with
// the wall clock against an expiry from the injected one.)
func TestAnsweredRequestKeptByTheManagersClock(t *testing.T) {
	e := newEnv(t, push.Config{}, nil)
	e.enroll(t, "k", "RMP-11")
	e.clk.Add(-365 * 24 * time.Hour) // the manager's clock a year behind the wall clock
	r := e.start(t, "k", "RMP-11", push.Login{NumberMatching: "on"})
	if o, err := e.mgr.Answer(context.Background(), "RMP-11", r.ID, push.DecisionApprove, r.Number+1); err != nil || o != push.WrongNumber {
		t.Fatalf("answer: %v %v", o, err)
	}
	time.Sleep(100 * time.Millisecond) // long enough for a wrongly immediate timer to fire
	if got := e.mgr.TakeState(context.Background(), r.State); got != r {
		t.Fatal("the answered request was forgotten at once")
	}
}
