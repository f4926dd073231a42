package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/push"
)

// A login sent again as a new request (OpenVPN's plugin retrying, a
// double submit) within the window after its Accept is accepted again; a
// different client, station or password, or a later one, is a replay.
func TestResubmittedLogin(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("rob")
	tok := e.enroll("rob", totp6, "")
	code := e.code(tok, 0)
	base := auth.Request{User: "rob", Password: code, Client: "vpn", CallingStationID: "203.0.113.5", RequestKey: []byte("first-request-00")}
	if r := e.svc.Authenticate(context.Background(), base); r.Decision != auth.Accept || r.Reason != auth.ReasonOK {
		t.Fatalf("first: %s/%s", r.Decision, r.Reason)
	}
	tests := []struct {
		name   string
		change func(*auth.Request)
		after  time.Duration
		want   string
	}{
		{"same login a second later", func(*auth.Request) {}, time.Second, auth.ReasonResubmitted},
		{"user name in other case", func(r *auth.Request) { r.User = "ROB" }, 0, auth.ReasonResubmitted},
		{"another calling station", func(r *auth.Request) { r.CallingStationID = "198.51.100.1" }, 0, auth.ReasonReplay},
		{"another client", func(r *auth.Request) { r.Client = "vpn2" }, 0, auth.ReasonReplay},
		{"no station at all", func(r *auth.Request) { r.CallingStationID = "" }, 0, auth.ReasonReplay},
		{"an administrator's check", func(r *auth.Request) { r.Diagnostic = true }, 0, auth.ReasonReplay},
		{"after the window", func(*auth.Request) {}, 10 * time.Second, auth.ReasonReplay},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Add(tc.after)
			req := base
			req.RequestKey = []byte("another-request0")
			tc.change(&req)
			r := e.svc.Authenticate(context.Background(), req)
			if r.Reason != tc.want || (r.Decision == auth.Accept) != (tc.want == auth.ReasonResubmitted) {
				t.Fatalf("%s/%s, want %s", r.Decision, r.Reason, tc.want)
			}
			if tc.want == auth.ReasonResubmitted && r.Serial != tok.Serial {
				t.Fatalf("resubmission accepted for token %q", r.Serial)
			}
		})
	}
	if n := e.auditResults("rob")["accept:resubmitted"]; n != 2 {
		t.Fatalf("%d accept:resubmitted rows, want 2", n)
	}
}

// NAS-Port tells the station when there is no Calling-Station-Id; a
// disabled user's resubmission is decided again, and refused.
func TestResubmissionByNASPortAndDisabledUser(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("pat")
	tok := e.enroll("pat", totp6, "")
	req := auth.Request{User: "pat", Password: e.code(tok, 0), Client: "vpn", NASPort: "7"}
	if r := e.svc.Authenticate(context.Background(), req); r.Decision != auth.Accept {
		t.Fatalf("first: %s/%s", r.Decision, r.Reason)
	}
	other := req
	other.NASPort = "8"
	if r := e.svc.Authenticate(context.Background(), other); r.Reason != auth.ReasonReplay {
		t.Fatalf("another port: %s/%s", r.Decision, r.Reason)
	}
	if r := e.svc.Authenticate(context.Background(), req); r.Reason != auth.ReasonResubmitted {
		t.Fatalf("same port: %s/%s", r.Decision, r.Reason)
	}
	if err := e.store.SetUserDisabled(context.Background(), "test", "pat", true); err != nil {
		t.Fatal(err)
	}
	if r := e.svc.Authenticate(context.Background(), req); r.Decision != auth.Reject || r.Reason != auth.ReasonUserDisabled {
		t.Fatalf("disabled: %s/%s", r.Decision, r.Reason)
	}
}

// A window of -1 turns resubmissions off.
func TestResubmissionOff(t *testing.T) {
	e := newEnv(t, auth.Config{ResubmitWindow: -1})
	e.user("ned")
	tok := e.enroll("ned", totp6, "")
	req := auth.Request{User: "ned", Password: e.code(tok, 0), Client: "vpn", CallingStationID: "x"}
	e.svc.Authenticate(context.Background(), req)
	if r := e.svc.Authenticate(context.Background(), req); r.Reason != auth.ReasonReplay {
		t.Fatalf("%s/%s, want a replay", r.Decision, r.Reason)
	}
}

// A push the phone has not answered when the NAS is about to give up: a
// NAS that shows challenges gets one and its follow-up completes the
// login once the phone approves.
func TestPushNASDeadlineChallenge(t *testing.T) {
	e, mgr, serial := pushEnv(t, push.Config{})
	req := auth.Request{User: "alice", Client: "fw", CallingStationID: "203.0.113.8", AnswerBy: time.Now().Add(50 * time.Millisecond)}
	res := e.svc.Authenticate(context.Background(), req)
	if res.Wait == nil {
		t.Fatalf("push not held: %+v", res)
	}
	got := res.Wait(context.Background())
	if got.Decision != auth.Challenge || got.Reason != auth.ReasonPushNASDeadline || len(got.State) == 0 ||
		!strings.Contains(got.ReplyMessage, "press Enter") {
		t.Fatalf("at the NAS's deadline: %+v", got)
	}
	if rs := mgr.PendingFor(serial); len(rs) != 1 {
		t.Fatalf("the push did not stay pending: %d", len(rs))
	}
	approveWhenPending(t, mgr, serial, push.DecisionApprove, nil)
	follow := auth.Request{User: "alice", Client: "fw", CallingStationID: "203.0.113.8", State: got.State, AnswerBy: time.Now().Add(time.Minute)}
	res = e.svc.Authenticate(context.Background(), follow)
	if res.Wait != nil {
		res = res.Wait(context.Background())
	}
	if res.Decision != auth.Accept || res.Reason != auth.ReasonPushApproved {
		t.Fatalf("follow-up: %s/%s", res.Decision, res.Reason)
	}
	if rows := e.auditResults("alice"); rows["challenge:push_nas_deadline"] != 1 || rows["accept:push_approved"] != 1 {
		t.Fatalf("audit %v", rows)
	}
}

// A NAS that cannot show a challenge gets a Reject that says the phone did
// not answer in time; the approval that follows is recorded as late, and
// the same login sent again is accepted.
func TestPushNASDeadlineNoChallenges(t *testing.T) {
	e, mgr, serial := pushEnv(t, push.Config{})
	req := auth.Request{User: "alice", Client: "ovpn", CallingStationID: "203.0.113.8", NoChallenges: true,
		AnswerBy: time.Now().Add(50 * time.Millisecond)}
	res := e.svc.Authenticate(context.Background(), req)
	if res.Wait == nil {
		t.Fatalf("push not held: %+v", res)
	}
	got := res.Wait(context.Background())
	if got.Decision != auth.Reject || got.Reason != auth.ReasonPushNASDeadline || !strings.Contains(got.ReplyMessage, "did not answer in time") {
		t.Fatalf("at the NAS's deadline: %+v", got)
	}
	approveWhenPending(t, mgr, serial, push.DecisionApprove, nil)
	waitUntil(t, func() bool { return e.auditResults("alice")["accept:push_approved_late"] == 1 })
	again := req
	again.AnswerBy = time.Now().Add(time.Minute)
	res = e.svc.Authenticate(context.Background(), again)
	if res.Decision != auth.Accept || res.Reason != auth.ReasonResubmitted {
		t.Fatalf("the login sent again: %s/%s", res.Decision, res.Reason)
	}
}

// waitUntil polls cond for up to 5 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5 s")
}

// Token reset at login: a TOTP token whose clock is 40 steps off gets a
// challenge; the next code accepts and resynchronises it, and the
// following login needs no reset.
func TestTokenResetAtLogin(t *testing.T) {
	tests := []struct {
		name   string
		params otp.Params
		off    int64 // the token's step or counter the user's code is at
	}{
		{"TOTP 40 steps ahead", totp6, 40},
		{"TOTP 40 steps behind", totp6, -40},
		{"HOTP 50 presses ahead", otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6}, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, auth.Config{})
			e.user("tess")
			tok := e.enroll("tess", tc.params, "")
			req := auth.Request{User: "tess", Password: e.code(tok, tc.off), Client: "fw"}
			r := e.svc.Authenticate(context.Background(), req)
			if r.Decision != auth.Challenge || r.Reason != auth.ReasonResetNextCode || len(r.State) == 0 {
				t.Fatalf("first code: %s/%s", r.Decision, r.Reason)
			}
			if got, _ := e.store.Token(context.Background(), tok.Serial); got.FailCount != 1 {
				t.Fatalf("the first code counted %d failures, want 1", got.FailCount)
			}
			e.clock.Add(30 * time.Second) // the user waits for the next code
			next := auth.Request{User: "tess", Password: e.code(tok, tc.off+1), Client: "fw", State: r.State}
			if tc.params.Type == otp.TOTP {
				next.Password = e.code(tok, tc.off) // the token's clock moved on as ours did
			}
			if r := e.svc.Authenticate(context.Background(), next); r.Decision != auth.Accept || r.Reason != auth.ReasonTokenReset {
				t.Fatalf("next code: %s/%s", r.Decision, r.Reason)
			}
			// The State is used up.
			if r := e.svc.Authenticate(context.Background(), next); r.Reason != auth.ReasonUnknownState {
				t.Fatalf("the State again: %s/%s", r.Decision, r.Reason)
			}
			// The token is in step now: its following code needs no reset.
			e.clock.Add(30 * time.Second)
			follow := e.code(tok, tc.off+2)
			if tc.params.Type == otp.TOTP {
				follow = e.code(tok, tc.off)
			}
			e.expect("tess", follow, auth.Accept, auth.ReasonOK)
			if got, _ := e.store.Token(context.Background(), tok.Serial); got.FailCount != 0 {
				t.Fatalf("fail count %d after the reset, want 0", got.FailCount)
			}
		})
	}
}

// A reset's answer that is not the next code fails, counted; a NAS that
// cannot show challenges gets no reset; the State is bound to its client.
func TestTokenResetRefusals(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.user("una")
	tok := e.enroll("una", totp6, "")
	start := func() []byte {
		r := e.svc.Authenticate(context.Background(), auth.Request{User: "una", Password: e.code(tok, 40), Client: "fw"})
		if r.Decision != auth.Challenge {
			t.Fatalf("first code: %s/%s", r.Decision, r.Reason)
		}
		return r.State
	}
	state := start()
	if r := e.svc.Authenticate(context.Background(), auth.Request{User: "una", Password: e.code(tok, 45), Client: "fw", State: state}); r.Decision != auth.Reject || r.Reason != auth.ReasonResetFailed {
		t.Fatalf("a later code: %s/%s", r.Decision, r.Reason)
	}
	state = start()
	if r := e.svc.Authenticate(context.Background(), auth.Request{User: "una", Password: e.code(tok, 41), Client: "other", State: state}); r.Reason != auth.ReasonUnknownState {
		t.Fatalf("another client: %s/%s", r.Decision, r.Reason)
	}
	if got, _ := e.store.Token(context.Background(), tok.Serial); got.FailCount != 3 {
		t.Fatalf("fail count %d, want 3 (two first codes, one wrong next code)", got.FailCount)
	}
	if r := e.svc.Authenticate(context.Background(), auth.Request{User: "una", Password: e.code(tok, 40), Client: "ovpn", NoChallenges: true}); r.Decision != auth.Reject {
		t.Fatalf("a NAS without challenges: %s/%s", r.Decision, r.Reason)
	}
}
