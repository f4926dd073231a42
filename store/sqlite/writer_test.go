package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/radmfa/radmfa/store"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, _ := openTestAt(t)
	return s
}

// openTestAt is openTest with the database's path.
func openTestAt(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	key, err := store.CreateKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Path: filepath.Join(dir, "radmfa.db"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, filepath.Join(dir, "radmfa.db")
}

// commitSizes reads the store's own metric of writes per transaction:
// how many transactions, and how many writes in all.
func commitSizes(t *testing.T, s *Store) (transactions, writes uint64) {
	t.Helper()
	var m dto.Metric
	if err := s.metrics.writes.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), uint64(m.GetHistogram().GetSampleSum())
}

// holdWriter queues a write that blocks the writer inside its transaction
// until the returned func is called, and returns once it has started.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.write(context.Background(), func(*sql.Tx) error {
			close(started)
			<-hold
			return nil
		})
	}()
	<-started
	return func() {
		close(hold)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// waitQueued waits until n writes are queued for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.writes.Len() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", s.writes.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func aliceToken(t *testing.T, s *Store) (store.User, store.Token) {
	t.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "t", store.User{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateToken(ctx, "t", store.Token{Serial: "H1", User: "alice", Type: "hotp", Origin: store.OriginSoft,
		State: store.StateActive, Algorithm: "SHA1", Digits: 6, Seed: []byte("12345678901234567890")})
	if err != nil {
		t.Fatal(err)
	}
	return u, tok
}

// The logins recorded while a transaction commits all go into the next
// one: one transaction and one sync for all of them.
func TestLoginsQueuedDuringACommitShareTheNext(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const n = 50
	release := holdWriter(t, s)
	tx0, w0 := commitSizes(t, s)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.CommitAuth(ctx, store.AuthCommit{At: time.Unix(1_700_000_000, 0),
				Audit: store.AuditEvent{Actor: "radius:nas", Action: "auth", User: fmt.Sprint("u", i), Result: "reject:unknown_user"}})
			if err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	tx, w := commitSizes(t, s)
	if tx-tx0 != 2 || w-w0 != n+1 {
		t.Fatalf("%d transactions with %d writes after the held one started, want 2 with %d (the held write, then all %d logins)",
			tx-tx0, w-w0, n+1, n)
	}
	ev, err := s.AuditEvents(ctx, store.AuditFilter{Action: "auth"})
	if err != nil || len(ev) != n {
		t.Fatalf("%d auth audit rows, want %d (%v)", len(ev), n, err)
	}
}

// Many accepts of one token at one version in one transaction: exactly one
// wins, and only the winner has an audit row.
func TestAcceptsOfOneTokenInOneBatch(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	u, tok := aliceToken(t, s)
	const n = 16
	release := holdWriter(t, s)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CommitAuth(ctx, store.AuthCommit{At: time.Unix(1_700_000_000, 0),
				Tokens: []store.TokenAuth{{ID: tok.ID, UserID: u.ID, Accepted: true, Version: tok.Version, Counter: uint64(i + 1)}},
				Audit:  store.AuditEvent{Actor: "radius:nas", Action: "auth", User: "alice", Result: "accept:ok"}})
		})
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("accepts %d and %d both won", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("accept %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no accept won")
	}
	got, err := s.Token(ctx, "H1")
	if err != nil || got.Counter != uint64(won+1) || got.Version != tok.Version+1 {
		t.Fatalf("token after the batch: counter %d version %d (%v), want %d and %d", got.Counter, got.Version, err, won+1, tok.Version+1)
	}
	if ev, _ := s.AuditEvents(ctx, store.AuditFilter{Action: "auth"}); len(ev) != 1 {
		t.Fatalf("%d auth audit rows, want 1", len(ev))
	}
}

// A write that fails with a database error shares its transaction with
// logins: the logins are recorded all the same, and the failure is the
// failing write's alone.
func TestAFailingWriteDoesNotTakeLoginsDown(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	u, tok := aliceToken(t, s)
	release := holdWriter(t, s)
	bad := make(chan error, 1)
	go func() {
		bad <- s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO no_such_table VALUES (1)`)
			return err
		})
	}()
	ok := make(chan error, 1)
	go func() {
		ok <- s.CommitAuth(ctx, store.AuthCommit{At: time.Unix(1_700_000_000, 0),
			Tokens: []store.TokenAuth{{ID: tok.ID, UserID: u.ID, Accepted: true, Version: tok.Version, Counter: 1}},
			Audit:  store.AuditEvent{Actor: "radius:nas", Action: "auth", User: "alice", Result: "accept:ok"}})
	}()
	waitQueued(t, s, 2)
	release()
	if err := <-bad; err == nil {
		t.Fatal("the bad write succeeded")
	}
	if err := <-ok; err != nil {
		t.Fatalf("the login beside a failing write: %v", err)
	}
	if got, _ := s.Token(ctx, "H1"); got.Counter != 1 {
		t.Fatalf("counter %d after the accept, want 1", got.Counter)
	}
}

// The database, its WAL and its shared memory are the owner's alone, also
// under a permissive umask.
func TestDatabaseFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	s, db := openTestAt(t)
	if _, err := s.CreateUser(context.Background(), "t", store.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

// With synchronous FULL a write is answered only after a sync of the WAL
// that started after its commit: writes one after another need a sync
// each. With NORMAL nothing is synced for them.
func TestWritesAnsweredAfterTheirSync(t *testing.T) {
	for _, tc := range []struct {
		sync      string
		wantSyncs float64
	}{
		{"FULL", 5},
		{"NORMAL", 0},
	} {
		t.Run(tc.sync, func(t *testing.T) {
			dir := t.TempDir()
			key, err := store.CreateKey(filepath.Join(dir, "master.key"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(Options{Path: filepath.Join(dir, "radmfa.db"), Key: key, Synchronous: tc.sync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var before dto.Metric
			s.metrics.syncs.Write(&before)
			for i := range 5 {
				if err := s.CommitAuth(context.Background(), store.AuthCommit{At: time.Unix(1_700_000_000, 0),
					Audit: store.AuditEvent{Actor: "t", Action: "auth", User: fmt.Sprint(i), Result: "reject:unknown_user"}}); err != nil {
					t.Fatal(err)
				}
			}
			var after dto.Metric
			s.metrics.syncs.Write(&after)
			if got := after.GetCounter().GetValue() - before.GetCounter().GetValue(); got != tc.wantSyncs {
				t.Fatalf("%v WAL syncs for 5 writes one after another, want %v", got, tc.wantSyncs)
			}
		})
	}
}
