// Package sqlite is radmfa's embedded default store: a store.Store on one
// SQLite file (through database/sql and github.com/mattn/go-sqlite3), with
// its schema migrations. Reads run on a pool of read-only connections;
// every write goes through one goroutine on one connection, which commits
// the writes queued meanwhile together (group commit, see writer).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
	"github.com/radmfa/radmfa/store/internal/writeq"
)

//go:embed migrations/*.sql
var migrations embed.FS

// applicationID marks a SQLite file as radmfa's ("RMFA").
const applicationID = 0x524d4641

// maxBatch bounds how many queued writes share one transaction.
const maxBatch = 256

// Options configures a SQLite store.
type Options struct {
	// Path of the database file; created with its schema when missing.
	Path string
	// Key is the 32-byte master key that seals seeds and secrets.
	Key []byte
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Synchronous is SQLite's synchronous setting: "FULL" (the default: a
	// write is synced to disk before it is reported done, so it survives
	// a power loss) or "NORMAL" (a write survives a crash of the process
	// at once, and a power loss once the WAL is next synced).
	Synchronous string
	// Logger hears of failed transactions; slog.Default() when nil.
	Logger *slog.Logger
}

// Store is the SQLite store.Store.
type Store struct {
	rdb  *sql.DB // read-only connections
	path string  // the database file
	wdb  *sql.DB // the one write connection, used by the writer goroutine alone
	cdb  *sql.DB // the checkpointer's connection
	// stopCkpt ends the checkpointer, which closes ckptDone.
	stopCkpt, ckptDone chan struct{}
	sealer             *store.Sealer
	now                func() time.Time
	log                *slog.Logger
	stmts              statements

	writes *writeq.Queue[writeOp]
	// wal, with synchronous FULL, syncs the WAL after each commit (see
	// writer).
	wal       *walFile
	closeOnce sync.Once
	done      chan struct{}

	metrics *metrics
}

var _ store.Store = (*Store)(nil)

// writeOp is one write the writer commits: an admin change (fn), or a
// login's outcome (login). Its audit row, when set, is inserted in the same
// transaction if the write succeeds.
type writeOp struct {
	fn    func(tx *sql.Tx) error
	login *store.AuthCommit
	audit *store.AuditEvent
	done  chan error
}

func dsn(path string, query url.Values) string {
	u := url.URL{Scheme: "file", Opaque: path, RawQuery: query.Encode()}
	return u.String()
}

// Open opens (creating if needed) the database at o.Path, checks that it
// is radmfa's and that o.Key opens it, and applies pending migrations. The
// database and its WAL are readable by their owner alone.
func Open(o Options) (*Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	sync := strings.ToUpper(o.Synchronous)
	if sync == "" {
		sync = "FULL"
	}
	if sync != "FULL" && sync != "NORMAL" {
		return nil, fmt.Errorf("store: synchronous %q: want FULL or NORMAL", o.Synchronous)
	}
	sealer, err := store.NewSealer(o.Key)
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(o.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	// SQLite creates the database, WAL and shared-memory files with the
	// process's umask: keep them to the owner.
	if err := touchPrivate(o.Path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_journal_mode", "WAL")
	// FULL is kept by syncing the WAL after the commits (see writer), not
	// inside each one: the write connection itself runs NORMAL.
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	wdb, err := sql.Open("sqlite3", dsn(o.Path, q))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", o.Path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	s := &Store{wdb: wdb, path: o.Path, sealer: sealer, now: o.Now, log: o.Logger, metrics: newMetrics()}
	if err := s.checkAndMigrate(o.Path); err != nil {
		wdb.Close()
		return nil, err
	}
	if _, err := wdb.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", writerCheckpointPages)); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	rq := url.Values{}
	rq.Set("_busy_timeout", "10000")
	rq.Set("_foreign_keys", "on")
	rq.Set("_query_only", "1")
	rdb, err := sql.Open("sqlite3", dsn(o.Path, rq))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", o.Path, err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	s.rdb = rdb
	if err := s.prepare(); err != nil {
		rdb.Close()
		wdb.Close()
		return nil, err
	}
	if sync == "FULL" {
		if s.wal, err = openWAL(o.Path); err != nil {
			rdb.Close()
			wdb.Close()
			return nil, err
		}
	}
	cq := url.Values{}
	cq.Set("_busy_timeout", "10000")
	cdb, err := sql.Open("sqlite3", dsn(o.Path, cq))
	if err != nil {
		rdb.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", o.Path, err)
	}
	cdb.SetMaxOpenConns(1)
	s.cdb, s.stopCkpt, s.ckptDone = cdb, make(chan struct{}), make(chan struct{})
	go s.checkpointer(cdb, s.stopCkpt, s.ckptDone)
	s.writes = writeq.New[writeOp](maxBatch)
	s.done = make(chan struct{})
	go s.writer()
	return s, nil
}

// touchPrivate creates path and its WAL and shared-memory files, empty and
// mode 0600, where they do not exist, and takes group and other access
// away from any that do.
func touchPrivate(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		fi, err := f.Stat()
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			err = f.Chmod(fi.Mode().Perm() &^ 0o077)
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

func (s *Store) checkAndMigrate(path string) error {
	ctx := context.Background()
	var appID int64
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) && se.Code == sqlite3.ErrNotADB {
			return fmt.Errorf("store: %s is not a radmfa database (not SQLite)", path)
		}
		return fmt.Errorf("store: %s: %w", path, err)
	}
	var version int
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}
	if appID == 0 {
		var n int
		if err := s.wdb.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
			return fmt.Errorf("store: %s: %w", path, err)
		}
		if n > 0 {
			return fmt.Errorf("store: %s is not a radmfa database (it holds other tables)", path)
		}
	} else if appID != applicationID {
		return fmt.Errorf("store: %s is not a radmfa database (application id %#x)", path, appID)
	}

	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	sort.Strings(names)
	if version > len(names) {
		return fmt.Errorf("store: %s has schema version %d, newer than this radmfa knows (%d); upgrade radmfa", path, version, len(names))
	}
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", names[i], err)
		}
		if err := s.migrate(ctx, i+1, string(body)); err != nil {
			return fmt.Errorf("store: migration %s: %w", names[i], err)
		}
	}
	return s.checkKey(ctx)
}

// migrate applies one migration and records its version in one transaction.
func (s *Store) migrate(ctx context.Context, version int, body string) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var cur int
	// Another process may have migrated while we waited for the write lock.
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return err
	}
	if cur >= version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA application_id = "+strconv.Itoa(applicationID)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(version)); err != nil {
		return err
	}
	return tx.Commit()
}

// checkKey makes sure the master key is the one the database was made with:
// the first open stores a sealed check value, later opens must open it.
func (s *Store) checkKey(ctx context.Context) error {
	var sealed []byte
	err := s.wdb.QueryRowContext(ctx, "SELECT v FROM meta WHERE k = 'key_check'").Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		sealed, err = s.sealer.Seal([]byte("radmfa"), store.KeyCheckAD)
		if err != nil {
			return err
		}
		_, err = s.wdb.ExecContext(ctx, "INSERT OR IGNORE INTO meta(k, v) VALUES ('key_check', ?)", sealed)
		if err != nil {
			return fmt.Errorf("store: key check: %w", err)
		}
		return s.checkKey(ctx)
	}
	if err != nil {
		return fmt.Errorf("store: key check: %w", err)
	}
	if _, err := s.sealer.Open(sealed, store.KeyCheckAD); err != nil {
		return errors.New("store: the master key does not match this database (wrong --key-file?)")
	}
	return nil
}

// statements are the prepared statements of the hot paths: the login read
// and the login write.
type statements struct {
	userTokens, user             *sql.Stmt // on rdb
	accept, acceptActivate, fail *sql.Stmt // on wdb
	// auditN[n] inserts n+1 audit rows: parsing one per transaction cost
	// more than the rows it inserted.
	auditN [auditBatch]*sql.Stmt
}

// The statements that record logins. sqlAccept is an accept's
// compare-and-set: it updates the token only if it still has the version
// that was read, is still usable, still belongs to the user who logged in,
// and that user is still enabled and has failed logins left (counter,
// last_step, drift, last_used, last_request, id, version, user_id, max
// fail_tat);
// sqlAcceptActivate is the same for a token's
// first accept, which makes it active (the state, and its index, are
// written only then). sqlFail counts a failed login and locks the token at
// the threshold (lock_after, locked_until, id). sqlCharge spends one of a
// user's failed logins (now, every, now, burst*every, user id; see
// store.FailureCharge).
//
// One statement per login, not one UPDATE ... FROM (VALUES ...) RETURNING
// for a batch: SQLite runs those through ephemeral tables, a b-tree and a
// page cache made and freed for every statement, which cost 16 us a login.
// The version is compared with ?+0, not ?: SQLite's planner looks at a
// bare parameter compared with a column and compiles the statement again
// whenever the value bound before was 0 or 1 (every token starts at
// version 1): 8% of the writer's time.
const (
	sqlAccept = `UPDATE tokens SET counter = ?, last_step = ?, drift = ?, fail_count = 0, last_used = ?,
		last_request = ?, version = version + 1
		WHERE id = ? AND version = ?+0 AND state IN ('assigned', 'active')
		AND user_id = (SELECT id FROM users WHERE id = ? AND disabled = 0 AND fail_tat <= ?+0)`
	sqlAcceptActivate = `UPDATE tokens SET counter = ?, last_step = ?, drift = ?, fail_count = 0, last_used = ?,
		last_request = ?, state = 'active', version = version + 1
		WHERE id = ? AND version = ?+0 AND state IN ('assigned', 'active')
		AND user_id = (SELECT id FROM users WHERE id = ? AND disabled = 0 AND fail_tat <= ?+0)`
	sqlFail = `UPDATE tokens SET fail_count = fail_count + 1,
		locked_until = CASE WHEN fail_count + 1 >= ? THEN ? ELSE locked_until END,
		version = version + 1 WHERE id = ?`
	sqlCharge = `UPDATE users SET fail_tat = MIN(MAX(fail_tat, ?) + ?, ? + ?) WHERE id = ?`
)

func (s *Store) prepare() error {
	var err error
	prep := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.Prepare(q)
		return st
	}
	s.stmts = statements{
		userTokens: prep(s.rdb, `SELECT `+sqlrow.UserColsU+`, `+tokenCols+
			` FROM tokens t JOIN users u ON u.id = t.user_id WHERE u.name = ? ORDER BY t.serial`),
		user:           prep(s.rdb, `SELECT `+userCols+` FROM users WHERE name = ?`),
		accept:         prep(s.wdb, sqlAccept),
		acceptActivate: prep(s.wdb, sqlAcceptActivate),
		fail:           prep(s.wdb, sqlFail),
	}
	for n := range auditBatch {
		s.stmts.auditN[n] = prep(s.wdb, auditInsert+strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?)", n))
	}
	if err != nil {
		return fmt.Errorf("store: prepare: %w", err)
	}
	return nil
}

// HasData reports whether a database file exists at path; a missing key
// must not be created anew for an existing database.
func HasData(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > 0
}

// write queues fn and waits until it has been committed (or failed).
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.enqueue(ctx, writeOp{fn: fn})
}

// enqueue queues op and waits until it has been committed (or failed).
// The writer is done with op once it answers.
func (s *Store) enqueue(ctx context.Context, op writeOp) error {
	// The writer answers each write once, so a channel read empty is as
	// good as new.
	op.done = doneChans.Get().(chan error)
	defer doneChans.Put(op.done)
	if err := s.writes.Send(ctx, op); err != nil {
		return err
	}
	return <-op.done
}

var doneChans = sync.Pool{New: func() any { return make(chan error, 1) }}

// writer commits queued writes, one transaction at a time, and answers
// them. While one transaction commits and syncs, the writes of the logins
// decided meanwhile queue up; the next transaction takes them all, so
// concurrent logins share one transaction and one sync, and the next batch
// gathers while one syncs. A lone write waits for nobody.
//
// With synchronous FULL the transaction goes to the WAL with SQLite's
// synchronous NORMAL (written, not yet synced), then the writer syncs the
// WAL itself with fdatasync (see walFile) before it answers anyone: every
// answered write is on disk, as with SQLite's FULL, at a quarter of the
// sync's cost. (Syncing on a goroutine of its own while the writer
// committed the next batch was measured too: as fast, with 15% more CPU
// per login here, for smaller batches and more syncs.)
func (s *Store) writer() {
	defer close(s.done)
	for {
		batch, ok := s.writes.Next()
		if !ok {
			return
		}
		results := make([]error, len(batch))
		s.commit(batch, results)
		if s.wal != nil {
			s.syncWAL(results)
		}
		for i, op := range batch {
			op.done <- results[i]
		}
	}
}

// syncWAL makes a committed batch durable with one sync of the WAL. A
// failed sync fails its writes (they may be committed, but are not known
// to be on disk: a login is refused rather than granted on a record that
// a power loss could undo).
func (s *Store) syncWAL(results []error) {
	start := time.Now()
	err := s.wal.sync()
	s.metrics.syncs.Inc()
	s.metrics.syncTook.Observe(time.Since(start).Seconds())
	if err == nil {
		return
	}
	s.metrics.syncFailures.Inc()
	s.log.Error("store: syncing the WAL failed; the writes of this transaction are refused", "writes", len(results), "err", err)
	for i := range results {
		if results[i] == nil {
			results[i] = fmt.Errorf("store: sync: %w", err)
		}
	}
}

// cleanError marks an error returned by a write that wrote nothing before
// failing (a lost compare-and-set, a duplicate key on its first insert):
// the writes sharing its transaction can still commit.
type cleanError struct{ err error }

func (e cleanError) Error() string { return e.err.Error() }
func (e cleanError) Unwrap() error { return e.err }

// clean wraps err as a clean failure.
func clean(err error) error { return cleanError{err} }

func isClean(err error) bool {
	var ce cleanError
	return errors.As(err, &ce)
}

// commit runs a batch of writes in one transaction, putting each write's
// result in results: first the logins'
// accepts and failures, then the admin
// changes, then every audit row of a write that succeeded. A write that
// fails cleanly just reports its error; any other failure rolls the batch
// back and replays it one write per transaction, so a failing write never
// takes another down with it and never leaves half of itself behind.
func (s *Store) commit(batch []writeOp, results []error) {
	start := time.Now()
	err := s.commitTx(batch, results)
	if err != nil && len(batch) > 1 {
		s.metrics.replays.Inc()
		s.log.Warn("store: a transaction failed; committing its writes one by one", "writes", len(batch), "err", err)
		for i := range batch {
			results[i] = nil
			s.commit(batch[i:i+1], results[i:i+1])
		}
		return
	}
	if err != nil {
		// The caller has the error and acts on it (a duplicate name, a
		// full disk): the store does not log it again.
		s.metrics.failed.Inc()
		results[0] = err
		return
	}
	s.metrics.observe(batch, time.Since(start))
}

// commitTx runs batch in one transaction, putting each write's own clean
// failure in results. It returns an error, having rolled everything back,
// when the transaction failed.
func (s *Store) commitTx(batch []writeOp, results []error) error {
	tx, err := s.wdb.Begin()
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := s.recordLogins(tx, batch, results); err != nil {
		tx.Rollback()
		return err
	}
	for i, op := range batch {
		if op.fn == nil {
			continue
		}
		if results[i] = op.fn(tx); results[i] != nil && !isClean(results[i]) {
			tx.Rollback()
			return results[i]
		}
	}
	audits := make([]store.AuditEvent, 0, len(batch))
	for i, op := range batch {
		if results[i] == nil && op.audit != nil {
			audits = append(audits, *op.audit)
		}
	}
	if err := s.insertAudits(tx, audits); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// recordLogins writes the logins of batch: each accept's compare-and-set
// (a lost one is the login's clean ErrConflict), then the failures. The
// statements are bound to tx once for the batch.
func (s *Store) recordLogins(tx *sql.Tx, batch []writeOp, results []error) error {
	var accept, activate, fail *sql.Stmt
	for i, op := range batch {
		if op.login == nil {
			continue
		}
		at := op.login.At.Unix()
		for _, ta := range op.login.Tokens {
			if !ta.Accepted {
				continue
			}
			var st *sql.Stmt
			switch {
			case ta.Activate && activate == nil:
				activate = tx.Stmt(s.stmts.acceptActivate)
				st = activate
			case ta.Activate:
				st = activate
			case accept == nil:
				accept = tx.Stmt(s.stmts.accept)
				st = accept
			default:
				st = accept
			}
			maxTAT := ta.MaxFailureTAT
			if maxTAT == 0 {
				maxTAT = math.MaxInt64
			}
			res, err := st.Exec(int64(ta.Counter), ta.LastStep, ta.Drift, at, ta.RequestKey, ta.ID, ta.Version, ta.UserID, maxTAT)
			if err != nil {
				return fmt.Errorf("store: token %d: %w", ta.ID, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				results[i] = clean(fmt.Errorf("store: token %d: %w", ta.ID, store.ErrConflict))
			}
		}
	}
	for i, op := range batch {
		if op.login == nil || results[i] != nil {
			continue
		}
		for _, ta := range op.login.Tokens {
			if !ta.Failed {
				continue
			}
			if fail == nil {
				fail = tx.Stmt(s.stmts.fail)
			}
			if _, err := fail.Exec(lockAfter(ta), ta.LockUntil, ta.ID); err != nil {
				return fmt.Errorf("store: token %d: %w", ta.ID, err)
			}
		}
		if ch := op.login.Charge; ch != nil {
			now, every := op.login.At.UnixMilli(), ch.Limit.Every.Milliseconds()
			if _, err := tx.Exec(sqlCharge, now, every, now, int64(ch.Limit.Burst)*every, ch.UserID); err != nil {
				return fmt.Errorf("store: user %d: %w", ch.UserID, err)
			}
		}
	}
	return nil
}

// lockAfter is a failure's lock threshold as the fail statement takes it:
// never, when not set.
func lockAfter(ta store.TokenAuth) int64 {
	if ta.LockAfter <= 0 {
		return 1 << 30
	}
	return int64(ta.LockAfter)
}

// Close finishes queued writes and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.writes.Close()
		<-s.done
		close(s.stopCkpt)
		<-s.ckptDone
	})
	err1 := errors.Join(s.rdb.Close(), s.cdb.Close())
	// The last connection to close checkpoints and removes the WAL.
	err2 := s.wdb.Close()
	var err3 error
	if s.wal != nil {
		err3 = s.wal.close()
	}
	return errors.Join(err1, err2, err3)
}

// auditBatch is how many audit rows one INSERT carries.
const auditBatch = 64

// insertAudits inserts audit rows with as few statements as it can.
func (s *Store) insertAudits(tx *sql.Tx, events []store.AuditEvent) error {
	for len(events) > 0 {
		n := min(len(events), auditBatch)
		stmt := s.stmts.auditN[n-1]
		args := make([]any, 0, 8*n)
		for _, e := range events[:n] {
			if e.At.IsZero() {
				e.At = s.now()
			}
			args = append(args, e.At.UnixMilli(), e.Actor, e.Action, e.User, e.Serial, e.Client, e.Result, e.Detail)
		}
		if _, err := tx.Stmt(stmt).Exec(args...); err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
		events = events[n:]
	}
	return nil
}

const auditInsert = `INSERT INTO audit(at, actor, action, user, serial, client, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// audit inserts an audit row inside a write transaction.
func (s *Store) audit(tx *sql.Tx, e store.AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := tx.Stmt(s.stmts.auditN[0]).Exec(e.At.UnixMilli(), e.Actor, e.Action, e.User, e.Serial, e.Client, e.Result, e.Detail)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}

func unixOf(t time.Time) int64 { return sqlrow.UnixOf(t) }

// CheckFile tells, without a key, whether an existing file at path is a
// radmfa database: SQLite's header with radmfa's application id (or a
// database radmfa has not stamped yet). A missing or empty file passes.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	hdr := make([]byte, 100)
	n, _ := io.ReadFull(f, hdr)
	if n == 0 {
		return nil
	}
	if n < 100 || string(hdr[:16]) != "SQLite format 3\x00" {
		return fmt.Errorf("store: %s is not a radmfa database (not SQLite)", path)
	}
	if id := binary.BigEndian.Uint32(hdr[68:72]); id != 0 && id != applicationID {
		return fmt.Errorf("store: %s is not a radmfa database (application id %#x)", path, id)
	}
	return nil
}
