package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
)

// pushEnv is an auth service with push, and a user whose push token is
// activated (straight through the store, as the device API would).
func pushEnv(t *testing.T, cfg push.Config) (*env, *push.Manager, string) {
	t.Helper()
	e := newEnv(t, auth.Config{})
	mgr := push.NewManager(push.Deps{Store: e.store, Now: e.clock.Now, Config: cfg})
	t.Cleanup(mgr.Close)
	e.svc = auth.New(auth.Deps{Store: e.store, Now: e.clock.Now, Push: mgr})
	e.user("alice")
	ctx := context.Background()
	en, err := e.svc.EnrollPush(ctx, "test", auth.PushEnrollRequest{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(en.Code) != auth.DefaultActivationLength || !en.Expires.Equal(e.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("activation %q expires %v", en.Code, en.Expires)
	}
	if _, err := e.store.Activate(ctx, "device", en.Token.Serial, push.HashCode(en.Code), e.clock.Now(), 5,
		[]byte("01234567890123456789"), store.Device{PublicKey: []byte{4, 1}, Notifications: true}); err != nil {
		t.Fatal(err)
	}
	return e, mgr, en.Token.Serial
}

func approveWhenPending(t *testing.T, mgr *push.Manager, serial, decision string, number func(*push.Request) int) {
	go func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if rs := mgr.PendingFor(serial); len(rs) > 0 {
				n := 0
				if number != nil {
					n = number(rs[0])
				}
				if _, err := mgr.Answer(context.Background(), serial, rs[0].ID, decision, n); err != nil {
					t.Errorf("answer: %v", err)
				}
				return
			}
		}
		t.Errorf("no pending push")
	}()
}

func TestPushLogin(t *testing.T) {
	tests := []struct {
		name     string
		decision string
		before   func(*env, string) // between trigger and answer
		want     auth.Decision
		reason   string
	}{
		{"approved", push.DecisionApprove, nil, auth.Accept, auth.ReasonPushApproved},
		{"denied", push.DecisionDeny, nil, auth.Reject, auth.ReasonPushDenied},
		{"fraud", push.DecisionFraud, nil, auth.Reject, auth.ReasonPushFraud},
		{"token revoked while waiting", push.DecisionApprove, func(e *env, serial string) {
			if _, err := e.svc.Revoke(context.Background(), "test", serial); err != nil {
				e.t.Fatal(err)
			}
		}, auth.Reject, auth.ReasonPushTokenChanged},
		{"user disabled while waiting", push.DecisionApprove, func(e *env, _ string) {
			if err := e.store.SetUserDisabled(context.Background(), "test", "alice", true); err != nil {
				e.t.Fatal(err)
			}
		}, auth.Reject, auth.ReasonUserDisabled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, mgr, serial := pushEnv(t, push.Config{})
			res := e.login("alice", "")
			if res.Wait == nil {
				t.Fatalf("push trigger not held: %+v", res)
			}
			if tc.before != nil {
				tc.before(e, serial)
			}
			approveWhenPending(t, mgr, serial, tc.decision, nil)
			got := res.Wait(context.Background())
			if got.Decision != tc.want || got.Reason != tc.reason {
				t.Fatalf("got %v/%s, want %v/%s", got.Decision, got.Reason, tc.want, tc.reason)
			}
			ev, _ := e.store.AuditEvents(context.Background(), store.AuditFilter{User: "alice", Action: "auth"})
			if len(ev) == 0 || ev[len(ev)-1].Result != tc.want.String()+":"+tc.reason {
				t.Fatalf("audit %+v", ev)
			}
		})
	}
}

func TestPushLoginRefusals(t *testing.T) {
	e, mgr, serial := pushEnv(t, push.Config{TriggerBurst: 2, TriggerEvery: time.Hour})
	first := e.svc.Authenticate(context.Background(), auth.Request{User: "alice", Client: "vpn", CallingStationID: "a"})
	if first.Wait == nil {
		t.Fatal("first trigger not held")
	}
	if r := e.svc.Authenticate(context.Background(), auth.Request{User: "alice", Client: "vpn", CallingStationID: "b"}); r.Reason != auth.ReasonPushPending {
		t.Fatalf("second login elsewhere: %+v", r)
	}
	mgr.Cancel(mgr.PendingFor(serial)[0])
	if r := first.Wait(context.Background()); r.Decision != auth.Reject || r.Reason != auth.ReasonPushTimeout {
		t.Fatalf("canceled push: %v/%s", r.Decision, r.Reason)
	}
	second := e.svc.Authenticate(context.Background(), auth.Request{User: "alice", Client: "vpn", Password: "p"})
	if second.Wait == nil {
		t.Fatal("one-character password not a push trigger")
	}
	mgr.Cancel(mgr.PendingFor(serial)[0])
	if r := e.login("alice", ""); r.Reason != auth.ReasonPushRateLimited {
		t.Fatalf("third trigger: %+v", r)
	}
	e.user("bob")
	if r := e.login("bob", ""); r.Reason != auth.ReasonNoPushDevice || r.Wait != nil {
		t.Fatalf("user without push device: %+v", r)
	}
	if r := e.login("nobody", ""); r.Reason != auth.ReasonUnknownUser {
		t.Fatalf("unknown user: %+v", r)
	}
	if err := e.store.SetPushLock(context.Background(), "test", "alice", e.clock.Now().Add(time.Hour), "fraud"); err != nil {
		t.Fatal(err)
	}
	if r := e.login("alice", ""); r.Reason != auth.ReasonPushLocked {
		t.Fatalf("push locked: %+v", r)
	}
}

func TestPushNumberMatching(t *testing.T) {
	tests := []struct {
		name   string
		client string // of the follow-up
		pick   int    // added to the right number
		want   auth.Decision
		reason string
	}{
		{"right pick", "vpn", 0, auth.Accept, auth.ReasonPushApproved},
		{"wrong pick", "vpn", 1, auth.Reject, auth.ReasonPushWrongNumber},
		{"follow-up from another client", "other", 0, auth.Reject, auth.ReasonUnknownState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, mgr, serial := pushEnv(t, push.Config{NumberMatching: true})
			ch := e.svc.Authenticate(context.Background(), auth.Request{User: "alice", Client: "vpn"})
			if ch.Decision != auth.Challenge || len(ch.State) == 0 || ch.Wait != nil {
				t.Fatalf("challenge %+v", ch)
			}
			rs := mgr.PendingFor(serial)
			if len(rs) != 1 || !strings.Contains(ch.ReplyMessage, fmt.Sprintf("pick %d", rs[0].Number)) || len(rs[0].Choices) != 3 {
				t.Fatalf("prompt %q, request %+v", ch.ReplyMessage, rs)
			}
			approveWhenPending(t, mgr, serial, push.DecisionApprove, func(r *push.Request) int { return r.Number + tc.pick })
			got := e.svc.Authenticate(context.Background(), auth.Request{User: "alice", Client: tc.client, State: ch.State})
			if got.Wait != nil {
				got = got.Wait(context.Background())
			}
			if got.Decision != tc.want || got.Reason != tc.reason {
				t.Fatalf("follow-up: %v/%s, want %v/%s", got.Decision, got.Reason, tc.want, tc.reason)
			}
			// A State continues one login once.
			if again := e.svc.Authenticate(context.Background(), auth.Request{User: "alice", Client: "vpn", State: ch.State}); again.Reason != auth.ReasonUnknownState {
				t.Fatalf("State reused: %+v", again)
			}
		})
	}
}

// A typed OTP in the follow-up is checked instead, and ends the push.
func TestPushFollowUpWithOTP(t *testing.T) {
	e, mgr, serial := pushEnv(t, push.Config{NumberMatching: true})
	ch := e.svc.Authenticate(context.Background(), auth.Request{User: "alice", Client: "vpn"})
	tok, err := e.store.Token(context.Background(), serial)
	if err != nil {
		t.Fatal(err)
	}
	r := mgr.PendingFor(serial)[0]
	got := e.svc.Authenticate(context.Background(), auth.Request{User: "alice", Client: "vpn", State: ch.State, Password: e.code(tokTOTP(tok), 0)})
	if got.Decision != auth.Accept || got.Reason != auth.ReasonOK {
		t.Fatalf("typed OTP: %+v", got)
	}
	if r.Outcome() != push.Canceled {
		t.Fatalf("push outcome %s, want canceled", r.Outcome())
	}
}

// tokTOTP lets the test's code helper treat a push token as the TOTP token it is.
func tokTOTP(t store.Token) store.Token {
	t.Type = "totp"
	return t
}

// One login, one audit row: the NAS's retries that join a pending push
// (new requests for the same login) answer with the outcome the first
// records, and the row counts them.
func TestJoinedPushRequestsShareOneAuditRow(t *testing.T) {
	tests := []struct {
		name     string
		decision string
		want     string
	}{
		{"approved", push.DecisionApprove, "accept:push_approved"},
		{"denied", push.DecisionDeny, "reject:push_denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, mgr, serial := pushEnv(t, push.Config{})
			req := auth.Request{User: "alice", Client: "vpn", CallingStationID: "198.51.100.7", Actor: "radius:vpn"}
			first := e.svc.Authenticate(context.Background(), req)
			var waits []func(context.Context) auth.Result
			waits = append(waits, first.Wait)
			for range 2 {
				r := e.svc.Authenticate(context.Background(), req)
				if r.Wait == nil {
					t.Fatalf("a retry did not join: %s %s", r.Decision, r.Reason)
				}
				waits = append(waits, r.Wait)
			}
			approveWhenPending(t, mgr, serial, tc.decision, nil)
			results := make(chan auth.Result, len(waits))
			for _, w := range waits {
				go func() { results <- w(context.Background()) }()
			}
			for range waits {
				if r := <-results; r.Decision.String()+":"+r.Reason != tc.want {
					t.Fatalf("a request ended %s:%s, want %s", r.Decision, r.Reason, tc.want)
				}
			}
			ev, err := e.store.AuditEvents(context.Background(), store.AuditFilter{User: "alice", Action: "auth"})
			if err != nil || len(ev) != 1 || ev[0].Result != tc.want || !strings.Contains(ev[0].Detail, "requests=3") {
				t.Fatalf("auth audit rows %+v (%v), want one %s counting 3 requests", ev, err, tc.want)
			}
		})
	}
}
