package store

import (
	"context"
	"encoding/binary"
	"os"
	"sync"
	"testing"
	"time"
)

// walSequence reads the checkpoint sequence number in the WAL's header,
// which SQLite increments each time the WAL restarts from its beginning.
func walSequence(t *testing.T, path string) (seq uint32, size int64) {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hdr [32]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(hdr[12:16]), fi.Size()
}

// TestCheckpointerCatchesUp: under commits that never pause, a PASSIVE
// checkpoint never copies the whole WAL, so only the writers' own
// checkpoint at writerCheckpointPages (64 MiB) would restart it, inside a
// commit. The checkpointer's catch-up, holding the authentication
// writer's gate, restarts it while it is still small.
func TestCheckpointerCatchesUp(t *testing.T) {
	every, pages := checkpointEvery, catchUpPages
	checkpointEvery, catchUpPages = 10*time.Millisecond, 256 // 1 MiB
	t.Cleanup(func() { checkpointEvery, catchUpPages = every, pages })
	// Commits at once, not synced: back to back, as in a storm.
	s, path, users, toks := authFixture(t, 8, func(o *Options) { o.Synchronous, o.Linger = "NORMAL", -1 })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	const writers = 64
	errs := make(chan error, writers)
	for w := range writers {
		i := w % len(toks)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.CommitAuth(context.Background(), AuthCommit{At: time.Unix(1_700_000_000, 0),
					Tokens: []TokenAuth{{ID: toks[i].ID, Failed: true}},
					Audit:  AuditEvent{Actor: "radius:nas", Action: "auth", User: users[i].Name, Result: "reject"}})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	first, _ := walSequence(t, path)
	var seq uint32
	var largest int64
	deadline := time.Now().Add(10 * time.Second)
	// Until the WAL restarted three times and three of those were catch-ups
	// (on a busy machine a PASSIVE checkpoint may find a pause and finish).
	for (seq-first < 3 || s.CheckpointStats().CaughtUp < 3) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		var size int64
		seq, size = walSequence(t, path)
		largest = max(largest, size)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.CheckpointStats()
	if seq-first < 3 {
		t.Fatalf("the WAL restarted %d times in 10 s of commits, want 3; largest %d bytes; checkpointer %+v", seq-first, largest, st)
	}
	// The WAL restarts at the first commit after a catch-up. It grows
	// past catchUpPages while the checkpointer copies (here some 400 MB/s
	// are committed), but stays far from the writers' 64 MiB.
	t.Logf("WAL restarts %d, largest %d bytes; checkpointer %+v", seq-first, largest, st)
	if limit := int64(writerCheckpointPages * 4096 / 4); largest > limit {
		t.Errorf("WAL grew to %d bytes, want at most %d", largest, limit)
	}
	if st.CatchUps < 3 || st.CaughtUp < 3 || st.GateHeldMax <= 0 || st.GateHeld < st.GateHeldMax || st.Failed != 0 {
		t.Errorf("checkpointer stats %+v, want catch-ups that copied everything and held the gate", st)
	}
}

// TestCheckpointerIdleAfterCatchUp: once a catch-up has copied the whole
// WAL and no commit has come since, there is nothing to catch up, however
// many ticks pass.
func TestCheckpointerIdleAfterCatchUp(t *testing.T) {
	every, pages := checkpointEvery, catchUpPages
	checkpointEvery, catchUpPages = 10*time.Millisecond, 2
	t.Cleanup(func() { checkpointEvery, catchUpPages = every, pages })
	s, _, users, toks := authFixture(t, 2, func(o *Options) { o.Synchronous = "NORMAL" })
	// The last commit: a token row and an audit row, two pages or more.
	if err := s.CommitAuth(context.Background(), AuthCommit{At: time.Unix(1_700_000_000, 0),
		Tokens: []TokenAuth{{ID: toks[0].ID, Failed: true}},
		Audit:  AuditEvent{Actor: "radius:nas", Action: "auth", User: users[0].Name, Result: "reject"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * checkpointEvery) // its catch-up
	before := s.CheckpointStats()
	time.Sleep(20 * checkpointEvery)
	after := s.CheckpointStats()
	if before.LogFrames < catchUpPages || before.CaughtUp < 1 || after.Runs-before.Runs < 10 {
		t.Fatalf("not the state this test needs: WAL of %d pages, a catch-up, 10 checkpoints: before %+v after %+v",
			catchUpPages, before, after)
	}
	if n := after.CatchUps - before.CatchUps; n != 0 {
		t.Errorf("%d catch-ups in %d checkpoints with no commits, want none", n, after.Runs-before.Runs)
	}
}
