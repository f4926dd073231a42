// Package postgres is radmfa's store for several instances: a store.Store
// on a PostgreSQL database (through github.com/jackc/pgx/v5), with its own
// ordered migrations. Every instance and every CLI command opens the same
// database; each keeps the master key in its own data dir, and the
// database never holds it.
//
// A login is recorded in one statement, so in one transaction and one
// round trip: the accept's compare-and-set, the failures and the audit row
// (see CommitAuth). PostgreSQL's row locks make the compare-and-set exact
// across instances: of two instances that accept one code at once, the
// second waits for the first to commit, finds the version changed, and
// writes nothing.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
	"github.com/radmfa/radmfa/store/internal/writeq"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key instances take while migrating
// ("RMFA").
const migrationLock = 0x524d4641

// Options configures a PostgreSQL store.
type Options struct {
	// URL is a postgres:// URL (or a key=value connection string). Pool
	// settings in it (pool_max_conns, ...) are honoured. The defaults: up
	// to 16 connections, 4 kept open, and a connection attempt gives up
	// after 5 seconds (connect_timeout).
	URL string
	// Key is the 32-byte master key that seals seeds and secrets.
	Key []byte
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger hears of what only the store sees; slog.Default() when nil.
	Logger *slog.Logger
}

// Store is the PostgreSQL store.Store.
type Store struct {
	pool    *pgxpool.Pool
	sealer  *store.Sealer
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics

	// logins is the writers' queue (see writer.go).
	logins  *writeq.Queue[loginOp]
	writers sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// IsURL reports whether db names a PostgreSQL database rather than a file.
func IsURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// Redact returns a database URL without its password, for messages.
func Redact(db string) string {
	u, err := url.Parse(db)
	if err != nil {
		return "(unparsable database URL)"
	}
	return u.Redacted()
}

// Open connects to the database at o.URL, applies pending migrations and
// checks that o.Key is the key the database was made with.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	sealer, err := store.NewSealer(o.Key)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		// pgx's parse errors can quote the URL, password and all.
		return nil, fmt.Errorf("store: database URL %s is not valid", Redact(o.URL))
	}
	if !strings.Contains(o.URL, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	if !strings.Contains(o.URL, "pool_min_conns") {
		// Connected before the first logins, not while they wait.
		cfg.MinConns = min(4, cfg.MaxConns)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "radmfa"
	// Every statement radmfa sends is prepared once per connection; a
	// custom plan for each execution (PostgreSQL's default for the first
	// few, and for good whenever the generic plan looks costlier, as it
	// does with arrays) cost more than running the login's statement.
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", Redact(o.URL), err)
	}
	s := &Store{pool: pool, sealer: sealer, now: o.Now, log: o.Logger, metrics: newMetrics(pool)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: %s: %w", Redact(o.URL), err)
	}
	if err := s.checkKey(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	s.startWriters()
	return s, nil
}

// Pool is the store's connection pool, for the parts of radmfa that share
// state between instances beside the store (push requests, duplicates).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// migrate applies the pending migrations, each with its version in one
// transaction, under an advisory lock: instances starting together
// migrate once.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	sort.Strings(names)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return err
	}
	var hasSchema bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('radmfa_schema') IS NOT NULL`).Scan(&hasSchema); err != nil {
		return err
	}
	version := 0
	if hasSchema {
		if err := tx.QueryRow(ctx, `SELECT version FROM radmfa_schema`).Scan(&version); err != nil {
			return err
		}
	} else {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errors.New("not a radmfa database (it holds other tables)")
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE radmfa_schema (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO radmfa_schema VALUES (0)`); err != nil {
			return err
		}
	}
	if version > len(names) {
		return fmt.Errorf("schema version %d is newer than this radmfa knows (%d); upgrade radmfa", version, len(names))
	}
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		if _, err := tx.Exec(ctx, `UPDATE radmfa_schema SET version = $1`, i+1); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// checkKey makes sure the master key is the one the database was made with:
// the first open stores a sealed check value, later opens must open it.
func (s *Store) checkKey(ctx context.Context) error {
	mine, err := s.sealer.Seal([]byte("radmfa"), store.KeyCheckAD)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO meta(k, v) VALUES ('key_check', $1) ON CONFLICT (k) DO NOTHING`, mine); err != nil {
		return fmt.Errorf("store: key check: %w", err)
	}
	var sealed []byte
	if err := s.pool.QueryRow(ctx, `SELECT v FROM meta WHERE k = 'key_check'`).Scan(&sealed); err != nil {
		return fmt.Errorf("store: key check: %w", err)
	}
	if _, err := s.sealer.Open(sealed, store.KeyCheckAD); err != nil {
		return errors.New("store: the master key does not match this database (every instance needs the same master.key)")
	}
	return nil
}

// HasData reports whether the database at url holds a radmfa schema: a
// missing key must not be created anew for an existing database.
func HasData(ctx context.Context, url string) (bool, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", Redact(url), err)
	}
	defer conn.Close(ctx)
	var has bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('radmfa_schema') IS NOT NULL`).Scan(&has); err != nil {
		return false, fmt.Errorf("store: %s: %w", Redact(url), err)
	}
	return has, nil
}

// Close commits the logins queued and closes the pool.
func (s *Store) Close() error {
	s.logins.Close()
	s.writers.Wait()
	s.pool.Close()
	return nil
}

// tx runs fn in a transaction and commits it; fn's error rolls it back.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// audit inserts an audit row inside a transaction.
func (s *Store) audit(ctx context.Context, tx pgx.Tx, e store.AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := tx.Exec(ctx, auditInsert, e.At.UnixMilli(), e.Actor, e.Action, e.User, e.Serial, e.Client, e.Result, e.Detail)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

const auditInsert = `INSERT INTO audit(at, actor, action, user_name, serial, client, result, detail)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func unixOf(t time.Time) int64 { return sqlrow.UnixOf(t) }

// bumpVersion counts a change other instances must pick up.
func bumpVersion(ctx context.Context, tx pgx.Tx, k string) error {
	_, err := tx.Exec(ctx, `INSERT INTO versions(k, v) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET v = versions.v + 1`, k)
	return err
}

// An outage of the database (PostgreSQL restarting, a failover of its
// primary) is waited out by the login path within the login's deadline:
// retry runs fn again while it fails for want of a connection, backing
// off from 20 ms to 500 ms, and gives up with fn's error when ctx ends.
// What may be retried is up to the caller (see CommitAuth).
func (s *Store) retry(ctx context.Context, again func(error) bool, fn func() error) error {
	wait := 20 * time.Millisecond
	for {
		err := fn()
		if err == nil || !again(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// connectionLost reports whether err is the loss (or lack) of a
// connection rather than an answer of the database: nothing of a read is
// lost by reading again.
func connectionLost(err error) bool {
	for _, answer := range []error{context.Canceled, context.DeadlineExceeded, pgx.ErrNoRows, store.ErrNotFound,
		store.ErrConflict, store.ErrInvalid, store.ErrExists} {
		if errors.Is(err, answer) {
			return false
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P: the server is shutting down,
		// was terminated, or is not up yet.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	return true
}

// unsent reports whether err failed a statement before it reached the
// database, so that sending it again cannot apply it twice.
func unsent(err error) bool {
	var ce *pgconn.ConnectError
	return pgconn.SafeToRetry(err) || errors.As(err, &ce)
}
