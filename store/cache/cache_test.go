package cache_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/cache"
	"github.com/radmfa/radmfa/store/sqlite"
	"github.com/radmfa/radmfa/store/storetest"
)

func openBackend(t *testing.T, dir string, key []byte) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(sqlite.Options{Path: filepath.Join(dir, "radmfa.db"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKey(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := store.CreateKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// The cache over SQLite is a store like any other.
func TestCacheSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		dir := t.TempDir()
		return cache.New(openBackend(t, dir, newKey(t, dir)), cache.Options{Users: 100})
	})
}

// The login seam holds through the cache, also when another process
// changes the database under it.
func TestCacheLogins(t *testing.T) {
	storetest.RunLogins(t, func(t *testing.T) (store.Store, store.Store) {
		dir := t.TempDir()
		key := newKey(t, dir)
		return cache.New(openBackend(t, dir, key), cache.Options{Users: 100}), openBackend(t, dir, key)
	})
}

// A login state read once is served from memory; a fresh read, a change
// through the cache or a refusal goes to the backend again.
func TestCacheServesFromMemory(t *testing.T) {
	dir := t.TempDir()
	c := cache.New(openBackend(t, dir, newKey(t, dir)), cache.Options{Users: 100})
	defer c.Close()
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, "t", store.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateToken(ctx, "t", store.Token{Serial: "A1", User: "alice", Type: "hotp", Origin: store.OriginSoft,
		State: store.StateActive, Algorithm: "SHA1", Digits: 6, Seed: []byte("12345678901234567890")}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name       string
		fresh      bool
		wantCached bool
	}{
		{"first read", false, false},
		{"second read", false, true},
		{"fresh read", true, false},
		{"after the fresh read", false, true},
	}
	for _, st := range steps {
		got, err := c.LoginState(ctx, "alice", st.fresh)
		if err != nil || got.Cached != st.wantCached || len(got.Tokens) != 1 {
			t.Fatalf("%s: cached %v (%v), want %v", st.name, got.Cached, err, st.wantCached)
		}
	}
	if c.Len() != 1 {
		t.Fatalf("%d users cached, want 1", c.Len())
	}
	if _, err := c.UpdateToken(ctx, "t", "A1", "token.test", func(*store.Token) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 0 {
		t.Fatal("a change through the cache left its entries")
	}
}
