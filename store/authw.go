package store

/*
#include <stdlib.h>
#include "authw.h"
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"
)

// authWriter commits a batch of authentications (CommitAuth) in one C
// call, from a connection of its own.
//
// Why: through database/sql and go-sqlite3 a batch of 16 logins is some
// 200 cgo calls (bind, step, reset per statement), each a few
// microseconds. A cgo call gives up its P only when sysmon takes it, after
// 20 microseconds at the least, so the writer goroutine kept the one P of
// `serve --procs 1` for the whole transaction, 150-250 microseconds per
// batch in which no request was read or checked. One call for the batch
// lasts long enough for sysmon to hand the P to the request goroutines
// while SQLite writes on this thread, on the other CPU; and it skips
// database/sql's allocations per statement. Alternating runs (1000 users, 32 in flight, 5 rounds):
// 30-32k -> 33-37k requests/s, p50 0.78 -> 0.65 ms, server CPU 30 -> 26
// microseconds per login.
//
// Only the writer goroutine uses it, one batch at a time, and never while
// a transaction of the database/sql writer is open: SQLite allows one
// writer at a time.
type authWriter struct {
	w *C.radmfa_authw
	// Reused for every batch; Go memory without Go pointers, which C may
	// read during the call.
	toks     []C.radmfa_authw_tok
	audits   []C.radmfa_authw_audit
	blob     []byte
	ids      []int64 // the token of each of toks
	conflict []C.int

	// The applier thread (startApplier) runs applyRing's transactions,
	// and says it is done with a byte on done, which the Go poller waits
	// for: a cgo call holds its P until sysmon hands it on, which takes
	// up to 10 ms once sysmon has had nothing to do, and an apply of a
	// thousand accepts lasts milliseconds. With `serve --procs 1` every
	// request waited for it (p99 3-6 ms, the longest 10-40 ms).
	done, doneW *os.File
}

// startApplier starts the applier thread.
func (a *authWriter) startApplier() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("store: auth writer: %w", err)
	}
	// w.Fd() leaves that end blocking, as the C thread wants it; r stays
	// with the poller.
	if rc := C.radmfa_authw_start_applier(a.w, C.int(w.Fd())); rc != 0 {
		r.Close()
		w.Close()
		return fmt.Errorf("store: auth writer: applier thread: errno %d", int(rc))
	}
	a.done, a.doneW = r, w
	return nil
}

// openAuthWriter opens the writer's connection. sqls are the accept,
// activate, fail, one-row audit, journaled accept and journal position
// statements.
func openAuthWriter(path, synchronous string, ckptPages int, sqls [6]string) (*authWriter, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	csync := C.CString(synchronous)
	defer C.free(unsafe.Pointer(csync))
	var csql [6]*C.char
	for i, q := range sqls {
		csql[i] = C.CString(q)
		defer C.free(unsafe.Pointer(csql[i]))
	}
	var w *C.radmfa_authw
	if rc := C.radmfa_authw_open(cpath, csync, C.int(ckptPages), &csql[0], &w); rc != 0 {
		return nil, fmt.Errorf("store: auth writer: open %s: SQLite error %d", path, int(rc))
	}
	return &authWriter{w: w}, nil
}

// setGate makes every later commit hold the checkpointer's gate.
func (a *authWriter) setGate(k *checkpointer) { C.radmfa_authw_set_gate(a.w, k.gate()) }

// text appends s to the blob and records where it is.
func text[T string | []byte](a *authWriter, au *C.radmfa_authw_audit, i int, s T) {
	au.off[i] = C.int(len(a.blob))
	au.len[i] = C.int(len(s))
	a.blob = append(a.blob, s...)
}

// pointers returns what the C calls take of the batch built in toks,
// audits and blob: nil for an empty slice.
func (a *authWriter) pointers() (*C.radmfa_authw_tok, *C.radmfa_authw_audit, *C.char) {
	if len(a.blob) == 0 {
		a.blob = append(a.blob, 0) // somewhere for an empty text to point
	}
	var toks *C.radmfa_authw_tok
	if len(a.toks) > 0 {
		toks = &a.toks[0]
	}
	var audits *C.radmfa_authw_audit
	if len(a.audits) > 0 {
		audits = &a.audits[0]
	}
	return toks, audits, (*C.char)(unsafe.Pointer(&a.blob[0]))
}

// applyRing applies the journal's records in ring from position from (the
// first numbered seq+1) up to to or max records in one transaction, and
// returns where it got: C reads them from the mapped ring, so the P does
// no work per record. On the applier thread once started.
func (a *authWriter) applyRing(ring []byte, from, to, seq uint64, max int) (end, endSeq uint64, n int, err error) {
	r := (*C.uchar)(unsafe.Pointer(&ring[0]))
	var ce, cs C.longlong
	var cn C.int
	var rc C.int
	if a.done == nil {
		rc = C.radmfa_authw_apply_ring(a.w, r, C.longlong(len(ring)), C.longlong(from), C.longlong(to), C.longlong(seq),
			C.int(max), &ce, &cs, &cn)
	} else {
		C.radmfa_authw_submit(a.w, r, C.longlong(len(ring)), C.longlong(from), C.longlong(to), C.longlong(seq), C.int(max))
		var b [1]byte
		if _, err := a.done.Read(b[:]); err != nil {
			// The thread writes its byte whatever happens: a failed read
			// of our own pipe leaves w in use by it; do not go on.
			panic(fmt.Sprintf("store: auth writer: applier pipe: %v", err))
		}
		rc = C.radmfa_authw_applied(a.w, &ce, &cs, &cn)
	}
	if rc != 0 {
		return from, seq, 0, fmt.Errorf("store: journal: apply: SQLite error %d", int(rc))
	}
	return uint64(ce), uint64(cs), int(cn), nil
}

// commit writes the authentications of batch (every op's auth and audit
// are set) in one transaction. It returns each op's result, or an error
// when the transaction failed and wrote nothing.
func (a *authWriter) commit(batch []writeOp, now func() int64) ([]error, error) {
	a.toks, a.audits, a.blob, a.ids = a.toks[:0], a.audits[:0], a.blob[:0], a.ids[:0]
	for i, op := range batch {
		c := op.auth
		at := c.At.Unix()
		for _, ta := range c.Tokens {
			if ta.Accepted {
				kind := C.RADMFA_AUTHW_ACCEPT
				if ta.Activate {
					kind = C.RADMFA_AUTHW_ACTIVATE
				}
				a.toks = append(a.toks, C.radmfa_authw_tok{auth: C.int(i), kind: C.int(kind),
					p: [7]C.longlong{C.longlong(ta.Counter), C.longlong(ta.LastStep), C.longlong(ta.Drift),
						C.longlong(at), C.longlong(ta.ID), C.longlong(ta.Version), C.longlong(ta.UserID)}})
				a.ids = append(a.ids, ta.ID)
			}
			if ta.Failed {
				a.toks = append(a.toks, C.radmfa_authw_tok{auth: C.int(i), kind: C.RADMFA_AUTHW_FAIL,
					p: [7]C.longlong{C.longlong(lockAfter(ta)), C.longlong(ta.LockUntil), C.longlong(ta.ID)}})
				a.ids = append(a.ids, ta.ID)
			}
		}
		e := op.audit
		ms := e.At.UnixMilli()
		if e.At.IsZero() {
			ms = now()
		}
		au := C.radmfa_authw_audit{at_ms: C.longlong(ms)}
		for j, s := range [...]string{e.Actor, e.Action, e.User, e.Serial, e.Client, e.Result, e.Detail} {
			text(a, &au, j, s)
		}
		a.audits = append(a.audits, au)
	}
	if cap(a.conflict) < len(batch) {
		a.conflict = make([]C.int, len(batch))
	}
	conflict := a.conflict[:len(batch)]
	toks, audits, blob := a.pointers()
	rc := C.radmfa_authw_commit(a.w, C.int(len(batch)), toks, C.int(len(a.toks)), audits, blob, &conflict[0])
	if rc != 0 {
		return nil, fmt.Errorf("store: auth writer: SQLite error %d", int(rc))
	}
	results := make([]error, len(batch))
	for i, k := range conflict {
		if k >= 0 {
			results[i] = clean(fmt.Errorf("store: token %d: %w", a.ids[k], ErrConflict))
		}
	}
	return results, nil
}

// close stops the applier thread and closes the connection.
func (a *authWriter) close() error {
	rc := C.radmfa_authw_close(a.w)
	if a.done != nil {
		a.done.Close()
		a.doneW.Close()
	}
	if rc != 0 {
		return fmt.Errorf("store: auth writer: close: SQLite error %d", int(rc))
	}
	return nil
}

// lockAfter is a failure's lock threshold as the fail statement takes it:
// never, when not set.
func lockAfter(ta TokenAuth) int64 {
	if ta.LockAfter <= 0 {
		return 1 << 30
	}
	return int64(ta.LockAfter)
}
