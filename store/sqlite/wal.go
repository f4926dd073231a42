package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// walFile syncs the database's write-ahead log from Go, with fdatasync
// where SQLite (as go-sqlite3 builds it) would fsync (see datasync). A
// sync covers the whole file, frames and header alike: once it returns,
// every transaction committed before it started is on disk, as SQLite's
// synchronous FULL would have it at each commit.
//
// The file is the one SQLite writes as long as it is the file at the path:
// SQLite removes the WAL only when the last connection to the database
// closes, and the store keeps its write connection open; sync checks all
// the same, and follows a new file.
type walFile struct {
	path string
	mu   sync.Mutex // sync runs on the writer; close on Close
	f    *os.File
}

// openWAL opens the WAL of the database at path (the store created it,
// empty, before SQLite opened the database) and syncs its directory, so
// that the file itself survives a power loss.
func openWAL(path string) (*walFile, error) {
	w := &walFile{path: path + "-wal"}
	if err := w.reopen(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *walFile) reopen() error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: WAL: %w", err)
	}
	if err := syncDir(filepath.Dir(w.path)); err != nil {
		f.Close()
		return err
	}
	w.f = f
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}

// sync makes everything written to the WAL so far durable.
func (w *walFile) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("store: WAL: closed")
	}
	cur, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("store: WAL: %w", err)
	}
	if held, err := w.f.Stat(); err != nil || !os.SameFile(cur, held) {
		// Not the file SQLite writes now: follow it. Whatever went to the
		// old one was checkpointed into the database, which SQLite synced
		// before it removed the file.
		if err := w.reopen(); err != nil {
			return err
		}
	}
	if err := datasync(w.f); err != nil {
		return fmt.Errorf("store: WAL: %w", err)
	}
	return nil
}

func (w *walFile) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
