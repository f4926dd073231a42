package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/sqlite"
	"github.com/radmfa/radmfa/store/storetest"
)

func newKey(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := store.CreateKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func openSQLite(t *testing.T, dir string, key []byte) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(sqlite.Options{Path: filepath.Join(dir, "radmfa.db"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQLiteSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		dir := t.TempDir()
		return openSQLite(t, dir, newKey(t, dir))
	})
}

func TestSQLiteReseal(t *testing.T) {
	storetest.RunReseal(t, func(t *testing.T) storetest.Rotatable {
		dir := t.TempDir()
		return openSQLite(t, dir, newKey(t, dir))
	})
}

func TestSQLiteLogins(t *testing.T) {
	storetest.RunLogins(t, func(t *testing.T) (store.Store, store.Store) {
		dir := t.TempDir()
		key := newKey(t, dir)
		return openSQLite(t, dir, key), openSQLite(t, dir, key)
	})
}

func TestSeedNotInDatabaseFile(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir, newKey(t, dir))
	seed := []byte("SEED-MARKER-0123456789-abcdef")
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "t", store.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, "t", store.Token{Serial: "S1", User: "alice", Type: "hotp", Origin: "soft",
		State: store.StateActive, Algorithm: "SHA1", Digits: 6, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateClient(ctx, "t", store.Client{Name: "c", Prefix: mustPrefix("127.0.0.1/32"),
		Secret: []byte("CLIENT-SECRET-MARKER")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"radmfa.db", "radmfa.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 && name == "radmfa.db" {
			t.Fatal("empty database file")
		}
		if bytes.Contains(b, seed) || bytes.Contains(b, []byte("CLIENT-SECRET-MARKER")) {
			t.Fatalf("%s holds a secret in clear", name)
		}
	}
	// And it does come back with the key.
	s = openSQLite(t, dir, mustLoad(t, dir))
	defer s.Close()
	tok, err := s.Token(ctx, "S1")
	if err != nil || !bytes.Equal(tok.Seed, seed) {
		t.Fatalf("seed after reopen: %v", err)
	}
}

func TestSealedSeedBoundToSerial(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir, newKey(t, dir))
	ctx := context.Background()
	for _, serial := range []string{"A", "B"} {
		if _, err := s.CreateToken(ctx, "t", store.Token{Serial: serial, Type: "hotp", Origin: "hardware",
			State: store.StateInventory, Algorithm: "SHA1", Digits: 6, Seed: []byte(serial + "-seed-0123456789")}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := sql.Open("sqlite3", filepath.Join(dir, "radmfa.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE tokens SET seed = (SELECT seed FROM tokens WHERE serial = 'A') WHERE serial = 'B'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openSQLite(t, dir, mustLoad(t, dir))
	defer s.Close()
	if _, err := s.Token(ctx, "B"); err == nil {
		t.Fatal("a seed copied from another serial opened")
	}
}

func mustLoad(t *testing.T, dir string) []byte {
	t.Helper()
	k, err := store.LoadKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) []byte
		want    string
	}{
		{"wrong key", func(t *testing.T, dir string) []byte {
			s := openSQLite(t, dir, newKey(t, dir))
			s.Close()
			return bytes.Repeat([]byte{7}, 32)
		}, "master key does not match"},
		{"not sqlite", func(t *testing.T, dir string) []byte {
			os.WriteFile(filepath.Join(dir, "radmfa.db"), bytes.Repeat([]byte("not a database "), 400), 0o600)
			return newKey(t, dir)
		}, "not a radmfa database"},
		{"someone else's sqlite", func(t *testing.T, dir string) []byte {
			db, _ := sql.Open("sqlite3", filepath.Join(dir, "radmfa.db"))
			if _, err := db.Exec(`CREATE TABLE orders(id INTEGER)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			return newKey(t, dir)
		}, "not a radmfa database"},
		{"short key", func(t *testing.T, dir string) []byte { return []byte("short") }, "must be 32 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key := tc.prepare(t, dir)
			s, err := sqlite.Open(sqlite.Options{Path: filepath.Join(dir, "radmfa.db"), Key: key})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	if _, err := store.LoadKey(path); !errors.Is(err, store.ErrKeyMissing) {
		t.Fatalf("missing key: %v", err)
	}
	key, err := store.CreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %o, want 600", fi.Mode().Perm())
	}
	if _, err := store.CreateKey(path); err == nil {
		t.Fatal("CreateKey overwrote an existing key")
	}
	got, err := store.LoadKey(path)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("LoadKey = %x, %v", got, err)
	}
	os.Chmod(path, 0o644)
	if _, err := store.LoadKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("zz"), 0o600)
	if _, err := store.LoadKey(path); err == nil {
		t.Fatal("garbage key loaded")
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir, newKey(t, dir))
	if _, err := s.CreateUser(context.Background(), "t", store.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSQLite(t, dir, mustLoad(t, dir))
	defer s.Close()
	if _, err := s.User(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
}

// A failing write that shares a group commit with others undoes only itself.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir, newKey(t, dir))
	defer s.Close()
	ctx := context.Background()
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			name := "user" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			if i%2 == 1 {
				name = "dup" // all but one of these collide
			}
			_, errs[i] = s.CreateUser(ctx, "t", store.User{Name: name})
		})
	}
	wg.Wait()
	var ok, dup int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrExists):
			dup++
		default:
			t.Fatal(err)
		}
	}
	users, _ := s.Users(ctx)
	if ok != n/2+1 || dup != n/2-1 || len(users) != ok {
		t.Fatalf("ok=%d dup=%d users=%d", ok, dup, len(users))
	}
	ev, _ := s.AuditEvents(ctx, store.AuditFilter{})
	if len(ev) != ok {
		t.Fatalf("%d audit rows for %d created users", len(ev), ok)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestBulkAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir, newKey(t, dir))
	defer s.Close()
	ctx := context.Background()
	tok := func(serial string) store.Token {
		return store.Token{Serial: serial, Type: "hotp", Origin: store.OriginSoft, State: store.StateActive,
			Algorithm: "SHA1", Digits: 6, Seed: []byte("0123456789abcdef0123")}
	}
	ok := []store.BulkItem{
		{User: &store.User{Name: "u1"}, Tokens: []store.Token{tok("S1")}},
		{User: &store.User{Name: "u2"}, Tokens: []store.Token{tok("S2"), tok("S3")}},
		{Tokens: []store.Token{{Serial: "HW1", Type: "hotp", Origin: store.OriginHardware, State: store.StateInventory, Algorithm: "SHA1", Digits: 6, Seed: []byte("x")}}},
		{User: &store.User{Name: "u5"}, Tokens: []store.Token{{Serial: "P1", Type: "push", Origin: store.OriginSoft,
			State: store.StateActive, Algorithm: "SHA1", Digits: 6, Period: 30, Seed: []byte("0123456789abcdef0123")}},
			Devices: []store.Device{{PublicKey: []byte{4, 1}, OS: "bench", Notifications: true}}},
	}
	if err := s.Bulk(ctx, "t", "bulk", ok); err != nil {
		t.Fatal(err)
	}
	if devs, err := s.UserDevices(ctx, "u5"); err != nil || len(devs) != 1 || devs[0].OS != "bench" {
		t.Fatalf("bulk device = %+v, %v", devs, err)
	}
	_, toks, err := s.UserTokens(ctx, "u2")
	if err != nil || len(toks) != 2 || string(toks[0].Seed) != "0123456789abcdef0123" {
		t.Fatalf("u2 tokens = %+v, %v", toks, err)
	}
	bad := []store.BulkItem{
		{User: &store.User{Name: "u3"}, Tokens: []store.Token{tok("S4")}},
		{User: &store.User{Name: "u4"}, Tokens: []store.Token{tok("S1")}}, // duplicate serial
	}
	if err := s.Bulk(ctx, "t", "bulk", bad); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate in batch: %v", err)
	}
	if _, err := s.User(ctx, "u3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a failed batch left a user behind")
	}
}
