package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// journal is the accept journal: a file beside the database, mapped into
// memory, where a server with synchronous NORMAL records each accepted
// login before its Access-Accept leaves, and from which the writer moves
// the accepts into the database in large transactions, off the request
// path.
//
// Why: every accept must be on record before its reply, so that no code
// can be used twice even if the process is killed. With a database commit
// per group of logins, that commit was a third of the server's CPU per
// login and every reply waited for it on another thread. A store into a
// shared file mapping is in the operating system's page cache the moment
// it is made: a process kill loses nothing that was written, as with
// synchronous NORMAL, and it takes no system call. The database then
// takes a few hundred accepts per transaction, which dirties each token
// page once instead of once per group.
//
// Only one process may own the journal (flock); a process that opens the
// store while no server owns it applies what a killed server left. The
// owner's writer applies the journal before every other write, so the
// database sees accepts, failures and admin changes in the order they
// were made.
//
// The file: a header page (magic, ring size, and the change generation
// every process bumps after a committed change, see bumpChanges), then a
// ring of records. A record is its payload's length (uint32), a CRC-32C
// of length, sequence number and payload (uint32), its sequence number
// (uint64), then the payload, padded to 8 bytes; records never wrap
// around the ring's end (a skip record, or fewer than 16 bytes left, says
// the rest is unused). The database's meta table holds the position and
// sequence number the writer applied up to, in the transaction that
// applied them; recovery reads on from there while sequence numbers
// follow on and checksums hold, so a record half written when the
// process died (it was never answered) ends the journal.
type journal struct {
	f    *os.File
	hdr  []byte // the header's mapping
	mem  []byte // the ring's mapping (with the header before it), once locked
	ring []byte
	gen  *atomic.Uint64 // in hdr
	// appendedSeq and appliedSeq (in hdr) tell other processes how far
	// the owner's database lags its journal (see caughtUp).
	appendedSeq, appliedSeq *atomic.Uint64
	seed                    maphash.Seed

	mu sync.Mutex
	// head and tail are byte positions since the journal began (the ring
	// offset is pos % len(ring)): records in [tail, head) are not yet
	// applied. seq is the last record's sequence number.
	head, tail, seq uint64
	tailSeq         uint64 // the sequence number of the record before tail
	// latest is every journaled token's newest state since the process
	// opened the journal (pointer-free: the garbage collector never scans
	// it). Reads overlay it on the database's rows, which may lag.
	latest map[int64]journaledToken
	// freed is closed, and replaced, whenever applied frees ring space.
	freed chan struct{}
	// first is signalled when a record is appended to an empty journal,
	// urgent when the ring is a quarter full or an append must wait.
	first, urgent chan struct{}

	appends, waits atomic.Int64
}

// journaledToken is a token's state as its newest journaled accept left it.
type journaledToken struct {
	serial    uint64 // maphash of the serial: a deleted token's reused ID is not it
	counter   uint64
	lastStep  int64
	drift     int64
	lastUsed  int64
	activated bool
	seq       uint64 // of the newest accept
}

const (
	journalMagic   = "RMFAACC1"
	journalHdrSize = 4096
	hdrRingOff     = 8   // uint64: the ring's size, 0 until an owner sized it
	hdrGenOff      = 64  // uint64: the change generation, a cache line of its own
	hdrAppendedOff = 128 // uint64: the owner's last record's sequence number
	hdrAppliedOff  = 192 // uint64: and the last one the database has
	recHdrSize     = 16
	recSkip        = math.MaxUint32 // a record length: the rest of the ring is unused
	maxRecPayload  = 16 << 10
	recFixed       = 56 // payload bytes before the texts
	recFormat      = 1
	recActivate    = 1 // flag: the token was assigned; its first accept makes it active
)

// journalRingSize is the ring of journals created from now on: at 50,000
// logins/s of ~200 bytes each, 3 s of accepts. A variable for tests.
var journalRingSize = 32 << 20

// journalLockWait is how long opening an owned journal waits for another
// process's lock (a CLI applying what a killed server left) to go away.
var journalLockWait = 10 * time.Second

// ErrJournalOwned means another process (a running server) owns the
// database's accept journal.
var ErrJournalOwned = errors.New("the accept journal is in use by another radmfa serve")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journalPath is where the journal of the database at path lives.
func journalPath(path string) string { return path + "-accepts" }

// openJournal opens (creating) the journal beside the database at path,
// mapping its header. own locks it for appending (waiting a while for
// another process's lock) and maps the ring, sizing it if needed; without
// own the journal serves for its change generation, and lock (below)
// takes it for a moment when it is free.
func openJournal(path string, own bool) (j *journal, err error) {
	f, err := os.OpenFile(journalPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: journal: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	// fallocate only ever grows a file: two processes creating it at once
	// cannot shrink what the other sized.
	if err := fallocate(f, journalHdrSize); err != nil {
		return nil, fmt.Errorf("store: journal: %w", err)
	}
	var magic [8]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("store: journal: %w", err)
	}
	switch string(magic[:]) {
	case journalMagic:
	case "\x00\x00\x00\x00\x00\x00\x00\x00":
		if _, err := f.WriteAt([]byte(journalMagic), 0); err != nil {
			return nil, fmt.Errorf("store: journal: %w", err)
		}
	default:
		return nil, fmt.Errorf("store: %s is not a radmfa accept journal", f.Name())
	}
	hdr, err := syscall.Mmap(int(f.Fd()), 0, journalHdrSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("store: journal: mmap: %w", err)
	}
	j = &journal{f: f, hdr: hdr, seed: maphash.MakeSeed(), latest: map[int64]journaledToken{},
		freed: make(chan struct{}), first: make(chan struct{}, 1), urgent: make(chan struct{}, 1)}
	j.gen = (*atomic.Uint64)(unsafe.Pointer(&hdr[hdrGenOff]))
	j.appendedSeq = (*atomic.Uint64)(unsafe.Pointer(&hdr[hdrAppendedOff]))
	j.appliedSeq = (*atomic.Uint64)(unsafe.Pointer(&hdr[hdrAppliedOff]))
	if own {
		if err := lockWait(f, journalLockWait); err != nil {
			j.close()
			return nil, err
		}
		if err := j.mapRing(true); err != nil {
			j.close()
			return nil, err
		}
	}
	return j, nil
}

// mapRing maps the ring (the lock held), sizing it first when size and
// no process has yet.
func (j *journal) mapRing(size bool) error {
	ringSize := binary.LittleEndian.Uint64(j.hdr[hdrRingOff:])
	if ringSize == 0 && size {
		ringSize = uint64(journalRingSize)
		if err := fallocate(j.f, journalHdrSize+int64(ringSize)); err != nil {
			return fmt.Errorf("store: journal: %w", err)
		}
		binary.LittleEndian.PutUint64(j.hdr[hdrRingOff:], ringSize)
	}
	if ringSize%8 != 0 || ringSize > 1<<40 {
		return fmt.Errorf("store: %s: bad ring size %d", j.f.Name(), ringSize)
	}
	if ringSize == 0 || uint64(len(j.ring)) == ringSize {
		return nil
	}
	if fi, err := j.f.Stat(); err != nil || fi.Size() < journalHdrSize+int64(ringSize) {
		return fmt.Errorf("store: %s is shorter than its ring", j.f.Name())
	}
	if j.mem != nil {
		syscall.Munmap(j.mem)
	}
	mem, err := syscall.Mmap(int(j.f.Fd()), 0, journalHdrSize+int(ringSize), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("store: journal: mmap: %w", err)
	}
	j.mem, j.ring = mem, mem[journalHdrSize:]
	return nil
}

// lock takes the journal if no other process has it, and maps its ring;
// it reports whether it did.
func (j *journal) lock() (bool, error) {
	ok, err := tryLock(j.f)
	if err != nil || !ok {
		return false, err
	}
	if err := j.mapRing(false); err != nil {
		j.unlock()
		return false, err
	}
	return true, nil
}

// unlock gives the lock back.
func (j *journal) unlock() error { return syscall.Flock(int(j.f.Fd()), syscall.LOCK_UN) }

func fallocate(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	// Allocated blocks, not a sparse file: a store into a hole the file
	// system cannot fill (a full disk) would kill the process with SIGBUS.
	err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		err = f.Truncate(size)
	}
	return err
}

func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: journal: lock: %w", err)
	}
	return true, nil
}

func lockWait(f *os.File, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		ok, err := tryLock(f)
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("store: %s: %w", f.Name(), ErrJournalOwned)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close unmaps and closes the journal (releasing any lock).
func (j *journal) close() error {
	if j == nil {
		return nil
	}
	var err error
	if j.mem != nil {
		err = syscall.Munmap(j.mem)
	}
	return errors.Join(err, syscall.Munmap(j.hdr), j.f.Close())
}

// changes is the change generation: it grows after every committed change
// other than a journaled accept, by any process.
func (j *journal) changes() uint64 { return j.gen.Load() }

// bumpChanges tells every process with the journal mapped that a change
// was committed.
func (j *journal) bumpChanges() { j.gen.Add(1) }

// start sets where the unapplied records begin (as the database recorded
// it) and finds where they end.
func (j *journal) start(pos, seq uint64) (end uint64) {
	j.tail, j.tailSeq = pos, seq
	j.head, j.seq = pos, seq
	j.scan(pos, math.MaxUint64, seq, func(p, s uint64, _ []byte) { j.head, j.seq = p, s })
	j.appliedSeq.Store(seq)
	j.appendedSeq.Store(j.seq)
	return j.head
}

func align8(n uint64) uint64 { return (n + 7) &^ 7 }

// scan calls fn for each valid record from pos (whose sequence number must
// follow seq) until end, the first invalid record, or a whole ring: fn
// gets the position after the record, its sequence number and its
// payload (nil for a skip), which is valid until the ring space is freed.
func (j *journal) scan(pos, end, seq uint64, fn func(next, seq uint64, payload []byte)) {
	r := uint64(len(j.ring))
	if r == 0 {
		return
	}
	for start := pos; pos < end && pos-start < r; {
		off := pos % r
		if r-off < recHdrSize {
			pos += r - off
			continue
		}
		h := j.ring[off : off+recHdrSize]
		n := binary.LittleEndian.Uint32(h)
		s := binary.LittleEndian.Uint64(h[8:])
		if s != seq+1 {
			return
		}
		if n == recSkip {
			if recCRC(n, s, nil) != binary.LittleEndian.Uint32(h[4:]) {
				return
			}
			pos += r - off
			seq = s
			fn(pos, s, nil)
			continue
		}
		if n > maxRecPayload || off+recHdrSize+uint64(n) > r {
			return
		}
		p := j.ring[off+recHdrSize : off+recHdrSize+uint64(n)]
		if recCRC(n, s, p) != binary.LittleEndian.Uint32(h[4:]) {
			return
		}
		pos += align8(recHdrSize + uint64(n))
		seq = s
		fn(pos, s, p)
	}
}

func recCRC(n uint32, seq uint64, p []byte) uint32 {
	var b [12]byte
	binary.LittleEndian.PutUint32(b[:], n)
	binary.LittleEndian.PutUint64(b[4:], seq)
	return crc32.Update(crc32.Checksum(b[:], crcTable), crcTable, p)
}

// journalRec is one journaled accept: the token's new state and the
// login's audit row. encode writes its payload; the applier reads it in
// C (radmfa_authw_apply_ring in authw.c), which knows the same layout.
type journalRec struct {
	at       int64 // audit time, Unix milliseconds
	tokenID  int64
	userID   int64
	counter  uint64
	lastStep int64
	drift    int64
	activate bool
	texts    [auditTexts]string
}

// auditTexts are an audit row's texts: actor, action, user, serial,
// client, result, detail.
const auditTexts = 7

func (r *journalRec) size() int {
	n := recFixed + 2*auditTexts
	for _, t := range r.texts {
		n += len(t)
	}
	return n
}

func (r *journalRec) encode(p []byte) {
	p[0], p[1] = recFormat, 0
	if r.activate {
		p[1] = recActivate
	}
	clear(p[2:8])
	le := binary.LittleEndian
	le.PutUint64(p[8:], uint64(r.at))
	le.PutUint64(p[16:], uint64(r.tokenID))
	le.PutUint64(p[24:], uint64(r.userID))
	le.PutUint64(p[32:], r.counter)
	le.PutUint64(p[40:], uint64(r.lastStep))
	le.PutUint64(p[48:], uint64(r.drift))
	o := recFixed
	for _, t := range r.texts {
		le.PutUint16(p[o:], uint16(len(t)))
		o += 2 + copy(p[o+2:], t)
	}
}

// ErrJournalFull is JournalAccept's answer, when it may not wait, while the
// journal has no room until the writer applies it.
var ErrJournalFull = errors.New("store: journal full")

// append journals one accept unless the change generation is no longer
// gen or the token moved on since readCounter and readLastStep were
// read (ErrConflict). When the ring is full it waits for the writer to
// free space, or returns ErrJournalFull at once unless wait.
func (j *journal) append(ctx context.Context, gen uint64, r *journalRec, readCounter uint64, readLastStep int64, serial string, wait bool) error {
	n := r.size()
	if n > maxRecPayload {
		return fmt.Errorf("store: journal: record of %d bytes", n)
	}
	size := align8(recHdrSize + uint64(n))
	sh := maphash.String(j.seed, serial)
	j.mu.Lock()
	for {
		if j.gen.Load() != gen {
			j.mu.Unlock()
			return ErrConflict
		}
		if t, ok := j.latest[r.tokenID]; ok && t.serial == sh && (readCounter < t.counter || readLastStep < t.lastStep) {
			j.mu.Unlock()
			return ErrConflict
		}
		rs := uint64(len(j.ring))
		off := j.head % rs
		need := size
		if rs-off < size {
			need += rs - off
		}
		if j.head+need-j.tail <= rs {
			break
		}
		freed := j.freed
		j.mu.Unlock()
		j.waits.Add(1)
		signal(j.urgent)
		if !wait {
			return ErrJournalFull
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
		j.mu.Lock()
	}
	rs := uint64(len(j.ring))
	wasEmpty := j.head == j.tail
	if off := j.head % rs; rs-off < size {
		if rs-off >= recHdrSize {
			j.seq++
			h := j.ring[off : off+recHdrSize]
			binary.LittleEndian.PutUint32(h, recSkip)
			binary.LittleEndian.PutUint64(h[8:], j.seq)
			binary.LittleEndian.PutUint32(h[4:], recCRC(recSkip, j.seq, nil))
		}
		j.head += rs - off
	}
	off := j.head % rs
	j.seq++
	p := j.ring[off+recHdrSize : off+recHdrSize+uint64(n)]
	r.encode(p)
	h := j.ring[off : off+recHdrSize]
	binary.LittleEndian.PutUint32(h, uint32(n))
	binary.LittleEndian.PutUint64(h[8:], j.seq)
	binary.LittleEndian.PutUint32(h[4:], recCRC(uint32(n), j.seq, p))
	j.head += size
	j.appendedSeq.Store(j.seq)
	t := j.latest[r.tokenID]
	if t.serial != sh {
		t = journaledToken{serial: sh}
	}
	t.counter = max(t.counter, r.counter)
	if r.lastStep >= t.lastStep {
		t.lastStep, t.drift = r.lastStep, r.drift
	}
	t.lastUsed = max(t.lastUsed, r.at/1000)
	t.activated = t.activated || r.activate
	t.seq = j.seq
	j.latest[r.tokenID] = t
	urgent := j.head-j.tail > rs/4
	j.mu.Unlock()
	j.appends.Add(1)
	if wasEmpty {
		signal(j.first)
	}
	if urgent {
		signal(j.urgent)
	}
	return nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// pending returns the unapplied records' span: [from, to), after seq.
func (j *journal) pending() (from, to, seq uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.tail, j.head, j.tailSeq
}

// applied records that the database now holds every record before pos
// (the last one numbered seq): their space is free again.
func (j *journal) applied(pos, seq uint64) {
	j.mu.Lock()
	j.tail, j.tailSeq = pos, seq
	j.appliedSeq.Store(seq)
	close(j.freed)
	j.freed = make(chan struct{})
	j.mu.Unlock()
}

// behind reports whether the owner's database lags its journal now, and
// the sequence number it must reach.
func (j *journal) behind() (bool, uint64) {
	a := j.appendedSeq.Load()
	return j.appliedSeq.Load() < a, a
}

// hasApplied reports whether the owner's database has every record up to seq.
func (j *journal) hasApplied(seq uint64) bool { return j.appliedSeq.Load() >= seq }

// overlay brings tokens read from the database up to their journaled
// state: the database may not have the newest accepts yet.
func (j *journal) overlay(toks []Token) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.latest) == 0 {
		return
	}
	for i := range toks {
		t := &toks[i]
		l, ok := j.latest[t.ID]
		if !ok || l.serial != maphash.String(j.seed, t.Serial) {
			continue
		}
		t.Counter = max(t.Counter, l.counter)
		if l.lastStep > t.LastStep {
			t.LastStep, t.Drift = l.lastStep, l.drift
		}
		if l.lastUsed > t.LastUsed.Unix() {
			t.LastUsed = unixTime(l.lastUsed)
		}
		if l.activated && t.State == StateAssigned {
			t.State = StateActive
		}
		if l.seq > j.tailSeq {
			t.FailCount = 0 // the accept, when applied, clears it
		}
	}
}
