package directory_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/directory"
	"github.com/radmfa/radmfa/internal/slapdtest"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	dir := t.TempDir()
	key, err := store.CreateKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(sqlite.Options{Path: filepath.Join(dir, "radmfa.db"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func source(s *slapdtest.Server) store.Directory {
	return store.Directory{Name: "corp", URLs: []string{s.URL}, BindDN: slapdtest.AdminDN, BindPassword: []byte(slapdtest.AdminPW),
		BaseDN: slapdtest.PeopleDN, UserFilter: "(objectClass=inetOrgPerson)", LoginAttr: "uid", EmailAttr: "mail",
		GroupAttr: "memberOf", StartTLS: true, CACert: s.CAPEM,
		GroupMap: []store.GroupMapping{{Directory: "vpn-staff", Group: "staff"}, {Directory: "cn=vpn-contractors," + slapdtest.GroupsDN, Group: "contractors"}}}
}

// Sync against a real OpenLDAP over StartTLS with a test CA: users that
// appear are created with their email and mapped group, changes follow,
// a user that leaves is disabled (never deleted), a user added by hand
// is left alone, and a dry run changes nothing.
func TestSyncFromOpenLDAP(t *testing.T) {
	s := slapdtest.Start(t)
	ann := s.AddUser("ann", "ann@example.com", "ann-pw")
	bob := s.AddUser("bob", "bob@example.com", "bob-pw")
	s.AddUser("carl", "carl@example.com", "carl-pw")
	s.AddGroup("vpn-staff", ann)
	s.AddGroup("vpn-contractors", bob)
	st := openStore(t)
	ctx := context.Background()
	if _, err := st.CreateUser(ctx, "test", store.User{Name: "carl", Email: "carl@hand.example"}); err != nil {
		t.Fatal(err)
	}
	d := source(s)
	entries, err := directory.Users(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	dry, err := directory.Sync(ctx, st, d, entries, "directory:corp", true)
	if err != nil || dry.Created != 2 || dry.Kept != 1 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if users, _ := st.Users(ctx); len(users) != 1 {
		t.Fatalf("a dry run created users: %+v", users)
	}
	res, err := directory.Sync(ctx, st, d, entries, "directory:corp", false)
	if err != nil || res.Created != 2 || res.Kept != 1 {
		t.Fatalf("sync: %+v, %v", res, err)
	}
	for name, want := range map[string]store.User{
		"ann":  {Email: "ann@example.com", Group: "staff", Source: "corp", ExternalID: ann},
		"bob":  {Email: "bob@example.com", Group: "contractors", Source: "corp", ExternalID: bob},
		"carl": {Email: "carl@hand.example"},
	} {
		u, err := st.User(ctx, name)
		if err != nil || u.Email != want.Email || u.Group != want.Group || u.Source != want.Source || !strings.EqualFold(u.ExternalID, want.ExternalID) || u.Disabled {
			t.Fatalf("%s = %+v, %v", name, u, err)
		}
	}
	// The directory changes: bob's mail, ann leaves.
	s.Modify(bob, "mail", "robert@example.com")
	s.Delete(ann)
	entries, _ = directory.Users(ctx, d)
	res, err = directory.Sync(ctx, st, d, entries, "directory:corp", false)
	if err != nil || res.Updated != 1 || res.Disabled != 1 || res.Created != 0 {
		t.Fatalf("second sync: %+v, %v", res, err)
	}
	if u, _ := st.User(ctx, "ann"); !u.Disabled {
		t.Fatal("ann left the directory and is not disabled")
	}
	if u, _ := st.User(ctx, "bob"); u.Email != "robert@example.com" {
		t.Fatalf("bob = %+v", u)
	}
	ev, _ := st.AuditEvents(ctx, store.AuditFilter{Action: "user.sync"})
	if len(ev) != 2 {
		t.Fatalf("audit rows of the changes: %+v", ev)
	}
	if !strings.Contains(res.Summary(), "1 updated, 1 disabled") {
		t.Fatalf("summary %q", res.Summary())
	}
}

// The directory password: right, wrong, a user that does not exist, an
// empty password; the second URL is used when the first is down, and a
// directory that is down is told apart from a wrong password.
func TestCheckPassword(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("dana", "dana@example.com", "correct horse")
	d := source(s)
	ctx := context.Background()
	down := "ldap://127.0.0.1:1"
	d.URLs = []string{down, s.URL}
	if e, err := directory.CheckPassword(ctx, d, "dana", "correct horse"); err != nil || e.Login != "dana" {
		t.Fatalf("right password (second URL): %+v, %v", e, err)
	}
	for name, pw := range map[string]string{"wrong": "battery staple", "empty": ""} {
		if _, err := directory.CheckPassword(ctx, d, "dana", pw); !errors.Is(err, directory.ErrBadPassword) {
			t.Errorf("%s password: %v", name, err)
		}
	}
	if _, err := directory.CheckPassword(ctx, d, "nobody*)(uid=*", "x"); !errors.Is(err, directory.ErrBadPassword) {
		t.Errorf("an injected name: %v", err)
	}
	d.URLs = []string{down}
	start := time.Now()
	if _, err := directory.CheckPassword(ctx, d, "dana", "correct horse"); !errors.Is(err, directory.ErrUnreachable) {
		t.Fatalf("directory down: %v", err)
	}
	if took := time.Since(start); took > directory.Timeout+time.Second {
		t.Fatalf("a directory that is down took %v", took)
	}
}

// 10,000 users come in one paged search and one sync.
func TestSyncTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	s := slapdtest.Start(t)
	c := s.Admin()
	for i := range 10000 {
		uid := fmt.Sprintf("u%05d", i)
		if err := c.Add(slapdtest.Person(uid)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	st := openStore(t)
	d := source(s)
	ctx := context.Background()
	start := time.Now()
	entries, err := directory.Users(ctx, d)
	if err != nil || len(entries) != 10000 {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	read := time.Since(start)
	res, err := directory.Sync(ctx, st, d, entries, "directory:corp", false)
	if err != nil || res.Created != 10000 {
		t.Fatalf("%+v, %v", res.Summary(), err)
	}
	t.Logf("10,000 users: read in %v (one paged search), synced in %v", read.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if users, _ := st.Users(ctx); len(users) != 10000 {
		t.Fatalf("%d users", len(users))
	}
}
