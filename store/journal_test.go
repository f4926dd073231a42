package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// journalFixture is authFixture with the store owning the accept journal
// (synchronous NORMAL), applying it every apply (0: the default).
func journalFixture(t testing.TB, n int, apply time.Duration) (*SQLite, string, []User, []Token) {
	t.Helper()
	if apply > 0 {
		old := journalApplyEvery
		journalApplyEvery = apply
		t.Cleanup(func() { journalApplyEvery = old })
	}
	return authFixture(t, n, func(o *Options) { o.Synchronous, o.Journal = "NORMAL", true })
}

// accept is an accept of tok from counter c (the next counter c+1).
func accept(tok Token, u User, c uint64) AuthCommit {
	return AuthCommit{At: time.UnixMilli(1700000000123), Tokens: []TokenAuth{{ID: tok.ID, UserID: u.ID, Accepted: true,
		Counter: c + 1, ReadCounter: c}},
		Audit: AuditEvent{Actor: "radius:nas", Action: "auth", User: u.Name, Serial: tok.Serial, Client: "nas",
			Result: "accept:ok", Detail: fmt.Sprintf("counter=%d", c)}}
}

// keyAt reads the master key of the database at path.
func keyAt(t *testing.T, path string) []byte {
	t.Helper()
	key, err := LoadKey(filepath.Join(filepath.Dir(path), "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// reopen closes s and opens the database at path again without the
// journal (as the CLI does), so what it reads is what the database holds.
func reopen(t *testing.T, s *SQLite, path string) *SQLite {
	t.Helper()
	s.Close()
	s2, err := OpenSQLite(Options{Path: path, Key: keyAt(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func counterOf(t *testing.T, s *SQLite, serial string) uint64 {
	t.Helper()
	tok, err := s.Token(context.Background(), serial)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Counter
}

func serialAuths(t *testing.T, s *SQLite, serial string) []AuditEvent {
	t.Helper()
	ev, err := s.AuditEvents(context.Background(), AuditFilter{Serial: serial, Action: "auth"})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestJournalAcceptReadsAtOnceAndReachesTheDatabase(t *testing.T) {
	s, path, users, toks := journalFixture(t, 1, time.Hour)
	ctx := context.Background()
	gen := s.Changes()
	for c := range uint64(3) {
		if err := s.JournalAccept(ctx, gen, accept(toks[0], users[0], c), true); err != nil {
			t.Fatalf("accept from %d: %v", c, err)
		}
	}
	// Not applied yet (the writer waits an hour): reads overlay the journal.
	_, got, err := s.UserTokens(ctx, "u0")
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Counter != 3 {
		t.Fatalf("UserTokens counter %d, want 3", got[0].Counter)
	}
	if c := counterOf(t, s, "T0"); c != 3 {
		t.Fatalf("Token counter %d, want 3", c)
	}
	if st := s.JournalStats(); st.Appends != 3 || st.Applied != 0 || st.PendingB == 0 {
		t.Fatalf("before applying: %+v", st)
	}
	// Close applies the rest.
	s2 := reopen(t, s, path)
	if c := counterOf(t, s2, "T0"); c != 3 {
		t.Fatalf("database counter %d after close, want 3", c)
	}
	ev := serialAuths(t, s2, "T0")
	if len(ev) != 3 {
		t.Fatalf("%d audit rows, want 3", len(ev))
	}
	for i, e := range ev {
		want := AuditEvent{ID: e.ID, At: time.UnixMilli(1700000000123), Actor: "radius:nas", Action: "auth", User: "u0",
			Serial: "T0", Client: "nas", Result: "accept:ok", Detail: fmt.Sprintf("counter=%d", i)}
		if !e.At.Equal(want.At) {
			t.Errorf("row %d at %v, want %v", i, e.At, want.At)
		}
		e.At = want.At
		if e != want {
			t.Errorf("row %d = %+v, want %+v", i, e, want)
		}
	}
}

func TestJournalAppliesOnItsOwn(t *testing.T) {
	s, _, users, toks := journalFixture(t, 1, time.Millisecond)
	if err := s.JournalAccept(context.Background(), s.Changes(), accept(toks[0], users[0], 0), true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.JournalStats().Applied != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not applied: %+v", s.JournalStats())
		}
		time.Sleep(time.Millisecond)
	}
	var c int64
	if err := s.rdb.QueryRow(`SELECT counter FROM tokens WHERE serial = 'T0'`).Scan(&c); err != nil || c != 1 {
		t.Fatalf("database counter %d (%v), want 1", c, err)
	}
}

func TestJournalConflicts(t *testing.T) {
	s, path, users, toks := journalFixture(t, 2, time.Hour)
	ctx := context.Background()
	gen := s.Changes()
	if err := s.JournalAccept(ctx, gen, accept(toks[0], users[0], 0), true); err != nil {
		t.Fatal(err)
	}
	// The same code again, decided from the token as it was.
	if err := s.JournalAccept(ctx, gen, accept(toks[0], users[0], 0), true); !errors.Is(err, ErrConflict) {
		t.Fatalf("second accept from counter 0: %v, want ErrConflict", err)
	}
	// Decided from the state the first left: fine.
	if err := s.JournalAccept(ctx, gen, accept(toks[0], users[0], 1), true); err != nil {
		t.Fatal(err)
	}
	// A change committed by another process (the CLI) since gen was read.
	cli, err := OpenSQLite(Options{Path: path, Key: keyAt(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.UpdateToken(ctx, "cli", "T1", "token.revoke", func(t *Token) error { t.State = StateRevoked; return nil }); err != nil {
		t.Fatal(err)
	}
	if s.Changes() == gen {
		t.Fatal("the CLI's change did not move the generation")
	}
	if err := s.JournalAccept(ctx, gen, accept(toks[1], users[1], 0), true); !errors.Is(err, ErrConflict) {
		t.Fatalf("accept decided before the revoke: %v, want ErrConflict", err)
	}
	// An audit row alone is not a change.
	gen = s.Changes()
	if err := cli.Audit(ctx, AuditEvent{Actor: "cli", Action: "token.export", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	if s.Changes() != gen {
		t.Fatal("an audit row moved the generation")
	}
}

func TestJournalSecondOwnerRefused(t *testing.T) {
	_, path, _, _ := journalFixture(t, 0, 0)
	old := journalLockWait
	journalLockWait = 50 * time.Millisecond
	defer func() { journalLockWait = old }()
	_, err := OpenSQLite(Options{Path: path, Key: keyAt(t, path), Synchronous: "NORMAL", Journal: true})
	if !errors.Is(err, ErrJournalOwned) {
		t.Fatalf("second owner: %v, want ErrJournalOwned", err)
	}
	if _, err := OpenSQLite(Options{Path: path, Key: keyAt(t, path), Journal: true}); err == nil {
		t.Fatal("a journal with synchronous FULL opened")
	}
}

// TestForeignAcceptWaitsForNoOwner: another process's accept (radmfa token
// check) goes through the database, which lags the journal: refused while
// a server owns it, fine once it stopped, and never a code it accepted.
func TestForeignAcceptWaitsForNoOwner(t *testing.T) {
	s, path, users, toks := journalFixture(t, 1, time.Hour)
	ctx := context.Background()
	if err := s.JournalAccept(ctx, s.Changes(), accept(toks[0], users[0], 0), true); err != nil {
		t.Fatal(err)
	}
	cli, err := OpenSQLite(Options{Path: path, Key: keyAt(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	tok, err := cli.Token(ctx, "T0")
	if err != nil {
		t.Fatal(err)
	}
	c := accept(tok, users[0], tok.Counter)
	c.Tokens[0].Version = tok.Version
	if err := cli.CommitAuth(ctx, c); !errors.Is(err, ErrJournalOwned) {
		t.Fatalf("accept beside a journal owner: %v, want ErrJournalOwned", err)
	}
	s.Close()
	// The database has the server's accept now: the CLI's read was stale.
	if err := cli.CommitAuth(ctx, c); !errors.Is(err, ErrConflict) {
		t.Fatalf("accept of a code the server took: %v, want ErrConflict", err)
	}
	tok, err = cli.Token(ctx, "T0")
	if err != nil {
		t.Fatal(err)
	}
	c = accept(tok, users[0], tok.Counter)
	c.Tokens[0].Version = tok.Version
	if err := cli.CommitAuth(ctx, c); err != nil {
		t.Fatalf("accept with no owner: %v", err)
	}
}

// TestJournalKeepsAdminChanges: a journaled accept applied after a change
// the CLI made meanwhile moves counters only forward and keeps the change.
func TestJournalKeepsAdminChanges(t *testing.T) {
	s, path, users, toks := journalFixture(t, 3, time.Hour)
	ctx := context.Background()
	// T0 accepted at 0 (counter 1) while the CLI resyncs it to 50; T1
	// accepted while the CLI revokes it; T2 accepted, then deleted.
	for i := range 3 {
		if err := s.JournalAccept(ctx, s.Changes(), accept(toks[i], users[i], 0), true); err != nil {
			t.Fatal(err)
		}
	}
	cli, err := OpenSQLite(Options{Path: path, Key: keyAt(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.UpdateToken(ctx, "cli", "T0", "token.resync", func(t *Token) error { t.Counter = 50; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UpdateToken(ctx, "cli", "T1", "token.revoke", func(t *Token) error { t.State = StateRevoked; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := cli.DeleteToken(ctx, "cli", "T2"); err != nil {
		t.Fatal(err)
	}
	if c := counterOf(t, s, "T0"); c != 50 {
		t.Fatalf("overlay counter %d, want the resync's 50", c)
	}
	s2 := reopen(t, s, path)
	if c := counterOf(t, s2, "T0"); c != 50 {
		t.Fatalf("applied counter %d, want 50", c)
	}
	t1, err := s2.Token(ctx, "T1")
	if err != nil {
		t.Fatal(err)
	}
	if t1.State != StateRevoked || t1.Counter != 1 {
		t.Fatalf("T1 %s counter %d, want revoked, 1", t1.State, t1.Counter)
	}
	if _, err := s2.Token(ctx, "T2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("T2: %v", err)
	}
	if n := len(serialAuths(t, s2, "T2")); n != 1 {
		t.Fatalf("%d audit rows for T2's accept, want 1", n)
	}
}

// TestJournalWrapsAndFills: a ring of 4 KiB wraps many times; with the
// writer held off, an append that may not wait finds it full, and one
// that may gets room once the writer applies.
func TestJournalWrapsAndFills(t *testing.T) {
	old := journalRingSize
	journalRingSize = 4096
	defer func() { journalRingSize = old }()
	s, path, users, toks := journalFixture(t, 1, time.Hour)
	ctx := context.Background()
	s.jApplyW.Lock() // the writer cannot apply
	var c uint64
	for ; ; c++ {
		err := s.JournalAccept(ctx, s.Changes(), accept(toks[0], users[0], c), false)
		if errors.Is(err, ErrJournalFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if c < 10 || c > 40 {
		t.Fatalf("%d accepts fit in 4 KiB", c)
	}
	done := make(chan error, 1)
	go func() { done <- s.JournalAccept(ctx, s.Changes(), accept(toks[0], users[0], c), true) }()
	select {
	case err := <-done:
		t.Fatalf("an append into a full journal returned (%v) before any apply", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.jApplyW.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c++
	for end := c + 500; c < end; c++ {
		if err := s.JournalAccept(ctx, s.Changes(), accept(toks[0], users[0], c), true); err != nil {
			t.Fatalf("accept %d: %v", c, err)
		}
	}
	if st := s.JournalStats(); st.Waits == 0 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
	s2 := reopen(t, s, path)
	if got := counterOf(t, s2, "T0"); got != c {
		t.Fatalf("counter %d, want %d", got, c)
	}
	if n := uint64(len(serialAuths(t, s2, "T0"))); n != c {
		t.Fatalf("%d audit rows, want %d", n, c)
	}
}

// killChildEnv makes the test binary a process that journals accepts and
// waits to be killed (TestJournalSurvivesKill).
const killChildEnv = "RADMFA_TEST_JOURNAL_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		journalChild(dir)
		return
	}
	os.Exit(m.Run())
}

// journalChild journals n accepts of T0 and one torn record after them,
// says so on stdout, and waits.
func journalChild(dir string) {
	journalApplyEvery = time.Hour
	key, err := LoadKey(filepath.Join(dir, "master.key"))
	if err != nil {
		panic(err)
	}
	s, err := OpenSQLite(Options{Path: filepath.Join(dir, "radmfa.db"), Key: key, Synchronous: "NORMAL", Journal: true})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	u, toks, err := s.UserTokens(ctx, "u0")
	if err != nil {
		panic(err)
	}
	n, _ := strconv.Atoi(os.Getenv("RADMFA_TEST_N"))
	for c := range uint64(n) {
		if err := s.JournalAccept(ctx, s.Changes(), accept(toks[0], u, c), true); err != nil {
			panic(err)
		}
	}
	// A record half written when the process died: its CRC does not hold.
	_, start, _ := s.jr.pending()
	if err := s.JournalAccept(ctx, s.Changes(), accept(toks[0], u, uint64(n)), true); err != nil {
		panic(err)
	}
	s.jr.ring[(start+recHdrSize+8)%uint64(len(s.jr.ring))] ^= 0xff
	fmt.Println("journaled")
	select {}
}

// TestJournalSurvivesKill: a process that journaled accepts (none applied)
// is killed with SIGKILL; the next open applies every accept it made, and
// not the record it was writing.
func TestJournalSurvivesKill(t *testing.T) {
	s, path, _, _ := authFixture(t, 1)
	s.Close()
	const n = 200
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+filepath.Dir(path), "RADMFA_TEST_N="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if k, err := out.Read(buf); err != nil || string(buf[:k]) != "journaled\n" {
		cmd.Process.Kill()
		t.Fatalf("child said %q (%v)", buf[:k], err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	key := keyAt(t, path)
	s2, err := OpenSQLite(Options{Path: path, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if c := counterOf(t, s2, "T0"); c != n {
		t.Fatalf("counter %d after recovery, want %d", c, n)
	}
	if k := len(serialAuths(t, s2, "T0")); k != n {
		t.Fatalf("%d audit rows after recovery, want %d", k, n)
	}
	// The torn record's space is reused: a server appends after the last
	// good record, and its accepts apply.
	s2.Close()
	s3, err := OpenSQLite(Options{Path: path, Key: key, Synchronous: "NORMAL", Journal: true})
	if err != nil {
		t.Fatal(err)
	}
	u, toks, err := s3.UserTokens(context.Background(), "u0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.JournalAccept(context.Background(), s3.Changes(), accept(toks[0], u, n), true); err != nil {
		t.Fatal(err)
	}
	s4 := reopen(t, s3, path)
	if c := counterOf(t, s4, "T0"); c != n+1 {
		t.Fatalf("counter %d, want %d", c, n+1)
	}
}

// TestJournalScanRandom: scanning a ring of garbage never panics and finds
// no record.
func TestJournalScanRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	j := &journal{ring: make([]byte, 4096)}
	for range 2000 {
		for i := range j.ring {
			j.ring[i] = byte(r.Uint32())
		}
		seq := uint64(r.IntN(3))
		j.scan(uint64(r.IntN(8192))&^7, 1<<40, seq, func(_, _ uint64, _ []byte) {
			t.Fatal("a record in random bytes")
		})
	}
}

// TestJournalReadsCatchUp: the audit log and token counters, read right
// after an accept, show it: in the owner, and in another process (the
// CLI), which waits for the owner's writer.
func TestJournalReadsCatchUp(t *testing.T) {
	s, path, users, toks := journalFixture(t, 2, 100*time.Millisecond)
	ctx := context.Background()
	cli, err := OpenSQLite(Options{Path: path, Key: keyAt(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for i, st := range []*SQLite{s, cli} {
		if err := s.JournalAccept(ctx, s.Changes(), accept(toks[i], users[i], 0), true); err != nil {
			t.Fatal(err)
		}
		if n := len(serialAuths(t, st, toks[i].Serial)); n != 1 {
			t.Errorf("store %d: %d audit rows right after the accept, want 1", i, n)
		}
		all, err := st.Tokens(ctx, TokenFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if all[i].Serial != toks[i].Serial || all[i].Counter != 1 {
			t.Errorf("store %d: token list has %s at counter %d, want %s at 1", i, all[i].Serial, all[i].Counter, toks[i].Serial)
		}
	}
}

// TestJournalReadsCatchUpBesideWrites: a read right after an accept sees
// it even while other writes keep the writer gathering batches (a write
// queued after the accept can join a batch whose gathering began before).
func TestJournalReadsCatchUpBesideWrites(t *testing.T) {
	s, _, users, toks := journalFixture(t, 1, time.Hour)
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Audit(ctx, AuditEvent{Actor: "test", Action: "noise", Result: "ok"}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for c := range uint64(60) {
		if err := s.JournalAccept(ctx, s.Changes(), accept(toks[0], users[0], c), true); err != nil {
			t.Fatal(err)
		}
		if n := uint64(len(serialAuths(t, s, "T0"))); n != c+1 {
			t.Fatalf("after accept %d: %d audit rows, want %d", c, n, c+1)
		}
	}
}

// BenchmarkJournalAccept: accepts recorded back to back, as fast as the
// applier beside them (on its own thread) makes room: the sustained rate.
func BenchmarkJournalAccept(b *testing.B) {
	s, _, users, toks := journalFixture(b, 1, 0)
	ctx := context.Background()
	var c uint64
	b.ReportAllocs()
	for b.Loop() {
		if err := s.JournalAccept(ctx, s.Changes(), accept(toks[0], users[0], c), true); err != nil {
			b.Fatal(err)
		}
		c++
	}
}
