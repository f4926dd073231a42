package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
)

func testDirectories(t *testing.T, s store.Store) {
	ctx := context.Background()
	d := store.Directory{Name: "corp", URLs: []string{"ldaps://dc1.example.com", "ldaps://dc2.example.com:636"}, BindDN: "CN=radmfa,DC=example,DC=com",
		BindPassword: []byte("bind-secret"), BaseDN: "DC=example,DC=com", UserFilter: "(memberOf=CN=VPN,DC=example,DC=com)",
		LoginAttr: "sAMAccountName", EmailAttr: "mail", GroupAttr: "memberOf", StartTLS: true, CACert: []byte("-----BEGIN CERTIFICATE-----"),
		GroupMap: []store.GroupMapping{{Directory: "CN=VPN-Staff,DC=example,DC=com", Group: "staff"}}}
	if _, err := s.CreateDirectory(ctx, by, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDirectory(ctx, by, d); !errors.Is(err, store.ErrExists) {
		t.Fatalf("again: %v", err)
	}
	for name, bad := range map[string]store.Directory{
		"no URL":                {Name: "x", BaseDN: "dc=x", LoginAttr: "uid"},
		"an http URL":           {Name: "x", URLs: []string{"http://x"}, BaseDN: "dc=x", LoginAttr: "uid"},
		"a password in the URL": {Name: "x", URLs: []string{"ldap://admin:secret@x"}, BaseDN: "dc=x", LoginAttr: "uid"},
		"no login attr":         {Name: "x", URLs: []string{"ldap://x"}, BaseDN: "dc=x"},
	} {
		if _, err := s.CreateDirectory(ctx, by, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	got, err := s.Directory(ctx, "corp")
	if err != nil || string(got.BindPassword) != "bind-secret" || len(got.URLs) != 2 || got.URLs[1] != "ldaps://dc2.example.com:636" ||
		!got.StartTLS || got.GroupMap[0].Group != "staff" || got.LoginAttr != "sAMAccountName" || string(got.CACert) != string(d.CACert) {
		t.Fatalf("Directory = %+v, %v", got, err)
	}
	if all, _ := s.Directories(ctx); len(all) != 1 {
		t.Fatalf("Directories = %+v", all)
	}
	ev, _ := s.AuditEvents(ctx, store.AuditFilter{Action: "directory.add"})
	if len(ev) != 1 || strings.Contains(ev[0].Detail, "bind-secret") {
		t.Fatalf("audit %+v", ev)
	}
	// Removing the directory keeps its users, as users added by hand.
	if _, err := s.CreateUser(ctx, by, store.User{Name: "dora", Source: "corp", ExternalID: "CN=Dora,DC=example,DC=com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDirectory(ctx, by, "corp"); err != nil {
		t.Fatal(err)
	}
	if u, err := s.User(ctx, "dora"); err != nil || u.Source != "" {
		t.Fatalf("dora after the directory went: %+v, %v", u, err)
	}
	if err := s.DeleteDirectory(ctx, by, "corp"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("again: %v", err)
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, by, store.User{Name: "Ulla", Email: "u@old.example", Source: "corp", ExternalID: "uid=ulla"}); err != nil {
		t.Fatal(err)
	}
	u, err := s.UpdateUser(ctx, by, "ulla", "user.sync", func(u *store.User) error {
		u.Email, u.Group, u.Disabled = "u@new.example", "staff", true
		u.Name = "renamed" // ignored
		return nil
	})
	if err != nil || u.Name != "Ulla" || u.Group != "staff" {
		t.Fatalf("UpdateUser = %+v, %v", u, err)
	}
	got, _ := s.User(ctx, "ULLA")
	if got.Email != "u@new.example" || got.Group != "staff" || !got.Disabled || got.Source != "corp" || got.ExternalID != "uid=ulla" {
		t.Fatalf("User = %+v", got)
	}
	ev, _ := s.AuditEvents(ctx, store.AuditFilter{Action: "user.sync"})
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "group=staff") || !strings.Contains(ev[0].Detail, "disabled=true") {
		t.Fatalf("audit %+v", ev)
	}
	if _, err := s.UpdateUser(ctx, by, "nobody", "user.sync", func(*store.User) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}

func testPruneAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := time.Now().Add(-400 * 24 * time.Hour)
	for i := range 5 {
		if err := s.Audit(ctx, store.AuditEvent{At: base.Add(time.Duration(i) * 24 * time.Hour), Actor: "x", Action: "auth", Result: "accept:ok"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneAudit(ctx, by, base.Add(2*24*time.Hour+time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("PruneAudit = %d, %v; want 3", n, err)
	}
	rest, _ := s.AuditEvents(ctx, store.AuditFilter{})
	if len(rest) != 3 || rest[2].Action != "audit.prune" || !strings.Contains(rest[2].Detail, "deleted=3") {
		t.Fatalf("left: %+v", rest)
	}
}
