package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// authFixture is a store with users u0..n-1, each with one active HOTP
// token T0..n-1, and a long linger so that concurrent writes share a
// transaction. opts change the Options before the store opens.
func authFixture(t testing.TB, n int, opts ...func(*Options)) (s *SQLite, path string, users []User, toks []Token) {
	t.Helper()
	dir := t.TempDir()
	key, err := CreateKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "radmfa.db")
	o := Options{Path: path, Key: key, Linger: 20 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	s, err = OpenSQLite(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	for i := range n {
		u, err := s.CreateUser(ctx, "test", User{Name: fmt.Sprintf("u%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.CreateToken(ctx, "test", Token{Serial: fmt.Sprintf("T%d", i), User: u.Name, Type: "hotp",
			Origin: OriginSoft, State: StateActive, Algorithm: "SHA1", Digits: 6, Seed: []byte("12345678901234567890")})
		if err != nil {
			t.Fatal(err)
		}
		users, toks = append(users, u), append(toks, tok)
	}
	return s, path, users, toks
}

// commitAll runs the commits concurrently and returns their errors.
func commitAll(s *SQLite, cs []AuthCommit) []error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = s.CommitAuth(context.Background(), c) })
	}
	wg.Wait()
	return errs
}

func authRows(t *testing.T, s *SQLite) map[string]int {
	t.Helper()
	ev, err := s.AuditEvents(context.Background(), AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{}
	for _, e := range ev {
		if e.Action == "auth" {
			rows[e.User+"/"+e.Result]++
		}
	}
	return rows
}

// TestAuthWriterCommitsBatches: concurrent authentications commit through
// the authentication writer, several to a transaction, each as the
// database/sql path would write it: an accept moves its token on, a stale
// one conflicts without writing anything or taking the others down, a
// failure counts, and every authentication written has its audit row.
func TestAuthWriterCommitsBatches(t *testing.T) {
	s, _, users, toks := authFixture(t, 8)
	at := time.Unix(1_700_000_000, 0)
	var cs []AuthCommit
	for i := range 6 {
		cs = append(cs, AuthCommit{At: at,
			Tokens: []TokenAuth{{ID: toks[i].ID, UserID: users[i].ID, Accepted: true, Version: toks[i].Version, Counter: uint64(10 + i), Drift: 1}},
			Audit:  AuditEvent{Actor: "radius:nas", Action: "auth", User: users[i].Name, Serial: toks[i].Serial, Result: "accept", Detail: "ok"}})
	}
	// A stale version for u6, and two failures for u7.
	cs = append(cs, AuthCommit{At: at,
		Tokens: []TokenAuth{{ID: toks[6].ID, UserID: users[6].ID, Accepted: true, Version: toks[6].Version - 1, Counter: 99}},
		Audit:  AuditEvent{Actor: "radius:nas", Action: "auth", User: users[6].Name, Result: "accept"}})
	for range 2 {
		cs = append(cs, AuthCommit{At: at, Tokens: []TokenAuth{{ID: toks[7].ID, Failed: true, LockAfter: 5, LockUntil: at.Add(time.Minute).Unix()}},
			Audit: AuditEvent{Actor: "radius:nas", Action: "auth", User: users[7].Name, Result: "reject"}})
	}
	errs := commitAll(s, cs)
	for i, err := range errs {
		switch {
		case i == 6:
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), fmt.Sprintf("token %d", toks[6].ID)) {
				t.Errorf("stale accept: %v, want the token's ErrConflict", err)
			}
		case err != nil:
			t.Errorf("commit %d: %v", i, err)
		}
	}
	if s.awBatches.Load() == 0 || s.awBatches.Load() >= int64(len(cs)) || s.awFailed.Load() != 0 {
		t.Fatalf("authentication writer: %d batches, %d failed, for %d commits", s.awBatches.Load(), s.awFailed.Load(), len(cs))
	}
	ctx := context.Background()
	for i := range 6 {
		got, _ := s.Token(ctx, toks[i].Serial)
		if got.Counter != uint64(10+i) || got.Drift != 1 || got.Version != toks[i].Version+1 || !got.LastUsed.Equal(at) {
			t.Errorf("%s after accept: %+v", toks[i].Serial, got)
		}
	}
	if got, _ := s.Token(ctx, "T6"); got.Counter != toks[6].Counter || got.Version != toks[6].Version {
		t.Errorf("the stale accept wrote: %+v", got)
	}
	if got, _ := s.Token(ctx, "T7"); got.FailCount != 2 {
		t.Errorf("T7 fail count %d, want 2", got.FailCount)
	}
	rows := authRows(t, s)
	want := map[string]int{"u0/accept": 1, "u1/accept": 1, "u2/accept": 1, "u3/accept": 1, "u4/accept": 1, "u5/accept": 1, "u7/reject": 2}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("audit rows %v, want %v", rows, want)
	}
}

// TestAuthWriterFailureFallsBack: when the authentication writer's
// transaction fails it writes nothing, and the database/sql writer commits
// the batch instead, once.
func TestAuthWriterFailureFallsBack(t *testing.T) {
	s, path, users, toks := authFixture(t, 2)
	// An accept that breaks a NOT NULL constraint fails every batch.
	broken, err := openAuthWriter(path, "NORMAL", writerCheckpointPages,
		[6]string{strings.Replace(sqlAccept, "counter = ?,", "counter = ?, serial = NULL,", 1), sqlAcceptActivate, sqlFail, auditInsert,
			sqlJournaled, sqlJournalPos})
	if err != nil {
		t.Fatal(err)
	}
	s.aw.close()
	s.aw = broken
	at := time.Unix(1_700_000_000, 0)
	var cs []AuthCommit
	for i := range 2 {
		cs = append(cs, AuthCommit{At: at,
			Tokens: []TokenAuth{{ID: toks[i].ID, UserID: users[i].ID, Accepted: true, Version: toks[i].Version, Counter: 7}},
			Audit:  AuditEvent{Actor: "radius:nas", Action: "auth", User: users[i].Name, Result: "accept"}})
	}
	for i, err := range commitAll(s, cs) {
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	if s.awFailed.Load() == 0 || s.awBatches.Load() != 0 {
		t.Fatalf("authentication writer: %d batches, %d failed; the test did not fail it", s.awBatches.Load(), s.awFailed.Load())
	}
	for i := range 2 {
		got, _ := s.Token(context.Background(), toks[i].Serial)
		if got.Counter != 7 || got.Serial != toks[i].Serial || got.Version != toks[i].Version+1 {
			t.Errorf("%s: %+v", toks[i].Serial, got)
		}
	}
	if rows := authRows(t, s); rows["u0/accept"] != 1 || rows["u1/accept"] != 1 {
		t.Errorf("audit rows %v, want one accept each", rows)
	}
}
