package cache

import (
	"bytes"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
)

func cacheTestUser(name string) (store.User, []store.Token) {
	u := store.User{ID: 7, Name: name, Email: name + "@example.com", Group: "vpn", CreatedAt: time.Unix(1700000000, 0).UTC()}
	return u, []store.Token{{ID: 11, Serial: "HOTP-" + name, User: name, Type: "hotp", Origin: store.OriginSoft, State: store.StateActive,
		Algorithm: "SHA1", Digits: 6, Seed: []byte("12345678901234567890"), Counter: 5, Version: 3}}
}

func TestTokenCacheRoundTrip(t *testing.T) {
	at := func(s, ns int64) time.Time { return time.Unix(s, ns).UTC() }
	full := store.Token{ID: 1 << 40, Serial: "HW-0001", User: "Alice", Type: "totp", Origin: "import", State: store.StateAssigned,
		Algorithm: "SHA512", Digits: 8, Period: 60, Seed: bytes.Repeat([]byte{0xa5}, 64), Counter: 1<<63 + 5,
		LastStep: 29000000, Drift: -2, PINHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", FailCount: 4,
		LockedUntil: store.LockForever, LastUsed: at(1700000100, 0), CreatedAt: at(1600000000, 123456789),
		Description: "spare, desk 4", Version: 99, Manufacturer: "Feitian", Model: "c200",
		ValidFrom: at(1690000000, 0), ValidUntil: at(1800000000, 0)}
	tests := []struct {
		name string
		user store.User
		toks []store.Token
	}{
		{"no tokens", store.User{ID: 1, Name: "bob"}, nil},
		{"every field", store.User{ID: 2, Name: "Alice", Email: "a@example.com", Group: "admins", Disabled: true,
			CreatedAt: at(1500000000, 0), PushLockedUntil: 1700000000, Source: "corp", ExternalID: "uid=alice,dc=example"}, []store.Token{full}},
		{"several tokens", store.User{ID: 3, Name: "carol"}, []store.Token{
			{ID: 1, Serial: "a", User: "carol", Type: "hotp", State: store.StateActive, Seed: []byte{1}},
			{ID: 2, Serial: "b", User: "carol", Type: "push", State: store.StateRevoked},                   // no seed
			{ID: 3, Serial: "c", User: "carol", Type: "totp", State: store.StateInventory, Seed: []byte{}}, // empty, not none
		}},
		{"a state the cache has no code for", store.User{ID: 4, Name: "dave"}, []store.Token{
			{ID: 4, Serial: "d", User: "dave", State: "lost", Type: "hotp", Seed: []byte{9}}}},
		{"token owner spelled differently", store.User{ID: 5, Name: "Erin"}, []store.Token{{ID: 5, Serial: "e", User: "erin"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTokenCache(10)
			c.put(tc.user.Name, tc.user, tc.toks)
			e, ok := c.get(tc.user.Name)
			if !ok {
				t.Fatal("miss after put")
			}
			if !reflect.DeepEqual(e.user, tc.user) {
				t.Errorf("user = %+v, want %+v", e.user, tc.user)
			}
			if len(e.tokens) != len(tc.toks) {
				t.Fatalf("%d tokens, want %d", len(e.tokens), len(tc.toks))
			}
			for i := range tc.toks {
				if !reflect.DeepEqual(e.tokens[i], tc.toks[i]) {
					t.Errorf("token %d = %+v,\nwant %+v", i, e.tokens[i], tc.toks[i])
				}
				if (e.tokens[i].Seed == nil) != (tc.toks[i].Seed == nil) {
					t.Errorf("token %d: seed nil = %v, want %v", i, e.tokens[i].Seed == nil, tc.toks[i].Seed == nil)
				}
			}
		})
	}
}

// A login may change what get returned (it is the caller's copy), and the
// caller's slices may change after put, without touching the cache.
func TestTokenCacheCopies(t *testing.T) {
	c := newTokenCache(10)
	u, toks := cacheTestUser("alice")
	c.put("alice", u, toks)
	toks[0].Seed[0] = 'X'
	toks[0].Counter = 100
	e, _ := c.get("alice")
	e.tokens[0].Seed[1] = 'Y'
	e.tokens[0].Counter = 200
	again, _ := c.get("alice")
	if got := again.tokens[0]; string(got.Seed) != "12345678901234567890" || got.Counter != 5 {
		t.Errorf("cached token changed from outside: seed %q counter %d", got.Seed, got.Counter)
	}
}

func TestTokenCacheFoldsCase(t *testing.T) {
	c := newTokenCache(10)
	u, toks := cacheTestUser("Alice")
	c.put("Alice", u, toks)
	for _, name := range []string{"alice", "ALICE", "aLiCe"} {
		if _, ok := c.get(name); !ok {
			t.Errorf("get(%q) missed", name)
		}
	}
	c.drop("ALICE")
	if _, ok := c.get("Alice"); ok {
		t.Error("drop(ALICE) left Alice cached")
	}
}

// Names whose hashes collide share a slot: each sees only its own entry,
// never the other's tokens.
func TestTokenCacheHashCollision(t *testing.T) {
	c := newTokenCache(10)
	c.collide = true
	ua, ta := cacheTestUser("alice")
	ub, tb := cacheTestUser("bob")
	tb[0].ID, tb[0].Version = 12, 1
	c.put("alice", ua, ta)
	if _, ok := c.get("bob"); ok {
		t.Fatal("bob got alice's entry")
	}
	c.put("bob", ub, tb)
	if _, ok := c.get("alice"); ok {
		t.Error("alice still cached after bob took the slot")
	}
	c.drop("alice")
	c.accepted("alice", store.TokenAuth{ID: 12, Version: 1, Counter: 9})
	e, ok := c.get("bob")
	if !ok {
		t.Fatal("alice's drop or accept removed bob")
	}
	if e.tokens[0].Counter != tb[0].Counter || e.tokens[0].Version != 1 {
		t.Errorf("alice's accept changed bob's token: %+v", e.tokens[0])
	}
}

func TestTokenCacheEvicts(t *testing.T) {
	c := newTokenCache(3)
	for i := range 10 {
		name := fmt.Sprintf("user%d", i)
		u, toks := cacheTestUser(name)
		c.put(name, u, toks)
		if _, ok := c.get(name); !ok {
			t.Fatalf("%s missed right after put", name)
		}
	}
	if n := c.len(); n != 3 {
		t.Errorf("%d users cached, want 3", n)
	}
	hits := 0
	for i := range 10 {
		if e, ok := c.get(fmt.Sprintf("user%d", i)); ok {
			hits++
			if e.user.Name != fmt.Sprintf("user%d", i) {
				t.Errorf("user%d: got %s's entry", i, e.user.Name)
			}
		}
	}
	if hits != 3 {
		t.Errorf("%d hits, want 3", hits)
	}
	for h, i := range c.idx {
		if c.slots[i].hash != h {
			t.Errorf("index %x -> slot %d holding %x", h, i, c.slots[i].hash)
		}
	}
}

func TestTokenCacheAccepted(t *testing.T) {
	tests := []struct {
		name      string
		state     store.TokenState
		up        store.TokenAuth
		kept      bool
		wantState store.TokenState
	}{
		{"active token", store.StateActive, store.TokenAuth{ID: 11, Version: 3, Counter: 9, LastStep: 100, Drift: 1}, true, store.StateActive},
		{"first login activates", store.StateAssigned, store.TokenAuth{ID: 11, Version: 3, Counter: 9}, true, store.StateActive},
		{"other version: dropped", store.StateActive, store.TokenAuth{ID: 11, Version: 2, Counter: 9}, false, ""},
		{"other token: dropped", store.StateActive, store.TokenAuth{ID: 12, Version: 3, Counter: 9}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTokenCache(10)
			u, toks := cacheTestUser("alice")
			toks[0].State, toks[0].FailCount = tc.state, 2
			c.put("alice", u, toks)
			c.accepted("ALICE", tc.up)
			e, ok := c.get("alice")
			if ok != tc.kept {
				t.Fatalf("cached after accept = %v, want %v", ok, tc.kept)
			}
			if !ok {
				return
			}
			got := e.tokens[0]
			want := toks[0]
			want.Version, want.Counter, want.LastStep, want.Drift, want.FailCount, want.State =
				4, tc.up.Counter, tc.up.LastStep, tc.up.Drift, 0, tc.wantState
			if !reflect.DeepEqual(got, want) {
				t.Errorf("token = %+v,\nwant %+v", got, want)
			}
		})
	}
}

// TestTokenCacheAcceptedBesideReaders: accepted patches an entry in place
// while others decode it (the race detector watches), and every reader
// sees a whole state, never half of one.
func TestTokenCacheAcceptedBesideReaders(t *testing.T) {
	c := newTokenCache(10)
	u, toks := cacheTestUser("alice")
	toks[0].Version, toks[0].Counter, toks[0].LastStep = 0, 0, 0
	c.put("alice", u, toks)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				var buf [2]store.Token
				_, got, ok := c.getInto("alice", buf[:0])
				if !ok {
					t.Error("entry gone")
					return
				}
				if tk := got[0]; tk.Counter != uint64(tk.Version) || tk.LastStep != tk.Version {
					t.Errorf("half an accept: version %d, counter %d, step %d", tk.Version, tk.Counter, tk.LastStep)
					return
				}
			}
		})
	}
	for v := range int64(2000) {
		c.accepted("alice", store.TokenAuth{ID: toks[0].ID, Version: v, Counter: uint64(v + 1), LastStep: v + 1})
	}
	wg.Wait()
}

// A malformed entry (which only a bug could store) is a miss, not a panic.
func FuzzDecodeEntry(f *testing.F) {
	u, toks := cacheTestUser("alice")
	good := encodeEntry([]byte("alice"), u, toks)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{})
	f.Add([]byte{5, 'a'})
	f.Fuzz(func(t *testing.T, e []byte) {
		u, toks, ok := decodeEntry(e, nil)
		if !ok && (u != (store.User{}) || toks != nil) {
			t.Error("a failed decode returned data")
		}
		patchAccepted(bytes.Clone(e), store.TokenAuth{ID: 11, Version: 3})
		entryName(e)
	})
}

// BenchmarkTokenCacheGC reports what one garbage collection costs with
// 100,000 users cached (the default size).
func BenchmarkTokenCacheGC(b *testing.B) {
	c := newTokenCache(100000)
	for i := range 100000 {
		name := fmt.Sprintf("user%06d", i)
		u, toks := cacheTestUser(name)
		toks[0].Seed = []byte(name + "-seed-0123456789")
		c.put(name, u, toks)
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(c)
}

func BenchmarkTokenCacheGet(b *testing.B) {
	c := newTokenCache(1000)
	u, toks := cacheTestUser("alice")
	c.put("alice", u, toks)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.get("alice"); !ok {
			b.Fatal("miss")
		}
	}
}
