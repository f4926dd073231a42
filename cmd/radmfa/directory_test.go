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
