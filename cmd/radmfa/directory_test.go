package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/internal/slapdtest"
)

// Users from OpenLDAP with the CLI: add, test, a dry run, a sync; the
// directory group's reply attributes on the Access-Accept; serve syncs at
// start; a user who left is disabled and refused.
func TestDirectoryWithTheCLI(t *testing.T) {
	s := slapdtest.Start(t)
	ann := s.AddUser("ann", "ann@example.com", "ann-pw")
	bob := s.AddUser("bob", "bob@example.com", "bob-pw")
	s.AddGroup("vpn-staff", ann, bob)
	e := newCLI(t)
	dir := t.TempDir()
	pw, ca := filepath.Join(dir, "bind.pw"), filepath.Join(dir, "ca.pem")
	os.WriteFile(pw, []byte(slapdtest.AdminPW+"\n"), 0o600)
	os.WriteFile(ca, s.CAPEM, 0o600)
	e.ok("directory", "add", "corp", "--url", "ldap://127.0.0.1:1", "--url", s.URL, "--start-tls", "--ca-file", ca,
		"--bind-dn", slapdtest.AdminDN, "--bind-password-file", pw, "--base-dn", slapdtest.PeopleDN,
		"--user-filter", "(objectClass=inetOrgPerson)", "--login-attr", "uid", "--group-map", "vpn-staff=staff")
	if out := e.ok("directory", "test", "corp"); !strings.Contains(out, "2 users match") || !strings.Contains(out, "staff") {
		t.Fatalf("directory test:\n%s", out)
	}
	if out := e.ok("directory", "show", "corp"); strings.Contains(out, slapdtest.AdminPW) {
		t.Fatalf("show prints the bind password:\n%s", out)
	}
	if out := e.ok("directory", "sync", "corp", "--dry-run"); !strings.Contains(out, "dry run: directory corp: 2 users seen, 2 created") {
		t.Fatalf("dry run:\n%s", out)
	}
	if out := e.ok("user", "list"); strings.Contains(out, "ann") {
		t.Fatalf("a dry run created users:\n%s", out)
	}
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("reply", "add", "--group", "staff", "Filter-Id=vpn-staff")
	srv := startServer(t, e, "--directory-sync-every", "1h")
	waitFor(t, "serve's first sync", func() bool { return strings.Contains(e.ok("user", "list"), "ann") })
	var users []map[string]any
	if err := json.Unmarshal([]byte(e.ok("user", "list", "--json")), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0]["group"] != "staff" || users[0]["email"] != "ann@example.com" {
		t.Fatalf("users: %+v", users)
	}
	_, seed := e.enrollSecret("ann", "--type", "hotp")
	n := newNAS(t, "127.0.0.1", srv.addr, "testing123")
	p := n.exchange("ann", hotpAt(seed, 0))
	if p.Code != radius.CodeAccessAccept || rfc2865.FilterID_GetString(p) != "vpn-staff" {
		t.Fatalf("ann's login: %v, Filter-Id %q", p.Code, rfc2865.FilterID_GetString(p))
	}
	// ann leaves the directory.
	s.Delete(ann)
	if out := e.ok("directory", "sync", "corp"); !strings.Contains(out, "1 disabled") {
		t.Fatalf("sync:\n%s", out)
	}
	if p := n.exchange("ann", hotpAt(seed, 1)); p.Code != radius.CodeAccessReject {
		t.Fatalf("a user who left the directory: %v", p.Code)
	}
	if rows := e.authRows("ann"); rows[len(rows)-1] != "reject:user_disabled" {
		t.Fatalf("audit %v", rows)
	}
	if n := e.auditCount("ann", "user.sync", "ok"); n != 1 {
		t.Fatalf("%d user.sync rows", n)
	}
	_ = bob
}

// The directory password as first factor: password+code; the password,
// then the code in the challenge's answer; "password,push" and the
// phone's approval; a wrong password (refused, counted); the directory
// down (refused with a clear reason, no crash).
func TestDirectoryPasswordFirstFactor(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("ann", "ann@example.com", "Sommer2026!")
	e := newCLI(t)
	dir := t.TempDir()
	pw, ca := filepath.Join(dir, "bind.pw"), filepath.Join(dir, "ca.pem")
	os.WriteFile(pw, []byte(slapdtest.AdminPW), 0o600)
	os.WriteFile(ca, s.CAPEM, 0o600)
	e.ok("directory", "add", "corp", "--url", s.URL, "--start-tls", "--ca-file", ca, "--bind-dn", slapdtest.AdminDN,
		"--bind-password-file", pw, "--base-dn", slapdtest.PeopleDN, "--user-filter", "(objectClass=inetOrgPerson)", "--login-attr", "uid")
	e.ok("directory", "sync", "corp")
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123", "--first-factor", "directory")
	_, seed := e.enrollSecret("ann", "--type", "hotp")
	srv := startPushServer(t, e, "--directory-sync-every", "0")
	c := phone(t, e, "ann")
	n := newNAS(t, "127.0.0.1", srv.addr, "testing123")
	counter := uint64(0)
	next := func() string { counter++; return hotpAt(seed, counter-1) }

	t.Run("password and code in one", func(t *testing.T) {
		if p := n.exchange("ann", "Sommer2026!"+next()); p.Code != radius.CodeAccessAccept {
			t.Fatalf("got %v", p.Code)
		}
	})
	t.Run("password, then the code in the challenge", func(t *testing.T) {
		p := n.exchange("ann", "Sommer2026!")
		if p.Code != radius.CodeAccessChallenge || !strings.Contains(rfc2865.ReplyMessage_GetString(p), "code") {
			t.Fatalf("the password alone: %v %q", p.Code, rfc2865.ReplyMessage_GetString(p))
		}
		if p := n.exchange("ann", next(), withState(rfc2865.State_Get(p))); p.Code != radius.CodeAccessAccept {
			t.Fatalf("the code: %v", p.Code)
		}
	})
	t.Run("password, then a push", func(t *testing.T) {
		held := inBackground(func() string { return n.exchange("ann", "Sommer2026!,push").Code.String() })
		approved := answerNext(t, c, "approve", nil)
		<-approved
		if got := held(); got != radius.CodeAccessAccept.String() {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("a wrong password", func(t *testing.T) {
		if p := n.exchange("ann", "Winter2025!"+next()); p.Code != radius.CodeAccessReject {
			t.Fatalf("got %v", p.Code)
		}
		if p := n.exchange("ann", "Winter2025!"); p.Code != radius.CodeAccessReject {
			t.Fatalf("the wrong password alone: %v", p.Code)
		}
	})
	t.Run("the directory down", func(t *testing.T) {
		s.Stop()
		if p := n.exchange("ann", "Sommer2026!"+next()); p.Code != radius.CodeAccessReject {
			t.Fatalf("got %v", p.Code)
		}
	})
	rows := strings.Join(e.authRows("ann"), ",")
	for _, want := range []string{"accept:ok", "challenge:password_ok_code_next", "accept:push_approved", "reject:bad_password", "reject:directory_unavailable"} {
		if !strings.Contains(rows, want) {
			t.Fatalf("no %s in the audit: %s", want, rows)
		}
	}
	if out := e.ok("audit", "--user", "ann"); strings.Contains(out, "Sommer2026") || strings.Contains(out, "Winter2025") {
		t.Fatalf("a password in the audit log:\n%s", out)
	}
	if strings.Contains(srv.errs.String(), "Sommer2026") || strings.Contains(srv.out.String(), "Sommer2026") {
		t.Fatal("a password in the server's log")
	}
}
