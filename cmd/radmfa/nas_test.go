package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/push"
)

// A push answers within the NAS's deadline (--nas-timeout x
// (--nas-retries+1) less a margin): a NAS that shows challenges gets one
// and its follow-up completes the login once the phone approves; one that
// cannot (openvpn) gets a Reject that says the phone did not answer.
func TestPushWithinTheNASDeadline(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "fw", "--cidr", "127.0.0.1/32", "--secret", "testing123", "--nas-timeout", "2s", "--nas-retries", "2")
	e.ok("client", "add", "ovpn", "--cidr", "127.0.0.2/32", "--secret", "testing123", "--nas-type", "openvpn",
		"--nas-timeout", "2s", "--nas-retries", "2")
	srv := startPushServer(t, e, "--push-timeout", "60s")

	t.Run("challenge, then the follow-up completes the login", func(t *testing.T) {
		e.ok("user", "add", "dora")
		c := phone(t, e, "dora")
		n := newNAS(t, "127.0.0.1", srv.addr, "testing123")
		sent := time.Now()
		p := n.exchange("dora", "")
		took := time.Since(sent)
		if p.Code != radius.CodeAccessChallenge || len(rfc2865.State_Get(p)) == 0 ||
			!strings.Contains(rfc2865.ReplyMessage_GetString(p), "press Enter") {
			t.Fatalf("at the NAS's deadline: %v %q", p.Code, rfc2865.ReplyMessage_GetString(p))
		}
		if took >= 6*time.Second {
			t.Fatalf("answered after %v, when the NAS has given up (6 s)", took)
		}
		pending := nextPending(t, c)
		if _, err := c.Answer(context.Background(), pending.ID, push.DecisionApprove, 0); err != nil {
			t.Fatal(err)
		}
		if p := n.exchange("dora", "", withState(rfc2865.State_Get(p))); p.Code != radius.CodeAccessAccept {
			t.Fatalf("follow-up after the approval: %v", p.Code)
		}
		if rows := strings.Join(e.authRows("dora"), ","); rows != "challenge:push_nas_deadline,accept:push_approved" {
			t.Fatalf("audit: %s", rows)
		}
	})

	t.Run("a NAS without challenges: Reject, then the retry after the approval is accepted", func(t *testing.T) {
		e.ok("user", "add", "otto")
		c := phone(t, e, "otto")
		n := newNAS(t, "127.0.0.2", srv.addr, "testing123")
		sent := time.Now()
		p := n.exchange("otto", "")
		took := time.Since(sent)
		if p.Code != radius.CodeAccessReject || !strings.Contains(rfc2865.ReplyMessage_GetString(p), "did not answer in time") {
			t.Fatalf("at the NAS's deadline: %v %q", p.Code, rfc2865.ReplyMessage_GetString(p))
		}
		if took >= 6*time.Second {
			t.Fatalf("answered after %v, when the NAS has given up (6 s)", took)
		}
		pending := nextPending(t, c)
		if _, err := c.Answer(context.Background(), pending.ID, push.DecisionApprove, 0); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the late approval", func() bool { return e.auditCount("otto", "auth", "accept:push_approved_late") == 1 })
		// OpenVPN's client sends the login again: a new request.
		if p := n.exchange("otto", ""); p.Code != radius.CodeAccessAccept {
			t.Fatalf("the login sent again: %v", p.Code)
		}
		if rows := strings.Join(e.authRows("otto"), ","); rows != "reject:push_nas_deadline,accept:push_approved_late,accept:resubmitted" {
			t.Fatalf("audit: %s", rows)
		}
	})
}

// The same code in a new Access-Request from the same client and calling
// station a second after its Accept is accepted; from another calling
// station it is a replay.
func TestResubmittedCode(t *testing.T) {
	onEachBackend(t, func(t *testing.T, e *cliEnv) {
		e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
		e.ok("user", "add", "rita")
		_, seed := e.enrollSecret("rita", "--type", "hotp")
		srv := startServer(t, e)
		n := newNAS(t, "127.0.0.1", srv.addr, "testing123")
		code := hotpAt(seed, 0)
		if p := n.exchange("rita", code, fromStation("203.0.113.50")); p.Code != radius.CodeAccessAccept {
			t.Fatalf("first: %v", p.Code)
		}
		time.Sleep(time.Second) // as OpenVPN's plugin resends
		if p := n.exchange("rita", code, fromStation("203.0.113.50")); p.Code != radius.CodeAccessAccept {
			t.Fatalf("resubmitted: %v", p.Code)
		}
		if p := n.exchange("rita", code, fromStation("198.51.100.66")); p.Code != radius.CodeAccessReject {
			t.Fatalf("from another station: %v", p.Code)
		}
		if rows := strings.Join(e.authRows("rita"), ","); rows != "accept:ok,accept:resubmitted,reject:replayed_code" {
			t.Fatalf("audit: %s", rows)
		}
	})
}

// client set changes only what it is given, and the server picks it up.
func TestClientSet(t *testing.T) {
	onEachBackend(t, func(t *testing.T, e *cliEnv) {
		out := e.ok("client", "add", "fw", "--cidr", "10.0.0.1", "--secret", "testing123-long-secret", "--nas-type", "fortigate")
		if !strings.Contains(out, "the NAS waits 5s (5s x 1 tries, its NAS type's default)") {
			t.Fatalf("client add:\n%s", out)
		}
		out = e.ok("client", "set", "fw", "--nas-timeout", "3s", "--nas-retries", "2")
		if !strings.Contains(out, "the NAS waits 9s (3s x 3 tries, --nas-timeout)") {
			t.Fatalf("client set:\n%s", out)
		}
		var j clientJSON
		if err := json.Unmarshal([]byte(e.ok("client", "show", "fw", "--json")), &j); err != nil {
			t.Fatal(err)
		}
		if j.CIDR != "10.0.0.1/32" || j.NASType != "fortigate" || j.NASTimeout != "3s" || j.NASRetries != 2 || !j.RequireMessageAuthenticator {
			t.Fatalf("after set: %+v", j)
		}
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"nothing to change", nil, "nothing to change"},
			{"unknown client", []string{"--nas-retries", "1"}, "not found"},
			{"timeout too long", []string{"--nas-timeout", "5m"}, "want 0 (the NAS type's default) or 100ms to 60s"},
			{"too many retries", []string{"--nas-retries", "11"}, "want 0 to 10"},
			{"number matching on an openvpn NAS", []string{"--nas-type", "openvpn", "--number-matching", "on"}, "cannot show the number"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				name := "fw"
				if tc.name == "unknown client" {
					name = "nope"
				}
				if _, errOut, code := e.run(append([]string{"client", "set", name}, tc.args...)...); code == 0 || !strings.Contains(errOut, tc.want) {
					t.Fatalf("exit %d; want %q in %q", code, tc.want, errOut)
				}
			})
		}
		if rows := e.auditCount("", "client.set", "ok"); rows != 1 {
			t.Fatalf("%d client.set audit rows", rows)
		}
	})
}

// Token reset at login over RADIUS: a TOTP token 40 steps ahead gets an
// Access-Challenge; its next code accepts, and the login after needs no
// reset.
func TestTokenResetOverRADIUS(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "fw", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "tara")
	_, seed := e.enrollSecret("tara")
	srv := startServer(t, e)
	n := newNAS(t, "127.0.0.1", srv.addr, "testing123")
	// Steps from one base, so a step boundary in the middle changes none.
	base := otp.Step(time.Now().Unix(), 30)
	at := func(off int64) string {
		return otp.Code(seed, uint64(base+off), otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 30})
	}
	p := n.exchange("tara", at(40))
	if p.Code != radius.CodeAccessChallenge || !strings.Contains(rfc2865.ReplyMessage_GetString(p), "next code") {
		t.Fatalf("a code 40 steps ahead: %v %q", p.Code, rfc2865.ReplyMessage_GetString(p))
	}
	// The token's next code (one step on from the one typed).
	if p := n.exchange("tara", at(41), withState(rfc2865.State_Get(p))); p.Code != radius.CodeAccessAccept {
		t.Fatalf("the next code: %v", p.Code)
	}
	if p := n.exchange("tara", at(42)); p.Code != radius.CodeAccessAccept {
		t.Fatalf("the login after the reset: %v", p.Code)
	}
	if rows := strings.Join(e.authRows("tara"), ","); rows != "challenge:token_reset_next_code,accept:token_reset,accept:ok" {
		t.Fatalf("audit: %s", rows)
	}
}
