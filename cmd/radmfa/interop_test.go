package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/push"
)

// radtool runs radtest or radclient and returns what it printed.
func radtool(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(requireTool(t, name, "freeradius-utils"), args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, _ := cmd.CombinedOutput() // a Reject exits non-zero; the output says which
	return string(out)
}

func TestRadtestInterop(t *testing.T) {
	requireTool(t, "radtest", "freeradius-utils")
	onEachBackend(t, func(t *testing.T, e *cliEnv) {
		e.ok("client", "add", "loop", "--cidr", "127.0.0.1/32", "--secret", "testing123")
		e.ok("user", "add", "alice")
		_, seed := e.enrollSecret("alice")
		srv := startServer(t, e)
		// oathtool computes the code, as an admin would.
		code := oathtool(t, "--totp", "-b", strings.TrimRight(otpSecret(seed), "="))
		tests := []struct {
			name, password, nasPort, want string
		}{
			{"fresh code", code, "0", "Received Access-Accept"},
			// The NAS-Port tells radtest's "stations" apart: the same
			// port within --resubmit-window is the same login again.
			{"reused code", code, "1", "Received Access-Reject"},
			{"wrong code", "000000", "0", "Received Access-Reject"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				out := radtool(t, "", "radtest", "-t", "pap", "alice", tc.password, srv.addr, tc.nasPort, "testing123")
				if !strings.Contains(out, tc.want) {
					t.Fatalf("radtest: want %q in:\n%s", tc.want, out)
				}
			})
		}
		if rows := e.authRows("alice"); strings.Join(rows, ",") != "accept:ok,reject:replayed_code,reject:bad_code" {
			t.Fatalf("audit %v", rows)
		}
	})
}

// radclient's own retransmissions (-r 3 -t 1) into a slow path (the
// database is locked by another writer for 2.5 s) are evaluated once.
func TestRadclientRetransmissionsEvaluatedOnce(t *testing.T) {
	requireTool(t, "radclient", "freeradius-utils")
	e := newCLI(t)
	e.ok("client", "add", "loop", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "bob")
	_, seed := e.enrollSecret("bob", "--type", "hotp")
	srv := startServer(t, e)
	release := holdWriteLock(t, e.dir)
	go func() {
		time.Sleep(2500 * time.Millisecond)
		release()
	}()
	// A login that writes before it is answered.
	password, want, row := hotpAt(seed, 0), "Received Access-Accept", "accept:ok"
	in := "User-Name = bob\nUser-Password = " + password + "\nMessage-Authenticator = 0x00\n"
	out := radtool(t, in, "radclient", "-r", "3", "-t", "1", "-x", srv.addr, "auth", "testing123")
	if !strings.Contains(out, want) {
		t.Fatalf("radclient:\n%s", out)
	}
	if got := srv.metric(t, `radmfa_radius_duplicates_total{kind="in_flight"}`); got < 1 {
		t.Fatalf("radclient did not retransmit into the slow path (in-flight duplicates %v):\n%s", got, out)
	}
	if rows := e.authRows("bob"); len(rows) != 1 || rows[0] != row {
		t.Fatalf("evaluations %v, want exactly one %s", rows, row)
	}
}

func otpSecret(seed []byte) string { return otp.EncodeSecret(seed) }

// TestRadclientPush: radclient as the NAS sends the empty or one-character
// password; the reference device answers.
func TestRadclientPush(t *testing.T) {
	requireTool(t, "radclient", "freeradius-utils")
	e := newCLI(t)
	e.ok("client", "add", "loop", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	srv := startPushServer(t, e, "--push-timeout", "5s")
	radclient := func(attrs string) string {
		return radtool(t, attrs+", Message-Authenticator = 0x00\n", "radclient", "-x", "-r", "1", "-t", "10", srv.addr, "auth", "testing123")
	}
	tests := []struct {
		name, password, decision, want string
	}{
		{"empty password, approved", "", push.DecisionApprove, "Received Access-Accept"},
		{"one character, denied", "x", push.DecisionDeny, "Received Access-Reject"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("rc%d", i)
			e.ok("user", "add", user)
			c := phone(t, e, user)
			answerNext(t, c, tc.decision, nil)
			if out := radclient(fmt.Sprintf(`User-Name = "%s", User-Password = "%s"`, user, tc.password)); !strings.Contains(out, tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, out)
			}
		})
	}

	t.Run("no answer, Reject at the timeout", func(t *testing.T) {
		e.ok("user", "add", "rct")
		phone(t, e, "rct")
		if out := radclient(`User-Name = "rct", User-Password = ""`); !strings.Contains(out, "Received Access-Reject") {
			t.Fatalf("want a Reject in:\n%s", out)
		}
		if n := e.auditCount("rct", "auth", "reject:push_timeout"); n != 1 {
			t.Fatalf("reject:push_timeout rows = %d", n)
		}
	})

	t.Run("radclient retransmissions send one push", func(t *testing.T) {
		e.ok("user", "add", "rcr")
		c := phone(t, e, "rcr")
		go func() {
			time.Sleep(2500 * time.Millisecond) // radclient has retransmitted twice by now
			p := nextPending(t, c)
			if _, err := c.Answer(context.Background(), p.ID, push.DecisionApprove, 0); err != nil {
				t.Errorf("answer: %v", err)
			}
		}()
		out := radtool(t, `User-Name = "rcr", User-Password = "", Message-Authenticator = 0x00`+"\n", "radclient", "-x", "-r", "5", "-t", "1", srv.addr, "auth", "testing123")
		if !strings.Contains(out, "Received Access-Accept") {
			t.Fatalf("want an Accept in:\n%s", out)
		}
		if n := strings.Count(out, "Sent Access-Request"); n < 2 {
			t.Fatalf("radclient sent %d copies, want retransmissions:\n%s", n, out)
		}
		if n := e.auditCount("rcr", "push.request", ""); n != 1 {
			t.Fatalf("pushes sent = %d, want 1", n)
		}
	})

	t.Run("number matching", func(t *testing.T) {
		e.ok("client", "remove", "loop")
		e.ok("client", "add", "loop-nm", "--cidr", "127.0.0.1/32", "--secret", "testing123", "--number-matching", "on")
		time.Sleep(300 * time.Millisecond) // the client table reloads every 100ms in tests
		for _, right := range []bool{true, false} {
			user := fmt.Sprintf("rcnm-%t", right)
			e.ok("user", "add", user)
			c := phone(t, e, user)
			out := radclient(fmt.Sprintf(`User-Name = "%s", User-Password = ""`, user))
			m := regexp.MustCompile(`(?s)Received Access-Challenge.*State = (0x[0-9a-f]+).*pick (\d\d)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no challenge with State and number in:\n%s", out)
			}
			answerNext(t, c, push.DecisionApprove, func(p push.PendingRequest) int {
				if right {
					return atoi(m[2])
				}
				for _, n := range p.Numbers {
					if strconv.Itoa(n) != m[2] {
						return n
					}
				}
				return 0
			})
			want := "Received Access-Accept"
			if !right {
				want = "Received Access-Reject"
			}
			if out := radclient(fmt.Sprintf(`User-Name = "%s", User-Password = "", State = %s`, user, m[1])); !strings.Contains(out, want) {
				t.Fatalf("follow-up (right pick %v): want %q in:\n%s", right, want, out)
			}
		}
	})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
