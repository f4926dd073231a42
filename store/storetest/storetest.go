// Package storetest is the suite every store.Store backend must pass. A
// backend's own test calls Run with a function that opens an empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
)

// Opener returns a new, empty store for one subtest.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Users", testUsers},
		{"UpdateUser", testUpdateUser},
		{"Directories", testDirectories},
		{"DeleteUserTokens", testDeleteUserTokens},
		{"Tokens", testTokens},
		{"UpdateToken", testUpdateToken},
		{"CommitAuthCompareAndSet", testCommitAuthCAS},
		{"ConcurrentAcceptExactlyOnce", testConcurrentAccept},
		{"FailuresLock", testFailuresLock},
		{"Clients", testClients},
		{"UpdateClient", testUpdateClient},
		{"RadSecClient", testRadSecClient},
		{"Accounting", testAccounting},
		{"AccountingNASRestart", testAccountingNASRestart},
		{"Audit", testAudit},
		{"PruneAudit", testPruneAudit},
		{"ReplyAttrs", testReplyAttrs},
		{"PushActivation", testPushActivation},
		{"SoftActivation", testSoftActivation},
		{"DeviceWebAuthn", testDeviceWebAuthn},
		{"PushDevices", testPushDevices},
		{"Settings", testSettings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

const by = "test"

func mustUser(t *testing.T, s store.Store, name string) store.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), by, store.User{Name: name, Email: name + "@example.com"})
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

func mustToken(t *testing.T, s store.Store, tok store.Token) store.Token {
	t.Helper()
	if tok.Type == "" {
		tok.Type = "hotp"
	}
	if tok.Origin == "" {
		tok.Origin = store.OriginSoft
	}
	if tok.State == "" {
		tok.State = store.StateActive
	}
	if tok.Algorithm == "" {
		tok.Algorithm = "SHA1"
	}
	if tok.Digits == 0 {
		tok.Digits = 6
	}
	if tok.Seed == nil {
		tok.Seed = []byte("12345678901234567890")
	}
	got, err := s.CreateToken(context.Background(), by, tok)
	if err != nil {
		t.Fatalf("CreateToken(%q): %v", tok.Serial, err)
	}
	return got
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	mustUser(t, s, "bob")
	if _, err := s.CreateUser(ctx, by, store.User{Name: "Alice"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate user (other case): err = %v, want ErrExists", err)
	}
	u, err := s.User(ctx, "ALICE")
	if err != nil || u.Name != "alice" || u.Email != "alice@example.com" || u.CreatedAt.IsZero() {
		t.Fatalf("User(ALICE) = %+v, %v", u, err)
	}
	if _, err := s.User(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("User(carol): err = %v, want ErrNotFound", err)
	}
	if err := s.SetUserDisabled(ctx, by, "bob", true); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, "bob"); !u.Disabled {
		t.Fatal("bob not disabled")
	}
	if err := s.SetUserDisabled(ctx, by, "bob", false); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, "bob"); u.Disabled {
		t.Fatal("bob still disabled")
	}
	if err := s.SetUserDisabled(ctx, by, "nobody", true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("disable unknown: err = %v", err)
	}
	all, err := s.Users(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "alice" || all[1].Name != "bob" {
		t.Fatalf("Users() = %+v, %v", all, err)
	}
}

func testDeleteUserTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	mustToken(t, s, store.Token{Serial: "SOFT1", User: "alice"})
	mustToken(t, s, store.Token{Serial: "HW1", User: "alice", Origin: store.OriginHardware, PINHash: "x", FailCount: 3})
	res, err := s.DeleteUser(ctx, by, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 1 || res.Deleted[0] != "SOFT1" || len(res.ToInventory) != 1 || res.ToInventory[0] != "HW1" {
		t.Fatalf("DeleteUser = %+v", res)
	}
	if _, err := s.Token(ctx, "SOFT1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("soft token survived: %v", err)
	}
	hw, err := s.Token(ctx, "HW1")
	if err != nil || hw.User != "" || hw.State != store.StateInventory || hw.HasPIN() || hw.FailCount != 0 {
		t.Fatalf("hardware token after delete = %+v, %v", hw, err)
	}
	if _, err := s.User(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("user survived: %v", err)
	}
	if _, err := s.DeleteUser(ctx, by, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	seed := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	mustToken(t, s, store.Token{Serial: "T2", User: "alice", Type: "totp", Period: 30, Seed: seed, Digits: 8})
	mustToken(t, s, store.Token{Serial: "T1", State: store.StateInventory, Origin: store.OriginHardware})
	if _, err := s.CreateToken(ctx, by, store.Token{Serial: "T1", Type: "hotp", State: store.StateInventory}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate serial: %v", err)
	}
	if _, err := s.CreateToken(ctx, by, store.Token{Serial: "T9", User: "nobody", Type: "hotp"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token for unknown user: %v", err)
	}
	got, err := s.Token(ctx, "T2")
	if err != nil || !bytes.Equal(got.Seed, seed) || got.User != "alice" || got.Digits != 8 || got.Period != 30 || got.Version == 0 {
		t.Fatalf("Token(T2) = %+v, %v", got, err)
	}
	list, err := s.Tokens(ctx, store.TokenFilter{})
	if err != nil || len(list) != 2 || list[0].Serial != "T1" || list[1].Serial != "T2" {
		t.Fatalf("Tokens() = %+v, %v", list, err)
	}
	for _, tok := range list {
		if tok.Seed != nil {
			t.Fatalf("Tokens() returned a seed for %s", tok.Serial)
		}
	}
	tests := []struct {
		name string
		f    store.TokenFilter
		want int
	}{
		{"by user", store.TokenFilter{User: "alice"}, 1},
		{"by state", store.TokenFilter{State: store.StateInventory}, 1},
		{"by both", store.TokenFilter{User: "alice", State: store.StateInventory}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := s.Tokens(ctx, tc.f)
			if err != nil || len(l) != tc.want {
				t.Fatalf("Tokens(%+v) = %d tokens, %v; want %d", tc.f, len(l), err, tc.want)
			}
		})
	}
	u, toks, err := s.UserTokens(ctx, "Alice")
	if err != nil || u.Name != "alice" || len(toks) != 1 || !bytes.Equal(toks[0].Seed, seed) {
		t.Fatalf("UserTokens = %+v, %+v, %v", u, toks, err)
	}
	if err := s.DeleteToken(ctx, by, "T1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteToken(ctx, by, "T1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testUpdateToken(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	orig := mustToken(t, s, store.Token{Serial: "U1", State: store.StateInventory, Origin: store.OriginHardware})
	got, err := s.UpdateToken(ctx, by, "U1", "token.assign", func(tok *store.Token) error {
		tok.User = "alice"
		tok.State = store.StateAssigned
		return nil
	})
	if err != nil || got.User != "alice" || got.Version <= orig.Version {
		t.Fatalf("UpdateToken = %+v, %v", got, err)
	}
	reread, _ := s.Token(ctx, "U1")
	if reread.User != "alice" || reread.State != store.StateAssigned || !bytes.Equal(reread.Seed, orig.Seed) {
		t.Fatalf("after update: %+v", reread)
	}
	boom := errors.New("refused")
	if _, err := s.UpdateToken(ctx, by, "U1", "token.x", func(tok *store.Token) error {
		tok.State = store.StateRevoked
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("fn error not returned: %v", err)
	}
	if reread, _ := s.Token(ctx, "U1"); reread.State != store.StateAssigned {
		t.Fatal("a refused update was written")
	}
	if _, err := s.UpdateToken(ctx, by, "U1", "token.destroy", func(tok *store.Token) error {
		tok.Seed = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if reread, _ := s.Token(ctx, "U1"); reread.Seed != nil {
		t.Fatal("seed not destroyed")
	}
	if _, err := s.UpdateToken(ctx, by, "NOPE", "x", func(*store.Token) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown serial: %v", err)
	}
}

func testCommitAuthCAS(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := mustUser(t, s, "alice")
	tok := mustToken(t, s, store.Token{Serial: "C1", User: "alice", State: store.StateAssigned, FailCount: 2})
	at := time.Unix(1_700_000_000, 0)
	ok := store.AuthCommit{At: at, Tokens: []store.TokenAuth{{ID: tok.ID, UserID: alice.ID, Accepted: true, Activate: true, Version: tok.Version, Counter: 5}},
		Audit: store.AuditEvent{Actor: "radius:nas", Action: "auth", User: "alice", Serial: "C1", Result: "accept"}}
	if err := s.CommitAuth(ctx, ok); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Token(ctx, "C1")
	if got.Counter != 5 || got.FailCount != 0 || got.State != store.StateActive || !got.LastUsed.Equal(at) {
		t.Fatalf("after accept: %+v", got)
	}
	// The same version again is a stale read: conflict, nothing written.
	stale := ok
	stale.Tokens = []store.TokenAuth{{ID: tok.ID, UserID: alice.ID, Accepted: true, Version: tok.Version, Counter: 9}}
	if err := s.CommitAuth(ctx, stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale commit: %v, want ErrConflict", err)
	}
	if got, _ := s.Token(ctx, "C1"); got.Counter != 5 {
		t.Fatalf("stale commit wrote counter %d", got.Counter)
	}
	// The right version is not enough when the user was disabled meanwhile,
	// or when the token now belongs to someone else.
	cur, _ := s.Token(ctx, "C1")
	if err := s.SetUserDisabled(ctx, by, "alice", true); err != nil {
		t.Fatal(err)
	}
	disabled := ok
	disabled.Tokens = []store.TokenAuth{{ID: tok.ID, UserID: alice.ID, Accepted: true, Version: cur.Version, Counter: 9}}
	if err := s.CommitAuth(ctx, disabled); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("accept for a disabled user: %v, want ErrConflict", err)
	}
	s.SetUserDisabled(ctx, by, "alice", false)
	bob := mustUser(t, s, "bob")
	other := ok
	other.Tokens = []store.TokenAuth{{ID: tok.ID, UserID: bob.ID, Accepted: true, Version: cur.Version, Counter: 9}}
	if err := s.CommitAuth(ctx, other); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("accept for another user's token: %v, want ErrConflict", err)
	}
	ev, _ := s.AuditEvents(ctx, store.AuditFilter{User: "alice"})
	n := 0
	for _, e := range ev {
		if e.Action == "auth" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d auth audit rows, want 1 (a conflicting commit writes none)", n)
	}
}

func testConcurrentAccept(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := mustUser(t, s, "alice")
	tok := mustToken(t, s, store.Token{Serial: "R1", User: "alice"})
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CommitAuth(ctx, store.AuthCommit{At: time.Now(),
				Tokens: []store.TokenAuth{{ID: tok.ID, UserID: alice.ID, Accepted: true, Version: tok.Version, Counter: 1}},
				Audit:  store.AuditEvent{Actor: "t", Action: "auth", User: "alice", Result: "accept"}})
		})
	}
	wg.Wait()
	okCount := 0
	for _, err := range errs {
		switch {
		case err == nil:
			okCount++
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if okCount != 1 {
		t.Fatalf("%d concurrent accepts of one version succeeded, want exactly 1", okCount)
	}
}

func testFailuresLock(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	tok := mustToken(t, s, store.Token{Serial: "L1", User: "alice"})
	now := time.Unix(1_700_000_000, 0)
	until := now.Add(time.Minute).Unix()
	fail := store.AuthCommit{At: now, Tokens: []store.TokenAuth{{ID: tok.ID, Failed: true, LockAfter: 3, LockUntil: until}},
		Audit: store.AuditEvent{Actor: "t", Action: "auth", User: "alice", Result: "reject"}}
	for i := 1; i <= 3; i++ {
		if err := s.CommitAuth(ctx, fail); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Token(ctx, "L1")
		if got.FailCount != i {
			t.Fatalf("after %d failures count = %d", i, got.FailCount)
		}
		if locked := got.Locked(now); locked != (i == 3) {
			t.Fatalf("after %d failures locked = %v", i, locked)
		}
	}
	got, _ := s.Token(ctx, "L1")
	if got.Locked(time.Unix(until, 0)) {
		t.Fatal("still locked when the lock ran out")
	}
}

func testClients(t *testing.T, s store.Store) {
	ctx := context.Background()
	v0, err := s.ClientsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := store.Client{Name: "vpn1", Prefix: netip.MustParsePrefix("10.1.2.3/24"), Secret: []byte("s3cret"), RequireMessageAuthenticator: true, NASType: "cisco"}
	if _, err := s.CreateClient(ctx, by, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateClient(ctx, by, c); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate client: %v", err)
	}
	if _, err := s.CreateClient(ctx, by, store.Client{Name: "x", Prefix: c.Prefix}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("client without secret: %v", err)
	}
	got, err := s.Client(ctx, "vpn1")
	if err != nil || string(got.Secret) != "s3cret" || got.Prefix.String() != "10.1.2.0/24" || !got.RequireMessageAuthenticator || got.NASType != "cisco" {
		t.Fatalf("Client(vpn1) = %+v, %v", got, err)
	}
	v1, _ := s.ClientsVersion(ctx)
	if v1 == v0 {
		t.Fatal("ClientsVersion did not change on add")
	}
	if err := s.DeleteClient(ctx, by, "vpn1"); err != nil {
		t.Fatal(err)
	}
	if v2, _ := s.ClientsVersion(ctx); v2 == v1 {
		t.Fatal("ClientsVersion did not change on remove")
	}
	if err := s.DeleteClient(ctx, by, "vpn1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if all, _ := s.Clients(ctx); len(all) != 0 {
		t.Fatalf("Clients() = %+v", all)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	mustUser(t, s, "bob")
	mustToken(t, s, store.Token{Serial: "A1", User: "alice"})
	if err := s.Audit(ctx, store.AuditEvent{Actor: "x", Action: "auth", User: "bob", Result: "reject", Detail: "no token"}); err != nil {
		t.Fatal(err)
	}
	ev, err := s.AuditEvents(ctx, store.AuditFilter{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 2 || ev[0].Action != "user.add" || ev[1].Action != "token.create" || ev[1].Serial != "A1" || ev[0].Actor != by {
		t.Fatalf("alice's audit = %+v", ev)
	}
	all, _ := s.AuditEvents(ctx, store.AuditFilter{})
	if len(all) != 4 || all[3].Detail != "no token" || all[3].At.IsZero() {
		t.Fatalf("all audit = %+v", all)
	}
	last, _ := s.AuditEvents(ctx, store.AuditFilter{Limit: 1})
	if len(last) != 1 || last[0].ID != all[3].ID {
		t.Fatalf("Limit 1 = %+v", last)
	}
	future, _ := s.AuditEvents(ctx, store.AuditFilter{Since: time.Now().Add(time.Hour)})
	if len(future) != 0 {
		t.Fatalf("Since in the future returned %d rows", len(future))
	}

	// The filters an administrator combines to find logins.
	t0 := time.Unix(1_800_000_000, 0)
	for i, e := range []store.AuditEvent{
		{Action: "auth", User: "Carol", Client: "vpn1", Result: "accept:ok"},
		{Action: "auth", User: "carol", Client: "vpn2", Result: "reject:bad_code"},
		{Action: "auth", User: "carol", Client: "vpn1", Result: "reject:rate_limited"},
		{Action: "auth", User: "dave", Client: "vpn1", Result: "rejected-looking"},
		{Action: "user.add", User: "carol", Result: "ok"},
	} {
		e.Actor, e.At = "f", t0.Add(time.Duration(i)*time.Minute)
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.AuditFilter
		want []string // results, oldest first
	}{
		{"result kind", store.AuditFilter{Result: "reject", Since: t0}, []string{"reject:bad_code", "reject:rate_limited"}},
		{"exact result", store.AuditFilter{Result: "reject:bad_code"}, []string{"reject:bad_code"}},
		{"action", store.AuditFilter{Action: "auth", User: "CAROL"}, []string{"accept:ok", "reject:bad_code", "reject:rate_limited"}},
		{"client", store.AuditFilter{Client: "vpn1", Result: "reject"}, []string{"reject:rate_limited"}},
		{"window", store.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{"reject:bad_code", "reject:rate_limited"}},
	}
	for _, tc := range tests {
		ev, err := s.AuditEvents(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, e := range ev {
			got = append(got, e.Result)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testReplyAttrs(t *testing.T, s store.Store) {
	ctx := context.Background()
	v0, _ := s.ClientsVersion(ctx)
	a, err := s.AddReplyAttr(ctx, by, store.ReplyAttr{Scope: "group", Target: "staff", Attr: "Filter-Id", Value: "staff-acl"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddReplyAttr(ctx, by, store.ReplyAttr{Scope: "client", Target: "vpn1", Attr: "Class", Value: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddReplyAttr(ctx, by, store.ReplyAttr{Scope: "user", Target: "x", Attr: "Class"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad scope: %v", err)
	}
	if v1, _ := s.ClientsVersion(ctx); v1 == v0 {
		t.Fatal("ClientsVersion did not change on a reply attribute")
	}
	all, err := s.ReplyAttrs(ctx)
	if err != nil || len(all) != 2 || all[0] != a {
		t.Fatalf("ReplyAttrs = %+v, %v", all, err)
	}
	if err := s.DeleteReplyAttr(ctx, by, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteReplyAttr(ctx, by, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
