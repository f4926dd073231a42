package main

import (
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
)

// journalingServer is a server on synchronous NORMAL, a NAS, and user with
// a HOTP token whose first code (counter 0) has logged in.
func journalingServer(t *testing.T, user string) (*cliEnv, *server, *nas, string, []byte) {
	t.Helper()
	e := newCLI(t)
	e.ok("client", "add", "nas", "--cidr", "127.0.0.2/32", "--secret", "s3cret-for-tests")
	e.ok("user", "add", user)
	serial, seed := e.enrollSecret(user, "--type", "hotp")
	srv := startServer(t, e, "--synchronous", "NORMAL")
	n := newNAS(t, "127.0.0.2", srv.addr, "s3cret-for-tests")
	if p := n.exchange(user, hotpAt(seed, 0)); p.Code != radius.CodeAccessAccept {
		t.Fatalf("first login: %v", p.Code)
	}
	return e, srv, n, serial, seed
}

// TestJournaledAcceptsBesideALockedDatabase: a server on synchronous
// NORMAL journals its accepts, so logins are accepted (and their codes
// used up) while another process holds the database's write lock (an
// admin's long import), and their audit rows and counters arrive once it
// lets go.
func TestJournaledAcceptsBesideALockedDatabase(t *testing.T) {
	e, srv, n, serial, seed := journalingServer(t, "jo")
	release := holdWriteLock(t, e.dir)
	for c := range uint64(3) {
		req := n.build(radius.CodeAccessRequest, "jo", hotpAt(seed, c+1), true)
		if raw := n.send(req, 2*time.Second); raw == nil || n.verify(req, raw).Code != radius.CodeAccessAccept {
			t.Fatalf("login %d not accepted while the database is locked", c+1)
		}
	}
	// A refusal writes its audit row (and any failure count) before it
	// is answered, so it waits for the lock; a code used meanwhile stays
	// used.
	req := n.build(radius.CodeAccessRequest, "jo", hotpAt(seed, 2), true)
	if raw := n.send(req, 300*time.Millisecond); raw != nil {
		t.Fatal("a refusal answered while the database was locked")
	}
	release()
	n.await(req, radius.CodeAccessReject)
	if got := srv.metric(t, "radmfa_store_journal_accepts_total"); got != 4 {
		t.Fatalf("radmfa_store_journal_accepts_total %v, want 4", got)
	}
	if rows := e.authRows("jo"); strings.Join(rows, ",") != "accept:ok,accept:ok,accept:ok,accept:ok,reject:replayed_code" {
		t.Fatalf("audit %v", rows)
	}
	if out := e.ok("token", "show", serial, "--json"); !strings.Contains(out, `"counter": 4`) {
		t.Fatalf("counter not applied: %s", out)
	}
}

// TestTokenCheckBesideAJournalingServer: `token check` decides a login
// from the database, which lags a journaling server's accepts, so it
// refuses to run beside one (and says what to do instead); once the
// server stopped it works and finds the server's accepts.
func TestTokenCheckBesideAJournalingServer(t *testing.T) {
	e, srv, _, _, seed := journalingServer(t, "kim")
	_, errOut, code := e.run("token", "check", "kim", hotpAt(seed, 1))
	if code == 0 || !strings.Contains(errOut, "radtest") || strings.Contains(errOut, "level=ERROR") {
		t.Fatalf("token check beside a journaling server: exit %d, %q", code, errOut)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if out, _, code := e.run("token", "check", "kim", hotpAt(seed, 0)); code == 0 || !strings.Contains(out, "replayed_code") {
		t.Fatalf("the server's accept was not seen: exit %d, %q", code, out)
	}
	e.ok("token", "check", "kim", hotpAt(seed, 1))
}
