package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
)

// TwinOpener returns a new, empty store and a second handle on the same
// data, as another process (the CLI beside a server, a second instance)
// has it: changes made through other reach s's backend without passing
// through s.
type TwinOpener func(t *testing.T) (s, other store.Store)

// RunLogins runs the suite of the login seam (store.Logins) against stores
// made by open.
func RunLogins(t *testing.T, open TwinOpener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store, store.Store)
	}{
		{"StateOfUnknownAndTokenlessUsers", testLoginStateUsers},
		{"CodeAcceptedAtMostOnce", testCodeOnce},
		{"ConcurrentSubmissionsOneAccept", testConcurrentSubmissions},
		{"StaleReadConflicts", testStaleReadConflicts},
		{"RefusalsCountAndLock", testRefusalsLock},
		{"EveryLoginAudited", testEveryLoginAudited},
		{"FailureBudgetShared", testFailureBudget},
		{"AcceptRecordsItsRequest", testAcceptRecordsRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, other := open(t)
			t.Cleanup(func() { s.Close(); other.Close() })
			tc.fn(t, s, other)
		})
	}
}

// loginState reads name's state, failing t on an error.
func loginState(t *testing.T, s store.Store, name string, fresh bool) store.LoginState {
	t.Helper()
	st, err := s.LoginState(context.Background(), name, fresh)
	if err != nil {
		t.Fatalf("LoginState(%q, fresh %v): %v", name, fresh, err)
	}
	return st
}

// acceptOf is the accept of the first token in st, moving its counter to counter.
func acceptOf(st store.LoginState, counter uint64) store.AuthCommit {
	tok := st.Tokens[0]
	return store.AuthCommit{At: time.Unix(1_700_000_000, 0),
		Tokens: []store.TokenAuth{{ID: tok.ID, UserID: st.User.ID, Accepted: true, Activate: tok.State == store.StateAssigned,
			Version: tok.Version, Counter: counter}},
		Audit: store.AuditEvent{Actor: "radius:nas", Action: "auth", User: st.User.Name, Serial: tok.Serial, Result: "accept:ok"}}
}

func testLoginStateUsers(t *testing.T, s, _ store.Store) {
	ctx := context.Background()
	if _, err := s.LoginState(ctx, "nobody", false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v, want ErrNotFound", err)
	}
	mustUser(t, s, "alice")
	st := loginState(t, s, "alice", false)
	if st.User.Name != "alice" || len(st.Tokens) != 0 {
		t.Fatalf("tokenless user: %+v", st)
	}
	mustToken(t, s, store.Token{Serial: "A1", User: "alice"})
	st = loginState(t, s, "ALICE", false)
	if len(st.Tokens) != 1 || string(st.Tokens[0].Seed) != "12345678901234567890" {
		t.Fatalf("after enrolling (name in another case): %+v", st.Tokens)
	}
}

// A code is accepted once: the accept moves the token on, and the same
// accept again (a replay, a retransmission decided twice) conflicts.
func testCodeOnce(t *testing.T, s, _ store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	mustToken(t, s, store.Token{Serial: "A1", User: "alice", State: store.StateAssigned})
	read := loginState(t, s, "alice", false)
	if err := s.CommitAuth(ctx, acceptOf(read, 5)); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitAuth(ctx, acceptOf(read, 5)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the same accept again: %v, want ErrConflict", err)
	}
	for _, fresh := range []bool{false, true} {
		got := loginState(t, s, "alice", fresh).Tokens[0]
		if got.Counter != 5 || got.State != store.StateActive || got.Version != read.Tokens[0].Version+1 {
			t.Fatalf("after the accept (fresh %v): counter %d state %s version %d", fresh, got.Counter, got.State, got.Version)
		}
	}
}

// errReplay is a submission decided as a replay on its read.
var errReplay = errors.New("replayed")

// Many submissions of one code at once, each decided on its own read as
// the login path decides (a read showing the code used is a replay):
// exactly one accept; the others conflict or are replays.
func testConcurrentSubmissions(t *testing.T, s, _ store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	mustToken(t, s, store.Token{Serial: "A1", User: "alice"})
	loginState(t, s, "alice", false) // warm whatever keeps state in memory
	const n = 50
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			st, err := s.LoginState(ctx, "alice", false)
			if err != nil {
				errs[i] = err
				return
			}
			if st.Tokens[0].Counter > 0 {
				// Read after the code's accept: decided as a replay.
				errs[i] = errReplay
				return
			}
			errs[i] = s.CommitAuth(ctx, acceptOf(st, 1))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict) && !errors.Is(err, errReplay):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d submissions of one code accepted, want exactly 1", ok, n)
	}
}

// A login decided on a state read before a change, made through this
// store or another handle, conflicts and writes nothing; a fresh read
// then shows the change.
func testStaleReadConflicts(t *testing.T, s, other store.Store) {
	ctx := context.Background()
	changes := []struct {
		name   string
		change func(t *testing.T, st store.Store, tok store.Token)
		check  func(st store.LoginState) bool // the fresh read shows it
	}{
		{"user disabled", func(t *testing.T, st store.Store, tok store.Token) {
			must(t, st.SetUserDisabled(ctx, by, tok.User, true))
		}, func(st store.LoginState) bool { return st.User.Disabled }},
		{"token revoked", func(t *testing.T, st store.Store, tok store.Token) {
			_, err := st.UpdateToken(ctx, by, tok.Serial, "token.revoke", func(x *store.Token) error { x.State = store.StateRevoked; return nil })
			must(t, err)
		}, func(st store.LoginState) bool { return st.Tokens[0].State == store.StateRevoked }},
		{"PIN set", func(t *testing.T, st store.Store, tok store.Token) {
			_, err := st.UpdateToken(ctx, by, tok.Serial, "token.pin", func(x *store.Token) error { x.PINHash = "argon2id$x"; return nil })
			must(t, err)
		}, func(st store.LoginState) bool { return st.Tokens[0].HasPIN() }},
		{"counter moved on", func(t *testing.T, st store.Store, tok store.Token) {
			read := loginState(t, st, tok.User, true)
			must(t, st.CommitAuth(ctx, acceptOf(read, 40)))
		}, func(st store.LoginState) bool { return st.Tokens[0].Counter == 40 }},
		{"token deleted", func(t *testing.T, st store.Store, tok store.Token) {
			must(t, st.DeleteToken(ctx, by, tok.Serial))
		}, func(st store.LoginState) bool { return len(st.Tokens) == 0 }},
	}
	for i, tc := range changes {
		for _, via := range []struct {
			name string
			st   store.Store
		}{{"here", s}, {"elsewhere", other}} {
			t.Run(tc.name+" "+via.name, func(t *testing.T) {
				name := fmt.Sprintf("u%d%s", i, via.name)
				mustUser(t, s, name)
				tok := mustToken(t, s, store.Token{Serial: "S-" + name, User: name})
				loginState(t, s, name, false)
				read := loginState(t, s, name, false)
				tc.change(t, via.st, tok)
				if err := s.CommitAuth(ctx, acceptOf(read, 7)); !errors.Is(err, store.ErrConflict) {
					t.Fatalf("accept on a read from before the change: %v, want ErrConflict", err)
				}
				if fresh := loginState(t, s, name, true); !tc.check(fresh) {
					t.Fatalf("a fresh read does not show the change: %+v", fresh)
				}
				if ev, _ := s.AuditEvents(ctx, store.AuditFilter{User: name, Action: "auth"}); len(ev) != 0 && tc.name != "counter moved on" {
					t.Fatalf("a conflicting accept wrote %d audit rows", len(ev))
				}
			})
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Refusals count against the token, lock it at the threshold, and an
// accept clears the count.
func testRefusalsLock(t *testing.T, s, _ store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	tok := mustToken(t, s, store.Token{Serial: "A1", User: "alice"})
	now := time.Unix(1_700_000_000, 0)
	until := now.Add(time.Minute).Unix()
	fail := store.AuthCommit{At: now, Tokens: []store.TokenAuth{{ID: tok.ID, Failed: true, LockAfter: 3, LockUntil: until}},
		Audit: store.AuditEvent{Actor: "radius:nas", Action: "auth", User: "alice", Result: "reject:bad_code"}}
	must(t, s.CommitAuth(ctx, fail))
	read := loginState(t, s, "alice", false)
	if read.Tokens[0].FailCount != 1 {
		t.Fatalf("after a refusal: fail count %d, want 1", read.Tokens[0].FailCount)
	}
	if err := s.CommitAuth(ctx, acceptOf(read, 3)); err != nil {
		t.Fatal(err)
	}
	if got := loginState(t, s, "alice", true).Tokens[0]; got.FailCount != 0 {
		t.Fatalf("after an accept: fail count %d, want 0", got.FailCount)
	}
	for i := 1; i <= 3; i++ {
		must(t, s.CommitAuth(ctx, fail))
		got := loginState(t, s, "alice", false).Tokens[0]
		if got.FailCount != i || got.Locked(now) != (i == 3) {
			t.Fatalf("after %d refusals: count %d locked %v", i, got.FailCount, got.Locked(now))
		}
	}
}

// Every recorded login, accepted or refused, has its audit row.
func testEveryLoginAudited(t *testing.T, s, _ store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	mustToken(t, s, store.Token{Serial: "A1", User: "alice"})
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := store.AuthCommit{At: time.Unix(1_700_000_000, 0),
				Audit: store.AuditEvent{Actor: "radius:nas", Action: "auth", User: "nobody", Result: "reject:unknown_user", Detail: fmt.Sprint(i)}}
			if err := s.CommitAuth(ctx, c); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	read := loginState(t, s, "alice", false)
	must(t, s.CommitAuth(ctx, acceptOf(read, 1)))
	if ev, _ := s.AuditEvents(ctx, store.AuditFilter{User: "nobody", Action: "auth"}); len(ev) != n {
		t.Fatalf("%d refusal audit rows, want %d", len(ev), n)
	}
	if ev, _ := s.AuditEvents(ctx, store.AuditFilter{User: "alice", Action: "auth"}); len(ev) != 1 || ev[0].Result != "accept:ok" {
		t.Fatalf("accept audit rows %+v, want one", ev)
	}
}

// The per-user budget of failed logins is kept in the store: charges made
// through another handle (another instance) limit the user on this one,
// the charge is written with its refusal, and an accept read before the
// budget was spent elsewhere conflicts.
func testFailureBudget(t *testing.T, s, other store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	mustToken(t, s, store.Token{Serial: "A1", User: "alice"})
	now := time.Unix(1_700_000_000, 0)
	limit := store.FailureLimit{Burst: 3, Every: time.Minute}
	stale := loginState(t, s, "alice", false)
	charge := store.AuthCommit{At: now, Charge: &store.FailureCharge{UserID: u.ID, Limit: limit},
		Audit: store.AuditEvent{Actor: "radius:other", Action: "auth", User: "alice", Result: "reject:bad_code"}}
	for i := 1; i <= 3; i++ {
		must(t, other.CommitAuth(ctx, charge))
		got := loginState(t, s, "alice", true).User
		if limited := limit.Limited(got, now); limited != (i == 3) {
			t.Fatalf("after %d charged refusals on the other handle: limited %v", i, limited)
		}
	}
	if ev, _ := s.AuditEvents(ctx, store.AuditFilter{User: "alice", Action: "auth"}); len(ev) != 3 {
		t.Fatalf("%d audit rows for 3 charged refusals", len(ev))
	}
	if got := loginState(t, s, "alice", true).User; limit.Limited(got, now.Add(limit.Every)) {
		t.Fatal("still limited after one period: the budget does not refill")
	}
	acc := acceptOf(stale, 1)
	acc.Tokens[0].MaxFailureTAT = limit.MaxTAT(now)
	if err := s.CommitAuth(ctx, acc); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an accept read before the budget was spent: %v, want ErrConflict", err)
	}
	if got := loginState(t, s, "alice", true).Tokens[0]; got.Counter != 0 {
		t.Fatalf("the refused accept wrote counter %d", got.Counter)
	}
	acc.Tokens[0].MaxFailureTAT = limit.MaxTAT(now.Add(limit.Every))
	must(t, s.CommitAuth(ctx, acc))
}

// An accept records the request that carried the code with the token, for
// every later read: cached, fresh, and another handle's.
func testAcceptRecordsRequest(t *testing.T, s, other store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	mustToken(t, s, store.Token{Serial: "A1", User: "alice"})
	key := []byte("0123456789abcdef")
	acc := acceptOf(loginState(t, s, "alice", false), 1)
	acc.Tokens[0].RequestKey = key
	must(t, s.CommitAuth(ctx, acc))
	for name, st := range map[string]store.LoginState{"cached": loginState(t, s, "alice", false),
		"fresh": loginState(t, s, "alice", true), "other": loginState(t, other, "alice", true)} {
		if got := st.Tokens[0].LastRequest; string(got) != string(key) {
			t.Errorf("%s read: LastRequest %q, want %q", name, got, key)
		}
	}
	acc = acceptOf(loginState(t, s, "alice", true), 2)
	must(t, s.CommitAuth(ctx, acc))
	if got := loginState(t, s, "alice", false).Tokens[0].LastRequest; got != nil {
		t.Errorf("after an accept without a request key: LastRequest %q, want none", got)
	}
}
