package auth_test

import (
	"context"
	"testing"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
)

// TestTryAuthenticate: a login is decided at once only when it is an
// accept from the cache, journaled; anything else is left to Authenticate
// with nothing written.
func TestTryAuthenticate(t *testing.T) {
	hotp := otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6}
	ctx := context.Background()
	tests := []struct {
		name string
		// setup runs after one login from the cache's user "u" (token
		// tok, counter now 1); password is then tried.
		setup    func(e *env, tok store.Token) (user, password string)
		decided  bool
		accepted bool // the code is used up afterwards
	}{
		{"accept from the cache", func(e *env, tok store.Token) (string, string) { return "u", e.code(tok, 1) }, true, true},
		{"replayed code", func(e *env, tok store.Token) (string, string) { return "u", e.code(tok, 0) }, false, false},
		{"wrong code", func(e *env, tok store.Token) (string, string) { return "u", "000000" }, false, false},
		{"push trigger", func(e *env, tok store.Token) (string, string) { return "u", "" }, false, false},
		{"not cached", func(e *env, tok store.Token) (string, string) {
			e.user("v")
			other := e.enroll("v", hotp, "")
			return "v", e.code(other, 0)
		}, false, false},
		{"token with a PIN", func(e *env, tok store.Token) (string, string) {
			h, _ := auth.HashPIN("1357")
			e.cli().UpdateToken(ctx, "cli", tok.Serial, "token.pin-set", func(t *store.Token) error { t.PINHash = h; return nil })
			e.expect("u", "1357"+e.code(tok, 1), auth.Accept, auth.ReasonOK) // cached again, with its PIN
			return "u", "1357" + e.code(tok, 2)
		}, false, false},
		{"changed by the CLI since cached", func(e *env, tok store.Token) (string, string) {
			if _, err := e.cli().CreateUser(ctx, "cli", store.User{Name: "w"}); err != nil {
				t.Fatal(err)
			}
			return "u", e.code(tok, 1)
		}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, auth.Config{})
			e.user("u")
			tok := e.enroll("u", hotp, "")
			e.expect("u", e.code(tok, 0), auth.Accept, auth.ReasonOK) // cached now
			user, password := tc.setup(e, tok)
			before := len(e.audit(user))
			res, ok := e.svc.TryAuthenticate(auth.Request{User: user, Password: password, Actor: "test"})
			want := tc.decided && journaled // without a journal nothing is decided at once
			if ok != want {
				t.Fatalf("decided %v (%+v), want %v", ok, res, want)
			}
			if !ok {
				if n := len(e.audit(user)); n != before {
					t.Fatalf("%d audit rows after an undecided try, want %d", n, before)
				}
				return
			}
			if res.Decision != auth.Accept || res.Reason != auth.ReasonOK || res.User.Name != user {
				t.Fatalf("got %+v", res)
			}
			if n := len(e.audit(user)); n != before+1 {
				t.Fatalf("%d audit rows, want %d", n, before+1)
			}
			if tc.accepted {
				e.expect(user, password, auth.Reject, auth.ReasonReplay)
			}
		})
	}
}

// audit is user's login audit rows.
func (e *env) audit(user string) []store.AuditEvent {
	e.t.Helper()
	ev, err := e.store.AuditEvents(context.Background(), store.AuditFilter{User: user, Action: "auth"})
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}
