package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// AcceptJournal is what a store that journals accepts (see Journaling)
// offers the login path besides Store.
//
// The journal replaces CommitAuth's compare-and-set for accepts: an
// accept is checked against the journal's own newest state of the token
// (two logins with one code: one is accepted), and against the change
// generation, which grows after every committed change other than an
// accept, in any process (an admin's revoke, a user disabled): an accept
// decided from data read before a change is refused with ErrConflict, and
// the caller reads again.
type AcceptJournal interface {
	// Journaling reports whether accepts go to the journal.
	Journaling() bool
	// Changes is the change generation. Read it before reading the data
	// an accept is decided from, and pass it to JournalAccept.
	Changes() uint64
	// JournalAccept records an accept (one Accepted TokenAuth, with
	// ReadCounter and ReadLastStep, and its audit row) durably across a
	// process kill, and returns; the database takes it later. ErrConflict:
	// the change generation is no longer gen, or a token was accepted
	// since it was read. Unless wait, a full journal is an error at once
	// (ErrJournalFull) instead of a wait for space.
	JournalAccept(ctx context.Context, gen uint64, c AuthCommit, wait bool) error
}

// journalApplyEvery is how long after an accept finds the journal empty
// the writer applies it; a variable for tests.
var journalApplyEvery = 20 * time.Millisecond

// maxApply bounds the records one transaction applies.
const maxApply = 4096

type journalCounters struct {
	applies, applied, failed atomic.Int64
	applyNanos               atomic.Int64
	lastErr                  atomic.Pointer[error]
}

// JournalStats is what the accept journal has done since the store opened.
type JournalStats struct {
	Appends    int64         // accepts journaled
	Waits      int64         // appends that found the journal full
	Applies    int64         // transactions that applied records
	Applied    int64         // records applied
	Failed     int64         // applies that failed (the records stay, and are tried again)
	ApplyTime  time.Duration // in all
	PendingB   uint64        // bytes not yet applied
	RingB      uint64        // the ring's size
	LastFailed error
}

// JournalStats reports the accept journal's counters (zero without one).
func (s *SQLite) JournalStats() JournalStats {
	if !s.jOwned {
		return JournalStats{}
	}
	j := s.jr
	from, to, _ := j.pending()
	st := JournalStats{Appends: j.appends.Load(), Waits: j.waits.Load(), Applies: s.jstats.applies.Load(),
		Applied: s.jstats.applied.Load(), Failed: s.jstats.failed.Load(),
		ApplyTime: time.Duration(s.jstats.applyNanos.Load()), PendingB: to - from, RingB: uint64(len(j.ring))}
	if e := s.jstats.lastErr.Load(); e != nil {
		st.LastFailed = *e
	}
	return st
}

var _ AcceptJournal = (*SQLite)(nil)

// Journaling reports whether this store owns the accept journal.
func (s *SQLite) Journaling() bool { return s.jOwned }

// Changes is the change generation (see AcceptJournal).
func (s *SQLite) Changes() uint64 { return s.jr.changes() }

// openJournal opens the journal beside the database at path: owned (for
// appending) when own, and in any case it applies what a process that
// owned it and died left, when no other process owns it now.
func (s *SQLite) openJournal(path string, own bool) error {
	j, err := openJournal(path, own)
	if err != nil {
		return err
	}
	s.jr = j
	if !own {
		ok, err := j.lock()
		if err != nil || !ok {
			return err
		}
		defer j.unlock()
	}
	if err := s.recoverJournal(); err != nil {
		j.close()
		return err
	}
	if own {
		if err := s.aw.startApplier(); err != nil {
			j.close()
			return err
		}
	}
	s.jOwned = own
	return nil
}

// recoverJournal finds, with the lock held, the records after the
// position the database recorded, and applies them; before the writer
// runs.
func (s *SQLite) recoverJournal() error {
	if err := s.startJournal(); err != nil {
		return err
	}
	for {
		from, to, _ := s.jr.pending()
		if from == to {
			return nil
		}
		if err := s.applyJournalOnce(); err != nil {
			return err
		}
	}
}

// startJournal finds, with the lock held, the records after the position
// the database recorded.
func (s *SQLite) startJournal() error {
	if len(s.jr.ring) == 0 {
		return nil // never owned: nothing in it
	}
	var pos, seq int64
	for k, v := range map[string]*int64{"journal_pos": &pos, "journal_seq": &seq} {
		err := s.wdb.QueryRow(`SELECT v FROM meta WHERE k = ?`, k).Scan(v)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: journal: %w", err)
		}
	}
	if pos < 0 || seq < 0 {
		return fmt.Errorf("store: journal: bad position %d, %d in the database", pos, seq)
	}
	s.jr.start(uint64(pos), uint64(seq))
	return nil
}

// applyJournal applies the journal's records to the database and reports
// whether any are left (appended meanwhile, or not applied: a failure is
// counted, and the records stay to be tried again).
func (s *SQLite) applyJournal() (more bool) {
	if !s.jOwned && !s.jForeign.Load() {
		return false
	}
	if err := s.applyJournalOnce(); err != nil {
		s.jstats.failed.Add(1)
		s.jstats.lastErr.Store(&err)
		return true
	}
	from, to, _ := s.jr.pending()
	return from != to
}

// applyJournalOnce applies every record appended so far, maxApply per
// transaction.
func (s *SQLite) applyJournalOnce() error {
	s.jApplyW.Lock()
	defer s.jApplyW.Unlock()
	from, to, seq := s.jr.pending()
	for from < to {
		start := time.Now()
		end, endSeq, n, err := s.aw.applyRing(s.jr.ring, from, to, seq, maxApply)
		if err != nil {
			return err
		}
		if end == from {
			return fmt.Errorf("store: journal: no progress at %d", from)
		}
		s.jr.applied(end, endSeq)
		s.jstats.applies.Add(1)
		s.jstats.applied.Add(int64(n))
		s.jstats.applyNanos.Add(int64(time.Since(start)))
		from, seq = end, endSeq
	}
	return nil
}

// JournalAccept journals an accept (see AcceptJournal).
func (s *SQLite) JournalAccept(ctx context.Context, gen uint64, c AuthCommit, wait bool) error {
	if !s.jOwned {
		return errors.New("store: no accept journal")
	}
	e := c.Audit
	ms := c.At.UnixMilli()
	if !e.At.IsZero() {
		ms = e.At.UnixMilli()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if len(c.Tokens) != 1 || !c.Tokens[0].Accepted {
		return errors.New("store: a journaled accept is one accepted token")
	}
	ta := c.Tokens[0]
	r := journalRec{at: ms, tokenID: ta.ID, userID: ta.UserID, counter: ta.Counter, lastStep: ta.LastStep,
		drift: ta.Drift, activate: ta.Activate,
		texts: [auditTexts]string{e.Actor, e.Action, e.User, e.Serial, e.Client, e.Result, e.Detail}}
	return s.jr.append(ctx, gen, &r, ta.ReadCounter, ta.ReadLastStep, e.Serial, wait)
}

// JournalOwnedElsewhere reports whether another process owns the accept
// journal now: a server with synchronous NORMAL decides this database's
// logins, and an accept from here would be refused.
func (s *SQLite) JournalOwnedElsewhere() bool {
	if s.jOwned {
		return false
	}
	ok, err := s.jr.lock()
	if ok {
		s.jr.unlock()
	}
	return err == nil && !ok
}

// foreignAccept commits op, an authentication with an accept, in a
// process that does not own the journal: only while no process owns it
// (a server that does decides the logins of its database, from state the
// database may not have yet), and after the writer applied what an owner
// that died left.
func (s *SQLite) foreignAccept(ctx context.Context, op writeOp) error {
	s.jForeignMu.Lock()
	defer s.jForeignMu.Unlock()
	ok, err := s.jr.lock()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("store: %w: it decides this database's logins; try the code against it (radtest)", ErrJournalOwned)
	}
	defer s.jr.unlock()
	if err := s.startJournal(); err != nil {
		return err
	}
	s.jForeign.Store(true)
	defer s.jForeign.Store(false)
	return s.enqueue(ctx, op)
}

// caughtWait bounds how long a read waits for a server's database to take
// its journal; a variable for tests.
var caughtWait = time.Second

// caughtUp waits until the database has every accept journaled so far,
// by this process or the server that owns the journal, so that a read
// after a login sees it (the audit log, a token's counter and last use):
// the owner's writer applies its journal within journalApplyEvery. A
// server that stopped answering leaves the read as it is after caughtWait.
func (s *SQLite) caughtUp(ctx context.Context) error {
	behind, seq := s.jr.behind()
	if !behind {
		return nil
	}
	if s.jOwned {
		// The writer applies the journal before every write.
		return s.enqueue(ctx, writeOp{fn: func(*sql.Tx) error { return nil }, quiet: true})
	}
	deadline := time.Now().Add(caughtWait)
	for !s.jr.hasApplied(seq) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}
