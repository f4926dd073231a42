//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the lock beside a SQLite database that tells whether a
// server runs on it: serve holds it shared, restore takes it exclusive.
func lockFile(db string) string { return db + ".lock" }

// holdServing takes the shared lock of db for as long as serve runs.
func holdServing(db string) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lockFile(db), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockFile(db), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w (a restore is running?)", lockFile(db), err)
	}
	return func() { f.Close() }, nil
}

// holdStopped takes the exclusive lock of db: it fails while a server
// runs on it.
func holdStopped(db string) (release func(), err error) {
	f, err := os.OpenFile(lockFile(db), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockFile(db), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("a server is running on %s: stop it first (restore replaces the database under it)", db)
	}
	return func() { f.Close() }, nil
}
