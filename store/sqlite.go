package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
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
	// Synchronous is SQLite's synchronous setting: "FULL" (default, durable
	// across power loss) or "NORMAL" (durable across a process crash).
	Synchronous string
	// Linger is how long the writer waits for one more write to join a
	// transaction (negative: never waits). Below a millisecond, which the
	// Go runtime cannot time while the process is idle, the writer yields
	// instead and takes the writes of the goroutines ready to run (the
	// default, 100us, does this).
	Linger time.Duration
	// Journal records accepted logins in the accept journal (see journal)
	// instead of committing each to the database before it is answered;
	// the store then owns the journal (one process at a time). Only with
	// Synchronous NORMAL: a journaled accept survives a process kill, not
	// a power loss.
	Journal bool
}

// SQLite is the embedded Store. Reads run on a pool of connections; every
// write goes through one goroutine that commits the writes queued while the
// previous commit ran in one transaction (group commit); see commit for how
// one failing write is kept from undoing another. A caller returns only
// after its write is committed. A batch of authentications alone, the
// login path's writes, commits through the authentication writer (authw.go)
// on a connection of its own; the same goroutine drives both connections,
// so they never write at once.
type SQLite struct {
	rdb    *sql.DB
	wdb    *sql.DB
	aw     *authWriter // commits batches of authentications; see authw.go
	ckpt   *checkpointer
	sealer *Sealer
	now    func() time.Time

	stmts statements

	writes    chan writeOp
	closeOnce sync.Once
	done      chan struct{}
	ckptErr   error        // from stopping ckpt, set once by Close
	mu        sync.RWMutex // guards closed against sends on writes
	closed    bool
	observe   atomic.Pointer[CommitObserver]
	linger    time.Duration

	// Batches the authentication writer committed, and those it failed
	// (left to the database/sql writer).
	awBatches, awFailed atomic.Int64

	// jr is the accept journal: owned (jOwned) when Options.Journal,
	// otherwise mapped for its change generation alone.
	jr      *journal
	jOwned  bool
	jstats  journalCounters
	jApplyW sync.Mutex // one apply at a time
	// jForeign is set while this process, not owning the journal, holds
	// its lock for an accept (foreignAccept): the writer applies it first.
	jForeign   atomic.Bool
	jForeignMu sync.Mutex
}

// CommitObserver hears of every write transaction: how many writes it
// committed together and how long it took (begin to commit).
type CommitObserver func(writes int, took time.Duration)

// ObserveCommits sets the function told of every write transaction (for
// metrics: how well group commit batches).
func (s *SQLite) ObserveCommits(f CommitObserver) { s.observe.Store(&f) }

type writeOp struct {
	fn func(tx *sql.Tx) error
	// audit, when set, is inserted in the same transaction if the write
	// succeeds; the writer inserts a batch's audit rows in one statement.
	audit *AuditEvent
	// quiet: the write changes no user, token or client (an audit row
	// alone), so it does not bump the change generation.
	quiet bool
	// auth, when set instead of fn, is an authentication (with audit):
	// the authentication writer takes it, or writeAuth.
	auth *AuthCommit
	done chan error
}

// run writes op inside tx through database/sql.
func (s *SQLite) run(tx *sql.Tx, op writeOp) error {
	if op.auth != nil {
		return s.writeAuth(tx, op.auth)
	}
	return op.fn(tx)
}

var _ Store = (*SQLite)(nil)

func dsn(path string, query url.Values) string {
	u := url.URL{Scheme: "file", Opaque: path, RawQuery: query.Encode()}
	return u.String()
}

// OpenSQLite opens (creating if needed) the database at o.Path, checks that
// it is radmfa's and that o.Key opens it, and applies pending migrations.
func OpenSQLite(o Options) (*SQLite, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	sync := strings.ToUpper(o.Synchronous)
	if sync == "" {
		sync = "FULL"
	}
	if sync != "FULL" && sync != "NORMAL" {
		return nil, fmt.Errorf("store: synchronous %q: want FULL or NORMAL", o.Synchronous)
	}
	if o.Journal && sync != "NORMAL" {
		return nil, errors.New("store: the accept journal survives a process kill, not a power loss: it needs synchronous NORMAL")
	}
	sealer, err := NewSealer(o.Key)
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(o.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", sync)
	q.Set("_txlock", "immediate")
	wdb, err := sql.Open("sqlite3", dsn(o.Path, q))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", o.Path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	s := &SQLite{wdb: wdb, sealer: sealer, now: o.Now, linger: o.Linger}
	if s.linger == 0 {
		s.linger = defaultLinger
	}
	if err := s.checkAndMigrate(o.Path); err != nil {
		wdb.Close()
		return nil, err
	}
	// The checkpointer (below) copies the WAL back from its own connection;
	// the writer, whose commits every login waits for, checkpoints only if
	// the WAL grows large all the same.
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
	aw, err := openAuthWriter(o.Path, sync, writerCheckpointPages,
		[6]string{sqlAccept, sqlAcceptActivate, sqlFail, auditInsert, sqlJournaled, sqlJournalPos})
	if err != nil {
		rdb.Close()
		wdb.Close()
		return nil, err
	}
	s.aw = aw
	// A checkpointer beside the writers copies the WAL back and, holding
	// the authentication writer's gate for a moment, lets it restart;
	// the writers checkpoint themselves only if it falls behind.
	ckpt, err := startCheckpointer(o.Path, checkpointEvery, catchUpPages)
	if err != nil {
		aw.close()
		rdb.Close()
		wdb.Close()
		return nil, err
	}
	aw.setGate(ckpt)
	s.ckpt = ckpt
	if err := s.openJournal(o.Path, o.Journal); err != nil {
		ckpt.stop()
		aw.close()
		rdb.Close()
		wdb.Close()
		return nil, err
	}
	s.writes = make(chan writeOp, maxBatch)
	s.done = make(chan struct{})
	go s.writer()
	return s, nil
}

func (s *SQLite) checkAndMigrate(path string) error {
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
func (s *SQLite) migrate(ctx context.Context, version int, body string) error {
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
func (s *SQLite) checkKey(ctx context.Context) error {
	var sealed []byte
	err := s.wdb.QueryRowContext(ctx, "SELECT v FROM meta WHERE k = 'key_check'").Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		sealed, err = s.sealer.Seal([]byte("radmfa"), keyCheckAD)
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
	if _, err := s.sealer.Open(sealed, keyCheckAD); err != nil {
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

// The statements of an authentication's commit (CommitAuth), on both
// writers: accept takes counter, last_step, drift, last_used, id, version,
// user_id; fail takes lock_after, locked_until, id.
const (
	sqlAccept = `UPDATE tokens SET counter = ?, last_step = ?, drift = ?, fail_count = 0, last_used = ?,
		version = version + 1
		WHERE id = ? AND version = ? AND state IN ('assigned', 'active')
		AND user_id = (SELECT id FROM users WHERE id = ? AND disabled = 0)`
	sqlAcceptActivate = `UPDATE tokens SET counter = ?, last_step = ?, drift = ?, fail_count = 0, last_used = ?,
		state = 'active', version = version + 1
		WHERE id = ? AND version = ? AND state IN ('assigned', 'active')
		AND user_id = (SELECT id FROM users WHERE id = ? AND disabled = 0)`
	sqlFail = `UPDATE tokens SET fail_count = fail_count + 1,
		locked_until = CASE WHEN fail_count + 1 >= ? THEN ? ELSE locked_until END,
		version = version + 1 WHERE id = ?`
	// sqlJournaled applies a journaled accept (counter, last_step, drift,
	// last_used, activate, id, serial). It has no compare-and-set: the
	// accept was decided against the journal's newest state, and admin
	// changes since are kept. Counters and steps only move forward (a
	// resync may have moved them further); a token deleted since is
	// skipped, by its serial when its ID was reused.
	sqlJournaled = `UPDATE tokens SET counter = max(counter, ?1),
		drift = CASE WHEN ?2 >= last_step THEN ?3 ELSE drift END, last_step = max(last_step, ?2),
		fail_count = 0, last_used = max(last_used, ?4),
		state = CASE WHEN ?5 AND state = 'assigned' THEN 'active' ELSE state END,
		version = version + 1
		WHERE id = ?6 AND serial = ?7`
	// sqlJournalPos records how far the journal is applied.
	sqlJournalPos = `INSERT INTO meta(k, v) VALUES ('journal_pos', ?1), ('journal_seq', ?2)
		ON CONFLICT(k) DO UPDATE SET v = excluded.v`
)

func (s *SQLite) prepare() error {
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
		userTokens: prep(s.rdb, `SELECT u.id, u.name, u.email, u.grp, u.disabled, u.created_at, u.push_locked_until, `+tokenCols+
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
func (s *SQLite) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.writeAudited(ctx, fn, nil)
}

// writeAudited is write with an audit row that commits with fn's changes.
func (s *SQLite) writeAudited(ctx context.Context, fn func(tx *sql.Tx) error, audit *AuditEvent) error {
	return s.enqueue(ctx, writeOp{fn: fn, audit: audit})
}

// enqueue queues op and waits until it has been committed (or failed).
// The writer is done with op once it answers.
func (s *SQLite) enqueue(ctx context.Context, op writeOp) error {
	// The writer answers each write once, so a channel read empty is as
	// good as new.
	op.done = doneChans.Get().(chan error)
	defer doneChans.Put(op.done)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.writes <- op:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued the write will be committed or fail; wait for the answer
	// even if ctx ends, so the caller never reports a write that happened
	// as one that did not.
	return <-op.done
}

var doneChans = sync.Pool{New: func() any { return make(chan error, 1) }}

// writer commits queued writes and, when the store owns the accept
// journal, applies the journal: journalApplyEvery after an accept finds
// it empty, at once when it fills up, and before every other write, so
// the database takes all changes in the order they were made.
func (s *SQLite) writer() {
	defer close(s.done)
	batch := make([]writeOp, 0, maxBatch)
	gap := time.NewTimer(time.Hour)
	gap.Stop()
	var first, urgent <-chan struct{} // nil, never ready, without a journal
	if s.jOwned {
		first, urgent = s.jr.first, s.jr.urgent
	}
	tick := time.NewTimer(time.Hour)
	tick.Stop()
	armed := false
	apply := func() {
		if s.applyJournal() && !armed {
			tick.Reset(journalApplyEvery)
			armed = true
		}
	}
	for {
		select {
		case op, ok := <-s.writes:
			if !ok {
				s.applyJournal()
				return
			}
			batch = s.gather(append(batch[:0], op), gap)
			// After gathering: every accept journaled before any of the
			// batch's writes was queued reaches the database first.
			apply()
			if !s.commitAuths(batch) {
				s.commit(batch)
			}
		case <-first:
			if !armed {
				tick.Reset(journalApplyEvery)
				armed = true
			}
		case <-urgent:
			apply()
		case <-tick.C:
			armed = false
			apply()
		}
	}
}

// Group commit lingers: while writes keep coming, each within Linger of
// the one before, the writer gathers them, up to lingerBatch writes or
// 5 x Linger in all. Under load one transaction then carries many logins,
// which costs far less CPU than a transaction each; a lone write waits
// Linger. A Linger under a millisecond (the default) gathers the writes
// ready now instead (gatherReady), and a lone write waits for nothing.
const (
	defaultLinger = 100 * time.Microsecond
	lingerBatch   = 16
)

// gather adds to batch the writes queued now and those that follow while
// the writer lingers.
func (s *SQLite) gather(batch []writeOp, gap *time.Timer) []writeOp {
	if s.linger > 0 && s.linger < time.Millisecond {
		return s.gatherReady(batch)
	}
	deadline := time.Now().Add(5 * s.linger)
	for len(batch) < maxBatch {
		select {
		case op, ok := <-s.writes:
			if !ok {
				return batch
			}
			batch = append(batch, op)
			continue
		default:
		}
		wait := min(s.linger, time.Until(deadline))
		if len(batch) >= lingerBatch || wait <= 0 {
			return batch
		}
		gap.Reset(wait)
		select {
		case op, ok := <-s.writes:
			gap.Stop()
			if !ok {
				return batch
			}
			batch = append(batch, op)
		case <-gap.C:
			return batch
		}
	}
	return batch
}

// readyYields is how many times in a row gatherReady yields without a
// new write before it stops.
const readyYields = 2

// gatherReady adds to batch the writes of every goroutine that is ready to
// run now: it yields the processor while writes keep coming. A timer
// cannot do this below a millisecond: when the process has nothing else to
// do, the Go runtime sleeps in epoll_wait, whose resolution is a
// millisecond, so a 100 us linger took 1.1 ms for a lone login (and made a
// NAS with 4 logins in flight wait that long for each).
func (s *SQLite) gatherReady(batch []writeOp) []writeOp {
	for idle := 0; len(batch) < maxBatch && idle < readyYields; {
		select {
		case op, ok := <-s.writes:
			if !ok {
				return batch
			}
			batch = append(batch, op)
			idle = 0
			continue
		default:
		}
		idle++
		runtime.Gosched()
	}
	return batch
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

// commit runs a batch of writes in one transaction. A write that fails
// cleanly just reports its error; any other failure rolls the batch back and
// replays it one write per transaction, so a failing write never takes
// another down with it and never leaves half of itself behind.
func (s *SQLite) commit(batch []writeOp) {
	start := time.Now()
	results := make([]error, len(batch))
	tx, err := s.wdb.Begin()
	if err != nil {
		for _, op := range batch {
			op.done <- fmt.Errorf("store: begin: %w", err)
		}
		return
	}
	var audits []AuditEvent
	for i, op := range batch {
		results[i] = s.run(tx, op)
		if results[i] == nil && op.audit != nil {
			audits = append(audits, *op.audit)
		}
		if results[i] != nil && !isClean(results[i]) {
			tx.Rollback()
			if len(batch) == 1 {
				op.done <- results[i]
				return
			}
			for _, op := range batch {
				s.commit([]writeOp{op})
			}
			return
		}
	}
	err = s.insertAudits(tx, audits)
	if err == nil {
		err = tx.Commit()
	} else {
		tx.Rollback()
	}
	if err == nil && s.jr != nil {
		for _, op := range batch {
			if !op.quiet {
				// Servers' caches of users and tokens are stale now.
				s.jr.bumpChanges()
				break
			}
		}
	}
	if err != nil {
		for i := range results {
			if results[i] == nil {
				results[i] = fmt.Errorf("store: commit: %w", err)
			}
		}
	}
	if f := s.observe.Load(); f != nil {
		(*f)(len(batch), time.Since(start))
	}
	for i, op := range batch {
		op.done <- results[i]
	}
}

// commitAuths commits a batch of authentications alone through the
// authentication writer and reports whether it did. A batch with any
// other write, or one the authentication writer fails (it then wrote
// nothing), is left to commit, which also sorts out which write failed.
func (s *SQLite) commitAuths(batch []writeOp) bool {
	for _, op := range batch {
		if op.auth == nil || op.audit == nil {
			return false
		}
	}
	start := time.Now()
	results, err := s.aw.commit(batch, func() int64 { return s.now().UnixMilli() })
	if err != nil {
		s.awFailed.Add(1)
		return false
	}
	s.awBatches.Add(1)
	if f := s.observe.Load(); f != nil {
		(*f)(len(batch), time.Since(start))
	}
	for i, op := range batch {
		op.done <- results[i]
	}
	return true
}

// checkpointEvery is how often the checkpointer copies the WAL back into
// the database. A variable for tests.
var checkpointEvery = 250 * time.Millisecond

// CheckpointStats reports what the WAL checkpointer has done.
func (s *SQLite) CheckpointStats() CheckpointStats { return s.ckpt.stats() }

// catchUpPages is the WAL size (pages) at which the checkpointer catches
// up (see checkpointer): 32 MiB, half of writerCheckpointPages, so that
// the writers never get there while the checkpointer keeps up. A variable
// for tests.
var catchUpPages = 8192

// writerCheckpointPages is the WAL size (pages) at which the writer itself
// checkpoints after a commit: 64 MiB, a backstop for when the checkpointer
// falls behind.
const writerCheckpointPages = 16384

// Close finishes queued writes, checkpoints and closes the database.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.writes)
		s.mu.Unlock()
		<-s.done
		s.ckptErr = errors.Join(s.aw.close(), s.ckpt.stop(), s.jr.close())
	})
	err1 := s.rdb.Close()
	err2 := s.ckptErr
	// The last connection to close checkpoints and removes the WAL.
	err3 := s.wdb.Close()
	return errors.Join(err1, err2, err3)
}

// auditBatch is how many audit rows one INSERT carries.
const auditBatch = 64

// insertAudits inserts audit rows with as few statements as it can.
func (s *SQLite) insertAudits(tx *sql.Tx, events []AuditEvent) error {
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
func (s *SQLite) audit(tx *sql.Tx, e AuditEvent) error {
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

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func unixOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

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
