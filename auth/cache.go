package auth

import (
	"sync"

	"github.com/radmfa/radmfa/store"
)

// tokenCache keeps users' tokens (with seeds) in memory so that a login
// needs no database read. It is only ever a hint: an accept from it is
// committed with the store's compare-and-set (token version, usable state,
// owner, user enabled), which fails on anything stale, and a login is never
// refused on its word alone (Authenticate re-reads first). Seeds are kept
// decrypted in memory as they are during every check anyway.
type tokenCache struct {
	max int
	mu  sync.Mutex
	m   map[string]cached
}

type cached struct {
	user   store.User
	tokens []store.Token
}

func newTokenCache(max int) *tokenCache {
	if max < 0 {
		return nil
	}
	return &tokenCache{max: max, m: make(map[string]cached)}
}

// cacheKey folds ASCII case as SQLite's NOCASE does for user names.
func cacheKey(name string) string {
	b := []byte(name)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (c *tokenCache) get(name string) (cached, bool) {
	if c == nil {
		return cached{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[cacheKey(name)]
	return e, ok
}

func (c *tokenCache) put(name string, u store.User, toks []store.Token) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey(name)
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m { // evict one arbitrary entry
			delete(c.m, old)
			break
		}
	}
	c.m[k] = cached{user: u, tokens: toks}
}

func (c *tokenCache) drop(name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, cacheKey(name))
}

// accepted records a committed accept in the cached copy of the token, as
// the store now has it, so the next login needs no read either.
func (c *tokenCache) accepted(name string, up store.TokenAuth) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey(name)
	e, ok := c.m[k]
	if !ok {
		return
	}
	toks := make([]store.Token, len(e.tokens))
	copy(toks, e.tokens)
	for i := range toks {
		t := &toks[i]
		if t.ID != up.ID || t.Version != up.Version {
			continue
		}
		t.Counter, t.LastStep, t.Drift, t.FailCount = up.Counter, up.LastStep, up.Drift, 0
		t.Version++
		if t.State == store.StateAssigned {
			t.State = store.StateActive
		}
		c.m[k] = cached{user: e.user, tokens: toks}
		return
	}
	delete(c.m, k) // not the version we accepted from: read it again next time
}
