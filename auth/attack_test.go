package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
)

var hotp6 = otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6}

// newBudgetEnv is newEnv with a Service of its own on hashes.
func newBudgetEnv(t *testing.T, cfg auth.Config, hashes *auth.HashBudget) (*env, *auth.Service) {
	e := newEnv(t, cfg)
	return e, auth.New(auth.Deps{Store: e.store, Now: e.clock.Now, Config: cfg, Hashes: hashes})
}

// Every login with a password longer than the shortest code costs exactly
// one PIN hash, and every shorter one none, whoever the user is: timing
// tells nothing about who exists, is disabled, or has a PIN.
func TestOneHashPerPasswordShape(t *testing.T) {
	hashes := auth.NewHashBudget(4)
	e, svc := newBudgetEnv(t, auth.Config{FailureBurst: -1, LockAfter: 1000}, hashes)
	e.user("plain")
	plain := e.enroll("plain", hotp6, "")
	e.user("pinned")
	pinned := e.enroll("pinned", hotp6, "2468")
	e.user("off")
	e.enroll("off", hotp6, "")
	if err := e.store.SetUserDisabled(context.Background(), "t", "off", true); err != nil {
		t.Fatal(err)
	}
	e.user("tokenless")
	tests := []struct {
		name, user, password string
		reason               string
	}{
		{"unknown, code", "ghost", "123456", auth.ReasonUnknownUser},
		{"unknown, long", "ghost", "1234567890", auth.ReasonUnknownUser},
		{"no PIN, code", "plain", "000000", auth.ReasonBadCode},
		{"no PIN, long", "plain", "1234" + e.code(plain, 0), auth.ReasonWrongLength},
		{"PIN, code alone", "pinned", e.code(pinned, 0), auth.ReasonBadPIN},
		{"PIN, wrong PIN", "pinned", "1111" + e.code(pinned, 0), auth.ReasonBadPIN},
		{"PIN, right PIN wrong code", "pinned", "2468000000", auth.ReasonBadCode},
		{"disabled, code", "off", "123456", auth.ReasonUserDisabled},
		{"disabled, long", "off", "1234567890", auth.ReasonUserDisabled},
		{"no token, long", "tokenless", "1234567890", auth.ReasonNoToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := hashes.Hashes()
			r := svc.Authenticate(context.Background(), auth.Request{User: tc.user, Password: tc.password, Actor: "test"})
			if r.Reason != tc.reason {
				t.Fatalf("reason %s, want %s", r.Reason, tc.reason)
			}
			want := uint64(0)
			if len(tc.password) > 6 {
				want = 1
			}
			if got := hashes.Hashes() - before; got != want {
				t.Fatalf("%d PIN hashes for a %d-character password, want %d", got, len(tc.password), want)
			}
		})
	}
}

// With every hash slot taken, a login that needs a hash is refused at once
// (overloaded), costs no hash, and counts against nobody; once a slot is
// free the same login goes through.
func TestHashBudgetRefusesCheaply(t *testing.T) {
	hashes := auth.NewHashBudget(1)
	e, svc := newBudgetEnv(t, auth.Config{FailureBurst: 2, LockAfter: 3, HashWait: time.Millisecond}, hashes)
	e.user("pinned")
	tok := e.enroll("pinned", hotp6, "2468")
	if !hashes.TryAcquire() {
		t.Fatal("the budget has no free slot")
	}
	for _, user := range []string{"pinned", "ghost"} {
		for range 5 {
			r := svc.Authenticate(context.Background(), auth.Request{User: user, Password: "2468" + e.code(tok, 0), Actor: "test"})
			if r.Decision != auth.Reject || r.Reason != auth.ReasonOverloaded {
				t.Fatalf("%s with the budget full: %s/%s, want reject/overloaded", user, r.Decision, r.Reason)
			}
		}
	}
	if hashes.Hashes() != 0 || hashes.Busy() != 10 {
		t.Fatalf("hashes %d busy %d, want 0 and 10", hashes.Hashes(), hashes.Busy())
	}
	hashes.Release()
	r := svc.Authenticate(context.Background(), auth.Request{User: "pinned", Password: "2468" + e.code(tok, 0), Actor: "test"})
	if r.Decision != auth.Accept {
		t.Fatalf("after the overload (more refusals than the rate limit and the lock allow): %s/%s", r.Decision, r.Reason)
	}
	got, err := e.store.Token(context.Background(), tok.Serial)
	if err != nil || got.FailCount != 0 {
		t.Fatalf("fail count %d (%v), want 0", got.FailCount, err)
	}
}

// A replayed code, or an old one well before the look-ahead, is refused
// without counting against the user's rate limit or the token's lock: the
// victim does not pay for an attacker's replays.
func TestReplaysCostTheVictimNothing(t *testing.T) {
	e := newEnv(t, auth.Config{FailureBurst: 3, FailureEvery: time.Hour, LockAfter: 5})
	e.user("vic")
	hotp := e.enroll("vic", hotp6, "")
	for c := range int64(40) {
		e.expect("vic", e.code(hotp, c), auth.Accept, auth.ReasonOK)
	}
	for _, c := range []int64{39, 39, 39, 38, 30, 20, 10, 5, 1, 0} {
		e.expect("vic", e.code(hotp, c), auth.Reject, auth.ReasonReplay)
	}
	e.expect("vic", e.code(hotp, 40), auth.Accept, auth.ReasonOK)

	e.user("tim")
	totp := e.enroll("tim", totp6, "")
	old := e.code(totp, 0)
	e.expect("tim", old, auth.Accept, auth.ReasonOK)
	for range 10 {
		e.clock.Add(30 * time.Second)
		e.expect("tim", e.code(totp, 0), auth.Accept, auth.ReasonOK)
	}
	// Ten steps later the first code is far outside the window, and still
	// known for a used one.
	for range 6 {
		e.expect("tim", old, auth.Reject, auth.ReasonReplay)
	}
	e.clock.Add(30 * time.Second)
	e.expect("tim", e.code(totp, 0), auth.Accept, auth.ReasonOK)
	// Real guesses still count, and still lock.
	for range 3 {
		e.expect("tim", "000000", auth.Reject, auth.ReasonBadCode)
	}
	e.expect("tim", "000000", auth.Reject, auth.ReasonRateLimited)
	if got, _ := e.store.Token(context.Background(), totp.Serial); got.FailCount != 3 {
		t.Fatalf("fail count %d after 3 wrong codes, want 3", got.FailCount)
	}
}

// A diagnostic check (an administrator's `token check`) is decided and
// audited like a login, but its refusals fail nothing and it is not rate
// limited; its accept still uses the code up.
func TestDiagnosticChecksFailNothing(t *testing.T) {
	e := newEnv(t, auth.Config{FailureBurst: 2, FailureEvery: time.Hour, LockAfter: 3})
	e.user("gus")
	tok := e.enroll("gus", hotp6, "")
	check := func(pw string) auth.Result {
		return e.svc.Authenticate(context.Background(), auth.Request{User: "gus", Password: pw, Actor: "cli:admin", Diagnostic: true})
	}
	for i := range 6 {
		if r := check("000000"); r.Reason != auth.ReasonBadCode {
			t.Fatalf("check %d: %s, want bad_code (no lock, no rate limit)", i, r.Reason)
		}
	}
	if got, _ := e.store.Token(context.Background(), tok.Serial); got.FailCount != 0 || got.LockedUntil != 0 {
		t.Fatalf("after 6 diagnostic refusals: fail count %d, locked until %d", got.FailCount, got.LockedUntil)
	}
	e.expect("gus", e.code(tok, 0), auth.Accept, auth.ReasonOK) // the user is not limited either
	if r := check(e.code(tok, 1)); r.Decision != auth.Accept {
		t.Fatalf("a diagnostic check of a fresh code: %s", r.Reason)
	}
	e.expect("gus", e.code(tok, 1), auth.Reject, auth.ReasonReplay) // used up by the check
}

// A NAS that sends NAS-IP-Address and nothing else of the kind still gets
// it into the audit row.
func TestAuditKeepsNASIPAlone(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.svc.Authenticate(context.Background(), auth.Request{User: "ghost", Password: "123456", Actor: "radius:nas", NASIPAddress: "192.0.2.10"})
	ev, err := e.store.AuditEvents(context.Background(), store.AuditFilter{Action: "auth"})
	if err != nil || len(ev) != 1 || !strings.Contains(ev[0].Detail, `nas-ip="192.0.2.10"`) {
		t.Fatalf("audit %+v (%v), want the NAS IP in the detail", ev, err)
	}
}
