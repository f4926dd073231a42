package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
)

// A backup taken while a server accepts logins opens, passes
// PRAGMA integrity_check, and a server started on it (restored into a
// stopped data dir) refuses every code accepted before the backup began.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "bea")
	_, seed := e.enrollSecret("bea", "--type", "hotp")
	srv := startServer(t, e)
	n := newNAS(t, "127.0.0.1", srv.addr, "testing123")

	// Logins go on while the backup is taken.
	var mu sync.Mutex
	var accepted []uint64 // counters accepted, in order
	var backupStarted atomic.Bool
	var acceptedBefore []uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := uint64(0); ; c++ {
			select {
			case <-stop:
				return
			default:
			}
			p := n.exchangeOnce("bea", hotpAt(seed, c), 10*time.Second)
			if p != nil && p.Code == radius.CodeAccessAccept {
				mu.Lock()
				accepted = append(accepted, c)
				mu.Unlock()
			}
		}
	}()
	for {
		mu.Lock()
		k := len(accepted)
		mu.Unlock()
		if k >= 20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	acceptedBefore = append([]uint64(nil), accepted...)
	mu.Unlock()
	backupStarted.Store(true)
	file := filepath.Join(t.TempDir(), "radmfa-backup.db")
	if out := e.ok("backup", file); !strings.Contains(out, "holds no master key") {
		t.Fatalf("backup:\n%s", out)
	}
	close(stop)
	<-done
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup file: %v %v", fi, err)
	}
	db, err := sql.Open("sqlite3", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	db.Close()
	if _, err := os.ReadFile(file); err != nil {
		t.Fatal(err)
	}

	// A restore refuses while the server runs.
	if _, errOut, code := e.run("restore", file); code == 0 || !strings.Contains(errOut, "a server is running") {
		t.Fatalf("restore under a running server: exit %d, %q", code, errOut)
	}
	srv.stop()
	out := e.ok("restore", file)
	if !strings.Contains(out, "restored") || !strings.Contains(out, "1 users, 1 tokens") || !strings.Contains(out, "kept as") {
		t.Fatalf("restore:\n%s", out)
	}
	srv2 := startServer(t, e)
	n2 := newNAS(t, "127.0.0.1", srv2.addr, "testing123")
	for _, c := range acceptedBefore {
		if p := n2.exchange("bea", hotpAt(seed, c), fromStation("192.0.2.77")); p.Code != radius.CodeAccessReject {
			t.Fatalf("code %d, accepted before the backup, accepted again after the restore", c)
		}
	}
	// Another data dir's key does not open it.
	other := newCLI(t)
	other.ok("init")
	if _, errOut, code := other.run("restore", file); code == 0 || !strings.Contains(errOut, "another master key") {
		t.Fatalf("restore with another key: exit %d, %q", code, errOut)
	}
}
