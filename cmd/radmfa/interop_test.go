package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/otp"
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
	e := newCLI(t)
	e.ok("client", "add", "loop", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "alice")
	_, seed := e.enrollSecret("alice")
	srv := startServer(t, e)
	// oathtool computes the code, as an admin would.
	code := oathtool(t, "--totp", "-b", strings.TrimRight(otpSecret(seed), "="))
	tests := []struct {
		name, password, want string
	}{
		{"fresh code", code, "Received Access-Accept"},
		{"reused code", code, "Received Access-Reject"},
		{"wrong code", "000000", "Received Access-Reject"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := radtool(t, "", "radtest", "-t", "pap", "alice", tc.password, srv.addr, "0", "testing123")
			if !strings.Contains(out, tc.want) {
				t.Fatalf("radtest: want %q in:\n%s", tc.want, out)
			}
		})
	}
	if rows := e.authRows("alice"); strings.Join(rows, ",") != "accept:ok,reject:replayed_code,reject:bad_code" {
		t.Fatalf("audit %v", rows)
	}
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
	in := "User-Name = bob\nUser-Password = " + hotpAt(seed, 0) + "\nMessage-Authenticator = 0x00\n"
	out := radtool(t, in, "radclient", "-r", "3", "-t", "1", "-x", srv.addr, "auth", "testing123")
	if !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("radclient:\n%s", out)
	}
	if got := srv.metric(t, `radmfa_radius_duplicates_total{kind="in_flight"}`); got < 1 {
		t.Fatalf("radclient did not retransmit into the slow path (in-flight duplicates %v):\n%s", got, out)
	}
	if rows := e.authRows("bob"); len(rows) != 1 || rows[0] != "accept:ok" {
		t.Fatalf("evaluations %v, want exactly one accept", rows)
	}
}

func otpSecret(seed []byte) string { return otp.EncodeSecret(seed) }
