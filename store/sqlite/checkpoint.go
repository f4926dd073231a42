package sqlite

import (
	"database/sql"
	"time"
)

// The WAL is copied back into the database file by a checkpointer beside
// the writer, from a connection of its own, with PASSIVE checkpoints:
// they never block the writer or a reader, and skip what they cannot copy
// yet. Left to SQLite, the committing connection itself checkpoints once
// the WAL holds 1,000 pages, inside a commit, and every login waiting for
// that commit waited for the copy and its syncs too (a p99 of 9 ms at
// 25,000 logins/s). The writer still checkpoints itself, as a backstop,
// should the WAL reach writerCheckpointPages (a PASSIVE checkpoint beside
// steady writes never finishes the WAL, and SQLite restarts the WAL only
// after one that does).
const (
	checkpointEvery       = 250 * time.Millisecond
	writerCheckpointPages = 16384 // 64 MiB of 4 KiB pages
)

// checkpointer runs PASSIVE checkpoints on db every checkpointEvery until
// stop closes.
func (s *Store) checkpointer(db *sql.DB, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var busy, log, copied int
		err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
		s.metrics.checkpoints.Inc()
		if err != nil {
			s.metrics.checkpointFailures.Inc()
			s.log.Warn("store: WAL checkpoint failed", "err", err)
			continue
		}
		s.metrics.walPages.Set(float64(max(log, 0)))
	}
}
