package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/sqlite"
)

// Key rotation while a server takes logins: no login is refused; after a
// restart with only the new key every token still verifies (and one
// enrolled during the rotation too); the old key opens nothing.
func TestKeyRotationUnderLoad(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "kim")
	e.ok("user", "add", "lou")
	_, kimSeed := e.enrollSecret("kim", "--type", "hotp")
	srv := startServer(t, e)
	n := newNAS(t, "127.0.0.1", srv.addr, "testing123")
	oldKey, err := store.LoadKey(filepath.Join(e.dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var counter uint64
	var refused []string
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
			mu.Lock()
			c := counter
			counter++
			mu.Unlock()
			p := n.exchangeOnce("kim", hotpAt(kimSeed, c), 10*time.Second)
			if p == nil || p.Code != radius.CodeAccessAccept {
				mu.Lock()
				refused = append(refused, hotpAt(kimSeed, c))
				mu.Unlock()
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	out := e.ok("key", "rotate")
	if !strings.Contains(out, "secrets sealed again under the new master key") || !strings.Contains(out, ".retired-") {
		t.Fatalf("key rotate:\n%s", out)
	}
	// A token enrolled right after, by the CLI beside the server.
	_, louSeed := e.enrollSecret("lou", "--type", "hotp")
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	mu.Lock()
	if len(refused) != 0 || counter < 5 {
		t.Fatalf("%d logins, refused during the rotation: %v", counter, refused)
	}
	next := counter
	mu.Unlock()

	// Only the new key: a restart, and every token verifies.
	srv.stop()
	retired, _ := filepath.Glob(filepath.Join(e.dir, "master.key.retired-*"))
	if len(retired) != 1 {
		t.Fatalf("retired keys: %v", retired)
	}
	srv2 := startServer(t, e)
	n2 := newNAS(t, "127.0.0.1", srv2.addr, "testing123")
	if p := n2.exchange("kim", hotpAt(kimSeed, next)); p.Code != radius.CodeAccessAccept {
		t.Fatalf("kim after the restart with the new key: %v", p.Code)
	}
	if p := n2.exchange("lou", hotpAt(louSeed, 0)); p.Code != radius.CodeAccessAccept {
		t.Fatalf("lou, enrolled during the rotation: %v", p.Code)
	}
	srv2.stop()
	// The old key opens nothing: the database refuses it at open.
	if _, err := sqlite.Open(sqlite.Options{Path: filepath.Join(e.dir, "radmfa.db"), Key: oldKey}); err == nil {
		t.Fatal("the old key still opens the database")
	}
	// Nor any seed, secret or key check in it.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(e.dir, "radmfa.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old, _ := store.NewSealer(oldKey)
	rows, err := db.Query(`SELECT serial, seed FROM tokens WHERE seed IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	seeds := 0
	for rows.Next() {
		var serial string
		var sealed []byte
		rows.Scan(&serial, &sealed)
		if _, err := old.Open(sealed, store.SeedAD(serial)); err == nil {
			t.Fatalf("the old key opens %s's seed", serial)
		}
		seeds++
	}
	rows.Close()
	var secret []byte
	db.QueryRow(`SELECT secret FROM clients WHERE name = 'vpn'`).Scan(&secret)
	if _, err := old.Open(secret, store.SecretAD("vpn")); err == nil || seeds != 2 {
		t.Fatalf("the old key opens the client's secret (%v), or %d seeds", err, seeds)
	}
	if n := e.auditCount("", "key.rotate", "ok"); n != 1 {
		t.Fatalf("%d key.rotate rows", n)
	}
}
