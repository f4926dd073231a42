package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/push"
)

var deviceAPIRE = regexp.MustCompile(`device API on (\S+) `)

// startPushServer runs serve with the device API on a free loopback port.
func startPushServer(t *testing.T, e *cliEnv, args ...string) *server {
	t.Helper()
	s := startServer(t, e, append([]string{"--http-addr", "127.0.0.1:0", "--push-provider", "none"}, args...)...)
	if deviceAPIRE.FindStringSubmatch(s.out.String()) == nil {
		t.Fatalf("no device API announced:\n%s", s.out.String())
	}
	return s
}

// phone enrolls a push token for user through the CLI's enrollment URI,
// as the reference device does.
func phone(t *testing.T, e *cliEnv, user string) *push.Client {
	t.Helper()
	m := enrollJSON(t, e, user, "--type", "push")
	c, err := push.Enroll(context.Background(), m["activation_uri"],
		push.DeviceInfo{OS: "iOS", OSVersion: "18.1", Model: "iPhone15,2", AppVersion: "1.0", Notifications: true}, "")
	if err != nil {
		t.Fatalf("enroll %s: %v", user, err)
	}
	return c
}

// nextPending waits for the phone's next pending request.
func nextPending(t *testing.T, c *push.Client) push.PendingRequest {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		reqs, err := c.Pending(context.Background())
		if err != nil {
			t.Errorf("pending: %v", err)
			return push.PendingRequest{}
		}
		if len(reqs) > 0 {
			return reqs[0]
		}
	}
	t.Errorf("no push request arrived")
	return push.PendingRequest{}
}

// answerNext answers the next push from another goroutine.
func answerNext(t *testing.T, c *push.Client, decision string, pick func(push.PendingRequest) int) <-chan push.PendingRequest {
	ch := make(chan push.PendingRequest, 1)
	go func() {
		p := nextPending(t, c)
		n := 0
		if pick != nil {
			n = pick(p)
		}
		if _, err := c.Answer(context.Background(), p.ID, decision, n); err != nil {
			t.Errorf("answer: %v", err)
		}
		ch <- p
	}()
	return ch
}

func (e *cliEnv) auditCount(user, action, result string) int {
	e.t.Helper()
	var rows []auditJSON
	if err := jsonUnmarshal(e.ok("audit", "--json", "--user", user), &rows); err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Action == action && (result == "" || r.Result == result) {
			n++
		}
	}
	return n
}

func TestPushEndToEnd(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.2/32", "--secret", "push-secret-1")
	e.ok("client", "add", "vpn-nm", "--cidr", "127.0.0.3/32", "--secret", "push-secret-2", "--number-matching", "on")
	srv := startPushServer(t, e, "--push-timeout", "5s")
	vpn := newNAS(t, "127.0.0.2", srv.addr, "push-secret-1")
	nm := newNAS(t, "127.0.0.3", srv.addr, "push-secret-2")

	t.Run("approve is an Accept", func(t *testing.T) {
		e.ok("user", "add", "pa")
		c := phone(t, e, "pa")
		got := answerNext(t, c, push.DecisionApprove, nil)
		if p := vpn.exchange("pa", ""); p.Code != radius.CodeAccessAccept {
			t.Fatalf("got %v, want Access-Accept", p.Code)
		}
		p := <-got
		if p.User != "pa" || p.Client != "vpn" || p.CallingStation != "198.51.100.7" || p.NASIdentifier != "test-nas" {
			t.Fatalf("the phone saw %+v", p)
		}
		if n := e.auditCount("pa", "auth", "accept:push_approved"); n != 1 {
			t.Fatalf("accept:push_approved rows = %d", n)
		}
	})

	t.Run("one character triggers push; deny is an immediate Reject", func(t *testing.T) {
		e.ok("user", "add", "pd")
		c := phone(t, e, "pd")
		answerNext(t, c, push.DecisionDeny, nil)
		start := time.Now()
		if p := vpn.exchange("pd", "p"); p.Code != radius.CodeAccessReject {
			t.Fatalf("got %v, want Access-Reject", p.Code)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("deny answered after %s, not at once (push timeout 5s)", d)
		}
		if n := e.auditCount("pd", "auth", "reject:push_denied"); n != 1 {
			t.Fatalf("reject:push_denied rows = %d", n)
		}
	})

	t.Run("no answer is a Reject at the timeout", func(t *testing.T) {
		e.ok("user", "add", "pt")
		phone(t, e, "pt")
		start := time.Now()
		if p := vpn.exchange("pt", ""); p.Code != radius.CodeAccessReject {
			t.Fatalf("got %v, want Access-Reject", p.Code)
		}
		if d := time.Since(start); d < 4*time.Second {
			t.Fatalf("rejected after %s, before the 5s push timeout", d)
		}
		if n := e.auditCount("pt", "auth", "reject:push_timeout"); n != 1 {
			t.Fatalf("reject:push_timeout rows = %d", n)
		}
	})

	t.Run("retransmitted trigger sends one push", func(t *testing.T) {
		e.ok("user", "add", "pr")
		c := phone(t, e, "pr")
		req := vpn.build(radius.CodeAccessRequest, "pr", "", true)
		for range 3 {
			if r := vpn.send(req, 200*time.Millisecond); r != nil {
				t.Fatal("answered before the phone did")
			}
		}
		answerNext(t, c, push.DecisionApprove, nil)
		vpn.awaitAccept(req)
		if n := e.auditCount("pr", "push.request", ""); n != 1 {
			t.Fatalf("pushes sent = %d, want 1", n)
		}
		if n := e.auditCount("pr", "auth", ""); n != 1 {
			t.Fatalf("logins evaluated = %d, want 1", n)
		}
	})

	t.Run("number matching: right pick", func(t *testing.T) {
		e.ok("user", "add", "pn")
		c := phone(t, e, "pn")
		ch := nm.exchange("pn", "")
		number, state := challenge(t, ch)
		got := answerNext(t, c, push.DecisionApprove, func(p push.PendingRequest) int {
			if len(p.Numbers) != 3 {
				t.Errorf("choices %v", p.Numbers)
			}
			return number
		})
		if p := nm.exchange("pn", "", withState(state)); p.Code != radius.CodeAccessAccept {
			t.Fatalf("follow-up: got %v, want Access-Accept", p.Code)
		}
		<-got
		// The State continues a login once.
		if p := nm.exchange("pn", "", withState(state)); p.Code != radius.CodeAccessReject {
			t.Fatalf("reused State: got %v, want Access-Reject", p.Code)
		}
	})

	t.Run("number matching: wrong pick is a denial", func(t *testing.T) {
		e.ok("user", "add", "pw")
		c := phone(t, e, "pw")
		number, state := challenge(t, nm.exchange("pw", ""))
		answerNext(t, c, push.DecisionApprove, func(p push.PendingRequest) int {
			for _, n := range p.Numbers {
				if n != number {
					return n
				}
			}
			return 0
		})
		if p := nm.exchange("pw", "", withState(state)); p.Code != radius.CodeAccessReject {
			t.Fatalf("got %v, want Access-Reject", p.Code)
		}
		if n := e.auditCount("pw", "auth", "reject:push_wrong_number"); n != 1 {
			t.Fatalf("reject:push_wrong_number rows = %d", n)
		}
	})

	t.Run("replayed and forged answers are refused", func(t *testing.T) {
		e.ok("user", "add", "px")
		e.ok("user", "add", "pm")
		c := phone(t, e, "px")
		mallory := phone(t, e, "pm")
		go func() {
			p := nextPending(t, c)
			// Another user's phone cannot answer it.
			if _, err := mallory.Answer(context.Background(), p.ID, push.DecisionApprove, 0); !push.IsRefused(err, http.StatusNotFound) {
				t.Errorf("foreign answer: %v", err)
			}
			body, sig, err := c.SignedAnswer(p.ID, push.DecisionApprove, 0)
			if err != nil {
				t.Error(err)
				return
			}
			// Forged: the body changed after signing.
			forged := []byte(strings.Replace(string(body), `"approve"`, `"fraud"`, 1))
			if err := c.Raw(context.Background(), push.PathAnswer, forged, sig); !push.IsRefused(err, http.StatusUnauthorized) {
				t.Errorf("forged answer: %v", err)
			}
			if err := c.Raw(context.Background(), push.PathAnswer, body, sig); err != nil {
				t.Errorf("genuine answer: %v", err)
			}
			if err := c.Raw(context.Background(), push.PathAnswer, body, sig); !push.IsRefused(err, http.StatusConflict) {
				t.Errorf("replayed answer: %v", err)
			}
		}()
		if p := vpn.exchange("px", ""); p.Code != radius.CodeAccessAccept {
			t.Fatalf("got %v, want Access-Accept", p.Code)
		}
		time.Sleep(200 * time.Millisecond) // the replay is sent after the Accept
		if n := e.auditCount("", "push.answer", "refused"); n < 3 {
			t.Fatalf("refused answers audited = %d, want >= 3", n)
		}
	})

	t.Run("typed OTP from the push token", func(t *testing.T) {
		e.ok("user", "add", "po")
		c := phone(t, e, "po")
		code := otp.Code(c.State.Seed, uint64(otp.Step(time.Now().Unix(), 30)), otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 30})
		if p := vpn.exchange("po", code); p.Code != radius.CodeAccessAccept {
			t.Fatalf("got %v, want Access-Accept", p.Code)
		}
		if p := vpn.exchange("po", code, fromStation("192.0.2.99")); p.Code != radius.CodeAccessReject {
			t.Fatalf("replayed code: got %v, want Access-Reject", p.Code)
		}
	})

	t.Run("fraud report locks push for the user", func(t *testing.T) {
		e.ok("user", "add", "pf")
		c := phone(t, e, "pf")
		answerNext(t, c, push.DecisionFraud, nil)
		if p := vpn.exchange("pf", ""); p.Code != radius.CodeAccessReject {
			t.Fatalf("got %v, want Access-Reject", p.Code)
		}
		if p := vpn.exchange("pf", ""); p.Code != radius.CodeAccessReject {
			t.Fatalf("push while locked: got %v", p.Code)
		}
		if n := e.auditCount("pf", "auth", "reject:push_locked"); n != 1 {
			t.Fatalf("reject:push_locked rows = %d", n)
		}
		e.ok("user", "unlock-push", "pf")
		answerNext(t, c, push.DecisionApprove, nil)
		if p := vpn.exchange("pf", ""); p.Code != radius.CodeAccessAccept {
			t.Fatalf("after unlock-push: got %v, want Access-Accept", p.Code)
		}
	})

	t.Run("user without a push device is rejected at once", func(t *testing.T) {
		e.ok("user", "add", "nopush")
		e.ok("token", "enroll", "nopush", "--no-qr")
		if p := vpn.exchange("nopush", ""); p.Code != radius.CodeAccessReject {
			t.Fatalf("got %v, want Access-Reject", p.Code)
		}
		if n := e.auditCount("nopush", "auth", "reject:no_push_device"); n != 1 {
			t.Fatalf("reject:no_push_device rows = %d", n)
		}
	})

	t.Run("token show reports the device", func(t *testing.T) {
		var tj tokenJSON
		m := enrollJSON(t, e, "pa", "--type", "push")
		if _, err := push.Enroll(context.Background(), m["activation_uri"], push.DeviceInfo{OS: "Android", OSVersion: "15", Model: "Pixel 9"}, ""); err != nil {
			t.Fatal(err)
		}
		if err := jsonUnmarshal(e.ok("token", "show", m["serial"], "--json"), &tj); err != nil {
			t.Fatal(err)
		}
		if tj.Device == nil || tj.Device.Target != "Android 15" || tj.Device.DeviceType != "Pixel 9" || tj.Device.PushOTP != "Disabled" {
			t.Fatalf("device = %+v", tj.Device)
		}
		m = enrollJSON(t, e, "pa", "--type", "push")
		if err := jsonUnmarshal(e.ok("token", "show", m["serial"], "--json"), &tj); err != nil {
			t.Fatal(err)
		}
		if tj.Device == nil || tj.Device.PushOTP != "Not Applicable" {
			t.Fatalf("not yet activated: device = %+v", tj.Device)
		}
	})
}

func challenge(t *testing.T, p *radius.Packet) (int, []byte) {
	t.Helper()
	if p.Code != radius.CodeAccessChallenge {
		t.Fatalf("got %v, want Access-Challenge", p.Code)
	}
	msg := rfc2865.ReplyMessage_GetString(p)
	var n int
	if m := regexp.MustCompile(`pick (\d\d)`).FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &n)
	}
	state := rfc2865.State_Get(p)
	if n == 0 || len(state) == 0 {
		t.Fatalf("challenge without number or State: %q, %x", msg, state)
	}
	return n, state
}

func withState(s []byte) reqOpt {
	return func(p *radius.Packet) { rfc2865.State_Set(p, s) }
}

// TestActivationCodes: a used, a replaced and an expired activation code
// are refused; the CLI's URI points at the running server with its pin.
func TestActivationCodes(t *testing.T) {
	e := newCLI(t)
	startPushServer(t, e)
	e.ok("user", "add", "act")
	info := push.DeviceInfo{OS: "iOS"}
	ctx := context.Background()

	m := enrollJSON(t, e, "act", "--type", "push")
	if _, err := push.Enroll(ctx, m["activation_uri"], info, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := push.Enroll(ctx, m["activation_uri"], info, ""); !push.IsRefused(err, http.StatusForbidden) {
		t.Fatalf("reused activation code: %v", err)
	}

	first := enrollJSON(t, e, "act", "--type", "push", "--serial", m["serial"])
	second := enrollJSON(t, e, "act", "--type", "push", "--serial", m["serial"])
	if _, err := push.Enroll(ctx, first["activation_uri"], info, ""); !push.IsRefused(err, http.StatusForbidden) {
		t.Fatalf("activation code replaced by a new enrollment: %v", err)
	}

	// Time passes: the activation expires.
	db, err := sql.Open("sqlite3", filepath.Join(e.dir, "radmfa.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE activations SET expires_at = ?`, time.Now().Add(-time.Second).Unix()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := push.Enroll(ctx, second["activation_uri"], info, ""); !push.IsRefused(err, http.StatusForbidden) {
		t.Fatalf("expired activation code: %v", err)
	}
	if n := e.auditCount("act", "token.activate", "refused"); n != 3 {
		t.Fatalf("refused activations audited = %d, want 3", n)
	}
}

// A push approved after the NAS gave up (it stopped retransmitting, and
// an interval has passed since its last try) is audited as
// accept:push_approved_late: the user was not let in. One approved while
// the NAS still waits is push_approved.
func TestPushApprovedLate(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "loop", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	srv := startPushServer(t, e, "--push-timeout", "30s")
	tests := []struct {
		name string
		late bool
		want string
	}{
		{"while the NAS waits", false, "accept:push_approved"},
		{"after the NAS gave up", true, "accept:push_approved_late"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("late%d", i)
			e.ok("user", "add", user)
			c := phone(t, e, user)
			n := newNAS(t, "127.0.0.1", srv.addr, "testing123")
			req := n.build(radius.CodeAccessRequest, user, "", true)
			n.conn.Write(req)
			p := nextPending(t, c)
			// The NAS retransmits every 300 ms: twice and gives up, or
			// until it is answered.
			stop := make(chan struct{})
			retries := make(chan struct{})
			go func() {
				defer close(retries)
				for k := 0; tc.late && k < 2 || !tc.late; k++ {
					select {
					case <-stop:
						return
					case <-time.After(300 * time.Millisecond):
					}
					n.conn.Write(req)
				}
			}()
			if tc.late {
				<-retries
				time.Sleep(3 * time.Second) // ten intervals after its last try
			} else {
				time.Sleep(700 * time.Millisecond)
			}
			if _, err := c.Answer(context.Background(), p.ID, push.DecisionApprove, 0); err != nil {
				t.Fatal(err)
			}
			n.await(req, radius.CodeAccessAccept)
			close(stop)
			<-retries
			waitFor(t, "the audit row", func() bool { return e.auditCount(user, "auth", tc.want) == 1 })
		})
	}
}

// Under --dev the push waits less than radtest does (3 tries, 5 s
// apart): an unanswered push is a Reject radtest sees, not a silence, and
// the banner says how to wait longer.
func TestDevPushTimeoutFitsRadtest(t *testing.T) {
	requireTool(t, "radtest", "freeradius-utils")
	e := newCLI(t)
	srv := startServer(t, e, "--dev", "--http-addr", "127.0.0.1:0", "--push-provider", "none")
	if out := srv.out.String(); !strings.Contains(out, "the push waits 12s under --dev") || !strings.Contains(out, "radclient -t 30") {
		t.Fatalf("the dev banner does not say how long a push waits:\n%s\n%s", out, srv.errs.String())
	}
	e.ok("user", "add", "devi")
	phone(t, e, "devi")
	start := time.Now()
	out := radtool(t, "", "radtest", "-t", "pap", "devi", "", srv.addr, "0", devSecret)
	if !strings.Contains(out, "Received Access-Reject") {
		t.Fatalf("radtest after %v: want the push's Reject within its wait:\n%s", time.Since(start).Round(time.Second), out)
	}
	if n := e.auditCount("devi", "auth", "reject:push_timeout"); n != 1 {
		t.Fatalf("reject:push_timeout rows = %d", n)
	}
}
