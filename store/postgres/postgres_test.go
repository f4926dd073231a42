package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/internal/pgtest"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/cache"
	"github.com/radmfa/radmfa/store/postgres"
	"github.com/radmfa/radmfa/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newKey(t *testing.T) []byte {
	t.Helper()
	key, err := store.CreateKey(filepath.Join(t.TempDir(), "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func open(t *testing.T, url string, key []byte) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: url, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPostgresSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgtest.DB(t), newKey(t))
	})
}

func TestPostgresReseal(t *testing.T) {
	storetest.RunReseal(t, func(t *testing.T) storetest.Rotatable {
		return open(t, pgtest.DB(t), newKey(t))
	})
}

// TestPostgresLogins runs the login suite with two instances on one
// database: other is the second instance.
func TestPostgresLogins(t *testing.T) {
	storetest.RunLogins(t, func(t *testing.T) (store.Store, store.Store) {
		url, key := pgtest.DB(t), newKey(t)
		return open(t, url, key), open(t, url, key)
	})
}

// TestCacheOverPostgresLogins: the token cache over one instance, beside a
// second instance that changes the same database.
func TestCacheOverPostgresLogins(t *testing.T) {
	storetest.RunLogins(t, func(t *testing.T) (store.Store, store.Store) {
		url, key := pgtest.DB(t), newKey(t)
		return cache.New(open(t, url, key), cache.Options{}), open(t, url, key)
	})
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	t.Run("wrong key", func(t *testing.T) {
		url := pgtest.DB(t)
		open(t, url, newKey(t)).Close()
		_, err := postgres.Open(ctx, postgres.Options{URL: url, Key: newKey(t)})
		if err == nil || !strings.Contains(err.Error(), "master key does not match") {
			t.Fatalf("open with another key: %v, want the key refused", err)
		}
	})
	t.Run("someone else's database", func(t *testing.T) {
		url := pgtest.DB(t)
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE invoices (id int)`); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		_, err = postgres.Open(ctx, postgres.Options{URL: url, Key: newKey(t)})
		if err == nil || !strings.Contains(err.Error(), "not a radmfa database") {
			t.Fatalf("open: %v, want not a radmfa database", err)
		}
	})
	t.Run("newer schema", func(t *testing.T) {
		url := pgtest.DB(t)
		open(t, url, newKey(t)).Close()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `UPDATE radmfa_schema SET version = 999`); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		_, err = postgres.Open(ctx, postgres.Options{URL: url, Key: newKey(t)})
		if err == nil || !strings.Contains(err.Error(), "upgrade radmfa") {
			t.Fatalf("open: %v, want a newer schema refused", err)
		}
	})
	t.Run("password kept out of errors", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Options{URL: "postgres://radmfa:s3cretpw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", Key: newKey(t)})
		if err == nil || strings.Contains(err.Error(), "s3cretpw") {
			t.Fatalf("open of an unreachable server: %v, want an error without the password", err)
		}
	})
}

// TestInstancesMigrateOnce: instances started together on an empty
// database migrate it once, and all open it.
func TestInstancesMigrateOnce(t *testing.T) {
	url, key := pgtest.DB(t), newKey(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(context.Background(), postgres.Options{URL: url, Key: key})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("open: %v", err)
		}
	}
}

// TestSeedNotInDatabase: seeds and client secrets are stored sealed.
func TestSeedNotInDatabase(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	s := open(t, url, newKey(t))
	defer s.Close()
	seed := []byte("SEED-MARKER-0123456789-abcdef")
	if _, err := s.CreateUser(ctx, "t", store.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, "t", store.Token{Serial: "S1", User: "alice", Type: "hotp", Origin: "soft",
		State: store.StateActive, Algorithm: "SHA1", Digits: 6, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE position($1::bytea in seed) > 0`, seed).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("the seed is in the database in clear")
	}
	tok, err := s.Token(ctx, "S1")
	if err != nil || string(tok.Seed) != string(seed) {
		t.Fatalf("Token: %v, seed back %v", err, string(tok.Seed) == string(seed))
	}
	if _, err := s.LoginState(ctx, "nobody", true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LoginState of an unknown user: %v", err)
	}
}

// TestLoginsWaitOutAnOutage: while PostgreSQL is down (restarting, failing
// over), the login path waits for it within the login's deadline, and the
// login's accept is recorded once it is back.
func TestLoginsWaitOutAnOutage(t *testing.T) {
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	s := open(t, pgtest.CreateDB(t, c.URL("postgres")), newKey(t))
	defer s.Close()
	if _, err := s.CreateUser(ctx, "t", store.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, "t", store.Token{Serial: "S1", User: "alice", Type: "hotp", Origin: "soft",
		State: store.StateActive, Algorithm: "SHA1", Digits: 6, Seed: []byte("0123456789abcdef0123")}); err != nil {
		t.Fatal(err)
	}
	st, err := s.LoginState(ctx, "alice", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"read", func(ctx context.Context) error { _, err := s.LoginState(ctx, "alice", true); return err }},
		{"accept", func(ctx context.Context) error {
			tok := st.Tokens[0]
			return s.CommitAuth(ctx, store.AuthCommit{At: time.Now(), Tokens: []store.TokenAuth{{ID: tok.ID, UserID: st.User.ID,
				Accepted: true, Version: tok.Version, Counter: 1}}, Audit: store.AuditEvent{Actor: "t", Action: "auth", Result: "accept:ok"}})
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			c.Halt()
			back := make(chan error, 1)
			go func() { time.Sleep(300 * time.Millisecond); back <- c.Start() }()
			ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			err := step.do(ctx)
			if berr := <-back; berr != nil {
				t.Fatal(berr)
			}
			if err != nil {
				t.Fatalf("%s while PostgreSQL was restarting: %v, want it to wait", step.name, err)
			}
		})
	}
	got, err := s.Token(ctx, "S1")
	if err != nil || got.Counter != 1 || got.Version != st.Tokens[0].Version+1 {
		t.Fatalf("after the outage: counter %d version %d (%v), want the accept recorded once", got.Counter, got.Version, err)
	}
}

// TestGroupCommitIsolatesFailures: logins decided together are committed
// in one transaction; one that fails (here, an audit detail PostgreSQL
// refuses) fails alone, and every other is recorded.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.DB(t), newKey(t))
	defer s.Close()
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			detail := fmt.Sprint(i)
			if i == 7 {
				detail = "NUL\x00 byte" // PostgreSQL text cannot hold it
			}
			errs[i] = s.CommitAuth(ctx, store.AuthCommit{At: time.Now(),
				Audit: store.AuditEvent{Actor: "radius:nas", Action: "auth", User: "nobody", Result: "reject:unknown_user", Detail: detail}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 7) {
			t.Errorf("login %d: %v", i, err)
		}
	}
	ev, err := s.AuditEvents(ctx, store.AuditFilter{User: "nobody"})
	if err != nil || len(ev) != n-1 {
		t.Fatalf("%d audit rows (%v), want %d", len(ev), err, n-1)
	}
}
