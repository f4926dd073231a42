package auth_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/cache"
	"github.com/radmfa/radmfa/store/sqlite"
)

// clock is a fixed clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t *testing.T
	// store is what the server uses: the cache over SQLite.
	store store.Store
	svc   *auth.Service
	clock *clock
	dir   string
}

// cli opens a second store on e's database, as the CLI does beside a
// running server.
func (e *env) cli() store.Store {
	e.t.Helper()
	key, err := store.LoadKey(filepath.Join(e.dir, "master.key"))
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := sqlite.Open(sqlite.Options{Path: filepath.Join(e.dir, "radmfa.db"), Key: key, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

func newEnv(t *testing.T, cfg auth.Config) *env {
	t.Helper()
	dir := t.TempDir()
	key, err := store.CreateKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1_750_000_005, 0)}
	backend, err := sqlite.Open(sqlite.Options{Path: filepath.Join(dir, "radmfa.db"), Key: key, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	st := cache.New(backend, cache.Options{Users: 1000})
	t.Cleanup(func() { st.Close() })
	return &env{t: t, store: st, clock: clk, dir: dir, svc: auth.New(auth.Deps{Store: st, Now: clk.Now, Config: cfg})}
}

func (e *env) user(name string) {
	e.t.Helper()
	if _, err := e.store.CreateUser(context.Background(), "test", store.User{Name: name}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) enroll(user string, p otp.Params, pin string) store.Token {
	e.t.Helper()
	en, err := e.svc.Enroll(context.Background(), "test", auth.EnrollRequest{User: user, Params: p, PIN: pin})
	if err != nil {
		e.t.Fatal(err)
	}
	return en.Token
}

// code is the token's code at the current step shifted by off (TOTP) or at counter off (HOTP).
func (e *env) code(tok store.Token, off int64) string {
	p := otp.Params{Type: otp.Type(tok.Type), Algorithm: otp.Algorithm(tok.Algorithm), Digits: tok.Digits, Period: tok.Period}
	if p.Type == otp.HOTP {
		return otp.Code(tok.Seed, uint64(off), p)
	}
	return otp.Code(tok.Seed, uint64(otp.Step(e.clock.Now().Unix(), p.Period)+off), p)
}

func (e *env) login(user, password string) auth.Result {
	return e.svc.Authenticate(context.Background(), auth.Request{User: user, Password: password, Actor: "test"})
}

func (e *env) expect(user, password string, d auth.Decision, reason string) {
	e.t.Helper()
	r := e.login(user, password)
	if r.Decision != d || r.Reason != reason {
		e.t.Fatalf("login(%s) = %s/%s, want %s/%s", user, r.Decision, r.Reason, d, reason)
	}
}

var totp6 = otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 30}

func TestTOTPAcceptReplayWrong(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("alice")
	tok := e.enroll("alice", totp6, "")
	c := e.code(tok, 0)
	e.expect("alice", c, auth.Accept, auth.ReasonOK)
	e.expect("alice", c, auth.Reject, auth.ReasonReplay)
	e.expect("alice", "000000", auth.Reject, auth.ReasonBadCode)
	// The code of the previous step is older than the accepted one: refused too.
	e.expect("alice", e.code(tok, -1), auth.Reject, auth.ReasonReplay)
	e.clock.Add(30 * time.Second)
	e.expect("alice", e.code(tok, 0), auth.Accept, auth.ReasonOK)
}

func TestTOTPDriftRemembered(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("alice")
	tok := e.enroll("alice", totp6, "")
	e.expect("alice", e.code(tok, 1), auth.Accept, auth.ReasonOK) // phone is a step ahead
	got, _ := e.store.Token(context.Background(), tok.Serial)
	if got.Drift != 1 {
		t.Fatalf("drift = %d, want 1", got.Drift)
	}
	// With the drift remembered, a code two steps ahead is within the window.
	e.clock.Add(30 * time.Second)
	e.expect("alice", e.code(tok, 2), auth.Accept, auth.ReasonOK)
}

func TestHOTPLookAheadAndCounter(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("bob")
	tok := e.enroll("bob", otp.Params{Type: otp.HOTP, Algorithm: otp.SHA256, Digits: 8}, "")
	e.expect("bob", e.code(tok, 0), auth.Accept, auth.ReasonOK)
	e.expect("bob", e.code(tok, 0), auth.Reject, auth.ReasonReplay)
	e.expect("bob", e.code(tok, 5), auth.Accept, auth.ReasonOK)
	e.expect("bob", e.code(tok, 3), auth.Reject, auth.ReasonReplay)      // skipped over: used up
	e.expect("bob", e.code(tok, 6+200), auth.Reject, auth.ReasonBadCode) // beyond the resync window too
	got, _ := e.store.Token(context.Background(), tok.Serial)
	if got.Counter != 6 {
		t.Fatalf("counter = %d, want 6", got.Counter)
	}
}

func TestPIN(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("carol")
	tok := e.enroll("carol", totp6, "4711")
	tests := []struct {
		name     string
		password func() string
		decision auth.Decision
		reason   string
	}{
		{"code without pin", func() string { return e.code(tok, 0) }, auth.Reject, auth.ReasonBadPIN},
		{"wrong pin right code", func() string { return "4712" + e.code(tok, 0) }, auth.Reject, auth.ReasonBadPIN},
		{"right pin wrong code", func() string { return "4711000000" }, auth.Reject, auth.ReasonBadCode},
		{"right pin right code", func() string { return "4711" + e.code(tok, 0) }, auth.Accept, auth.ReasonOK},
		{"replay with pin", func() string { return "4711" + e.code(tok, 0) }, auth.Reject, auth.ReasonReplay},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.login("carol", tc.password())
			if r.Decision != tc.decision || r.Reason != tc.reason {
				t.Fatalf("got %s/%s, want %s/%s", r.Decision, r.Reason, tc.decision, tc.reason)
			}
			if r.Decision == auth.Reject && r.ReplyMessage != "" {
				t.Fatalf("reject tells the user %q", r.ReplyMessage)
			}
		})
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t, auth.Config{LockAfter: 3, LockDuration: time.Minute, FailureBurst: 100})
	e.user("dave")
	tok := e.enroll("dave", totp6, "")
	for range 3 {
		e.expect("dave", "123456", auth.Reject, auth.ReasonBadCode)
	}
	e.expect("dave", e.code(tok, 0), auth.Reject, auth.ReasonLocked)
	e.clock.Add(61 * time.Second)
	e.expect("dave", e.code(tok, 0), auth.Accept, auth.ReasonOK)
	got, _ := e.store.Token(context.Background(), tok.Serial)
	if got.FailCount != 0 {
		t.Fatalf("fail count %d after success, want 0", got.FailCount)
	}
}

func TestLockUntilAdminUnlocks(t *testing.T) {
	e := newEnv(t, auth.Config{LockAfter: 2, LockDuration: -1, FailureBurst: 100})
	e.user("erin")
	tok := e.enroll("erin", totp6, "")
	e.expect("erin", "111111", auth.Reject, auth.ReasonBadCode)
	e.expect("erin", "111111", auth.Reject, auth.ReasonBadCode)
	e.clock.Add(24 * time.Hour)
	e.expect("erin", e.code(tok, 0), auth.Reject, auth.ReasonLocked)
	if _, err := e.svc.Unlock(context.Background(), "admin", tok.Serial); err != nil {
		t.Fatal(err)
	}
	e.expect("erin", e.code(tok, 0), auth.Accept, auth.ReasonOK)
}

func TestUserAndTokenStates(t *testing.T) {
	e := newEnv(t, auth.Config{})
	ctx := context.Background()
	e.user("frank")
	e.user("gina")
	e.user("hank")
	ftok := e.enroll("frank", totp6, "")
	gtok := e.enroll("gina", totp6, "")
	if err := e.store.SetUserDisabled(ctx, "admin", "frank", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(ctx, "admin", gtok.Serial); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, password, reason string
	}{
		{"disabled user", "frank", e.code(ftok, 0), auth.ReasonUserDisabled},
		{"revoked token", "gina", e.code(gtok, 0), auth.ReasonNoToken},
		{"no token at all", "hank", "123456", auth.ReasonNoToken},
		{"unknown user", "nobody", "123456", auth.ReasonUnknownUser},
		{"empty password is the push trigger", "hank", "", auth.ReasonPushUnavailable},
		{"one character is the push trigger", "hank", "p", auth.ReasonPushUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.expect(tc.user, tc.password, auth.Reject, tc.reason)
		})
	}
}

func TestConcurrentSameCodeExactlyOnce(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("ivan")
	tok := e.enroll("ivan", totp6, "")
	c := e.code(tok, 0)
	const n = 12
	results := make([]auth.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = e.login("ivan", c) })
	}
	wg.Wait()
	accepts := 0
	for _, r := range results {
		if r.Decision == auth.Accept {
			accepts++
		} else if r.Reason != auth.ReasonReplay {
			t.Errorf("loser rejected for %s, want %s", r.Reason, auth.ReasonReplay)
		}
	}
	if accepts != 1 {
		t.Fatalf("%d accepts of one code, want exactly 1", accepts)
	}
}

func TestFailureRateLimit(t *testing.T) {
	e := newEnv(t, auth.Config{FailureBurst: 3, FailureEvery: 10 * time.Second, LockAfter: 100})
	e.user("judy")
	tok := e.enroll("judy", totp6, "")
	// A NAS trying CHAP guesses at no code: refused without counting.
	for range 5 {
		if r := e.svc.Authenticate(context.Background(), auth.Request{User: "judy", Method: auth.MethodMSCHAP}); r.Reason != auth.ReasonUnsupportedMethod {
			t.Fatalf("MS-CHAP request: %s", r.Reason)
		}
	}
	for range 3 {
		e.expect("judy", "999999", auth.Reject, auth.ReasonBadCode)
	}
	e.expect("judy", e.code(tok, 0), auth.Reject, auth.ReasonRateLimited)
	e.clock.Add(10 * time.Second)
	e.expect("judy", e.code(tok, 0), auth.Accept, auth.ReasonOK)
}

// Refusals say what the helpdesk can act on: a password no token's code
// can be (wrong_length), and the right code for a time outside the window,
// with the phone clock's offset (clock_skew). Both still count as failures.
func TestActionableReasons(t *testing.T) {
	e := newEnv(t, auth.Config{LockAfter: 100})
	e.user("lea")
	tok := e.enroll("lea", totp6, "")
	e.user("max")
	pinned := e.enroll("max", totp6, "pin-1234")
	tests := []struct {
		name, user, password, reason, detail string
	}{
		{"too short", "lea", "12345", auth.ReasonWrongLength, ""},
		{"too long", "lea", "1234567", auth.ReasonWrongLength, ""},
		{"a wrong code", "lea", "000000", auth.ReasonBadCode, ""},
		{"phone 5 minutes ahead", "lea", e.code(tok, 10), auth.ReasonClockSkew, "clock-skew=300s"},
		{"phone 3 minutes behind", "lea", e.code(tok, -6), auth.ReasonClockSkew, "clock-skew=-180s"},
		{"PIN token, phone ahead", "max", "pin-1234" + e.code(pinned, 4), auth.ReasonClockSkew, "clock-skew=120s"},
		{"PIN token, wrong PIN, phone ahead", "max", "pin-9999" + e.code(pinned, 4), auth.ReasonBadPIN, ""},
		{"far beyond the search", "lea", e.code(tok, 100), auth.ReasonBadCode, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// From a NAS that cannot show a challenge: a code in the
			// resync window is refused with what the helpdesk needs, not
			// answered with a token reset.
			r := e.svc.Authenticate(context.Background(), auth.Request{User: tc.user, Password: tc.password, NoChallenges: true})
			if r.Decision != auth.Reject || r.Reason != tc.reason {
				t.Fatalf("%s/%s, want reject/%s", r.Decision, r.Reason, tc.reason)
			}
			ev, err := e.store.AuditEvents(context.Background(), store.AuditFilter{User: tc.user, Action: "auth", Limit: 1})
			if err != nil || len(ev) != 1 || (tc.detail != "" && !strings.Contains(ev[0].Detail, tc.detail)) {
				t.Fatalf("audit %+v (%v), want the detail %q", ev, err, tc.detail)
			}
		})
	}
	if got, _ := e.store.Token(context.Background(), tok.Serial); got.FailCount != 6 {
		t.Fatalf("fail count %d after 6 refusals, want 6", got.FailCount)
	}
}

// A retransmission of the request whose code was accepted (the same RFC
// 5080 key) that reaches another instance, or this one after a restart,
// is answered with an Accept again; the same code in any other request is
// a replay.
func TestRetransmissionOfAnAcceptedRequest(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("ria")
	pin := "pin-4711"
	tok := e.enroll("ria", totp6, pin)
	key := []byte("request-key-0001")
	login := func(password string, key []byte) auth.Result {
		return e.svc.Authenticate(context.Background(), auth.Request{User: "ria", Password: password, RequestKey: key})
	}
	code := e.code(tok, 0)
	if r := login(pin+code, key); r.Decision != auth.Accept || r.Reason != auth.ReasonOK {
		t.Fatalf("first: %s/%s", r.Decision, r.Reason)
	}
	tests := []struct {
		name     string
		password string
		key      []byte
		after    time.Duration
		want     string
	}{
		{"the same request", pin + code, key, 0, auth.ReasonRetransmitted},
		{"the same request again", pin + code, key, 10 * time.Second, auth.ReasonRetransmitted},
		{"another request with the code", pin + code, []byte("request-key-0002"), 0, auth.ReasonReplay},
		{"a request without a key", pin + code, nil, 0, auth.ReasonReplay},
		{"the same key with a wrong PIN", "wrong-pin" + code, key, 0, auth.ReasonBadPIN},
		{"the same request after the window", pin + code, key, time.Minute, auth.ReasonReplay},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Add(tc.after)
			if r := login(tc.password, tc.key); r.Reason != tc.want || (r.Decision == auth.Accept) != (tc.want == auth.ReasonRetransmitted) {
				t.Fatalf("%s/%s, want %s", r.Decision, r.Reason, tc.want)
			}
		})
	}
	if n := e.auditResults("ria")["accept:retransmitted"]; n != 2 {
		t.Fatalf("%d accept:retransmitted audit rows, want 2", n)
	}
}

func (e *env) auditResults(user string) map[string]int {
	e.t.Helper()
	ev, err := e.store.AuditEvents(context.Background(), store.AuditFilter{User: user, Action: "auth"})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, x := range ev {
		out[x.Result]++
	}
	return out
}

// The failure budget is kept in the store: another instance (a second
// Service with a cache of its own over a second handle on the database)
// refuses a user whose failures were on the first, even with the right
// code on a state it had cached before them.
func TestFailureRateLimitSharedByInstances(t *testing.T) {
	cfg := auth.Config{FailureBurst: 3, FailureEvery: 10 * time.Second, LockAfter: 100}
	e := newEnv(t, cfg)
	e.user("judy")
	tok := e.enroll("judy", totp6, "")
	backend, err := sqlite.Open(sqlite.Options{Path: filepath.Join(e.dir, "radmfa.db"), Key: mustKey(t, e.dir), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	other := cache.New(backend, cache.Options{Users: 1000})
	t.Cleanup(func() { other.Close() })
	second := auth.New(auth.Deps{Store: other, Now: e.clock.Now, Config: cfg})
	if _, err := other.LoginState(context.Background(), "judy", false); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.expect("judy", "999999", auth.Reject, auth.ReasonBadCode)
	}
	if r := second.Authenticate(context.Background(), auth.Request{User: "judy", Password: e.code(tok, 0)}); r.Reason != auth.ReasonRateLimited {
		t.Fatalf("the other instance: %s %s, want rate_limited", r.Decision, r.Reason)
	}
	e.clock.Add(10 * time.Second)
	if r := second.Authenticate(context.Background(), auth.Request{User: "judy", Password: e.code(tok, 0)}); r.Decision != auth.Accept {
		t.Fatalf("the other instance after the budget refilled: %s %s", r.Decision, r.Reason)
	}
}

func mustKey(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := store.LoadKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestEveryOutcomeAudited(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("kim")
	tok := e.enroll("kim", totp6, "")
	e.svc.Authenticate(context.Background(), auth.Request{User: "kim", Password: e.code(tok, 0), Actor: "radius:vpn", Client: "vpn", CallingStationID: "203.0.113.9"})
	e.login("kim", "000000")
	e.login("ghost", "000000")
	for _, r := range []auth.Request{
		{User: "", Password: "123456", Actor: "radius:vpn"},
		{User: "kim", Method: auth.MethodCHAP, Actor: "radius:vpn"},
	} {
		if res := e.svc.Authenticate(context.Background(), r); res.Decision != auth.Reject {
			t.Fatalf("%+v: %v, want a reject", r, res.Decision)
		}
	}
	ev, err := e.store.AuditEvents(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range ev {
		if x.Action == "auth" {
			got = append(got, x.User+" "+x.Result)
			if strings.Contains(x.Detail, e.code(tok, 0)) {
				t.Fatal("audit detail holds the OTP")
			}
		}
	}
	want := []string{"kim accept:ok", "kim reject:bad_code", "ghost reject:unknown_user",
		" reject:no_user_name", "kim reject:not_pap"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("audit = %q, want %q", got, want)
	}
	if ev[2].Client != "vpn" || !strings.Contains(ev[2].Detail, "203.0.113.9") || ev[2].Serial != tok.Serial {
		t.Fatalf("accept row = %+v", ev[2])
	}
}

func TestResync(t *testing.T) {
	e := newEnv(t, auth.Config{})
	ctx := context.Background()
	e.user("leo")
	htok := e.enroll("leo", otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6}, "")
	ttok := e.enroll("leo", otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 60}, "")
	if _, err := e.svc.Resync(ctx, "admin", htok.Serial, e.code(htok, 50), e.code(htok, 52)); err == nil {
		t.Fatal("resync accepted non-consecutive codes")
	}
	if _, err := e.svc.Resync(ctx, "admin", htok.Serial, e.code(htok, 80), e.code(htok, 81)); err != nil {
		t.Fatal(err)
	}
	e.expect("leo", e.code(htok, 82), auth.Accept, auth.ReasonOK)
	// The TOTP token's clock runs 70 steps (70 minutes) fast.
	if _, err := e.svc.Resync(ctx, "admin", ttok.Serial, e.code(ttok, 70), e.code(ttok, 71)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	e.expect("leo", e.code(ttok, 70), auth.Reject, auth.ReasonReplay) // used by the resync
	e.expect("leo", e.code(ttok, 71), auth.Accept, auth.ReasonOK)
}

func TestEnrollRefusesBadParams(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("mia")
	tests := []struct {
		name string
		req  auth.EnrollRequest
	}{
		{"digits 7", auth.EnrollRequest{User: "mia", Params: otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 7, Period: 30}}},
		{"period 45", auth.EnrollRequest{User: "mia", Params: otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 45}}},
		{"short pin", auth.EnrollRequest{User: "mia", Params: totp6, PIN: "12"}},
		{"unknown user", auth.EnrollRequest{User: "zed", Params: totp6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.svc.Enroll(context.Background(), "admin", tc.req); err == nil {
				t.Fatal("enrolled")
			}
		})
	}
	if toks, _ := e.store.Tokens(context.Background(), store.TokenFilter{}); len(toks) != 0 {
		t.Fatalf("%d tokens created by refused enrollments", len(toks))
	}
}

// Admin changes made by another process (the CLI writes the database, not
// this Service) take effect at the next login although the Service caches
// tokens: a stale cache never accepts, and never refuses without a re-read.
func TestCacheNeverOutlivesAdminChanges(t *testing.T) {
	ctx := context.Background()
	hotp := otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6}
	tests := []struct {
		name   string
		change func(e *env, st store.Store, tok store.Token)
		// after the change, login with password(tok) must give want
		password func(e *env, tok store.Token) string
		want     auth.Decision
		reason   string
	}{
		{"user disabled", func(e *env, st store.Store, tok store.Token) {
			st.SetUserDisabled(ctx, "cli", "u", true)
		}, func(e *env, tok store.Token) string { return e.code(tok, 1) }, auth.Reject, auth.ReasonUserDisabled},
		{"token revoked", func(e *env, st store.Store, tok store.Token) {
			st.UpdateToken(ctx, "cli", tok.Serial, "token.revoke", func(t *store.Token) error { t.State = store.StateRevoked; return nil })
		}, func(e *env, tok store.Token) string { return e.code(tok, 1) }, auth.Reject, auth.ReasonNoToken},
		{"token deleted", func(e *env, st store.Store, tok store.Token) {
			st.DeleteToken(ctx, "cli", tok.Serial)
		}, func(e *env, tok store.Token) string { return e.code(tok, 1) }, auth.Reject, auth.ReasonNoToken},
		{"PIN set", func(e *env, st store.Store, tok store.Token) {
			h, _ := auth.HashPIN("2468")
			st.UpdateToken(ctx, "cli", tok.Serial, "token.pin-set", func(t *store.Token) error { t.PINHash = h; return nil })
		}, func(e *env, tok store.Token) string { return e.code(tok, 1) }, auth.Reject, auth.ReasonBadPIN},
		{"counter moved on", func(e *env, st store.Store, tok store.Token) {
			// A resync found the token 5 codes on: the cached counter (1) is stale.
			st.UpdateToken(ctx, "cli", tok.Serial, "token.resync", func(t *store.Token) error { t.Counter = 6; return nil })
		}, func(e *env, tok store.Token) string { return e.code(tok, 3) }, auth.Reject, auth.ReasonReplay},
		{"new token enrolled", func(e *env, st store.Store, tok store.Token) {}, nil, auth.Accept, auth.ReasonOK},
	}
	for _, by := range []string{"this process", "another process"} {
		for _, tc := range tests {
			t.Run(by+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, auth.Config{})
				st := e.store
				if by == "another process" {
					st = e.cli()
				}
				e.user("u")
				tok := e.enroll("u", hotp, "")
				e.expect("u", e.code(tok, 0), auth.Accept, auth.ReasonOK) // now cached
				password := tc.password
				if password == nil {
					// Enrolled behind the cache's back: the reject from cache is re-checked.
					other, err := auth.New(auth.Deps{Store: st, Now: e.clock.Now}).Enroll(ctx, "cli", auth.EnrollRequest{User: "u", Params: hotp})
					if err != nil {
						t.Fatal(err)
					}
					password = func(e *env, _ store.Token) string { return e.code(other.Token, 0) }
				}
				tc.change(e, st, tok)
				e.expect("u", password(e, tok), tc.want, tc.reason)
			})
		}
	}
}

// countingStore counts the reads of login state that reach the backend.
type countingStore struct {
	store.Store
	reads int
}

func (c *countingStore) LoginState(ctx context.Context, name string, fresh bool) (store.LoginState, error) {
	c.reads++
	return c.Store.LoginState(ctx, name, fresh)
}

// A refusal decided from the database is not decided again; one decided
// from the cache is (once).
func TestRefusalReadsTheStoreOnce(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("nia")
	tok := e.enroll("nia", otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6}, "")
	cs := &countingStore{Store: e.cli()}
	svc := auth.New(auth.Deps{Store: cache.New(cs, cache.Options{Users: 10}), Now: e.clock.Now})
	tests := []struct {
		name, user, password string
		reads                int
	}{
		{"unknown user", "ghost", "123456789012", 1},
		{"cache miss, wrong code", "nia", "000000", 1},
		{"cache miss, right code", "nia", e.code(tok, 0), 1},
		{"cache hit, right code", "nia", e.code(tok, 1), 0},
		{"cache hit, wrong code", "nia", "000000", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := cs.reads
			svc.Authenticate(context.Background(), auth.Request{User: tc.user, Password: tc.password})
			if got := cs.reads - before; got != tc.reads {
				t.Fatalf("%d reads, want %d", got, tc.reads)
			}
		})
	}
}

// TestFirstAcceptActivates: a hardware token assigned from the inventory is
// 'assigned' until its first accept makes it 'active' (the store writes the
// state only then, told so by the accept).
func TestFirstAcceptActivates(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("alice")
	ctx := context.Background()
	tok, err := e.store.CreateToken(ctx, "test", store.Token{Serial: "HW1", User: "alice", Type: "hotp", Origin: store.OriginHardware,
		State: store.StateAssigned, Algorithm: "SHA1", Digits: 6, Seed: []byte("12345678901234567890")})
	if err != nil {
		t.Fatal(err)
	}
	tok.Seed = []byte("12345678901234567890")
	state := func() store.TokenState {
		got, err := e.store.Token(ctx, tok.Serial)
		if err != nil {
			t.Fatal(err)
		}
		return got.State
	}
	if s := state(); s != store.StateAssigned {
		t.Fatalf("assigned token is %q", s)
	}
	for c := range int64(2) {
		e.expect("alice", e.code(tok, c), auth.Accept, auth.ReasonOK)
		if s := state(); s != store.StateActive {
			t.Fatalf("after accept %d the token is %q, want active", c+1, s)
		}
	}
}
