// Package cache is a store.Store decorator that keeps users' login state
// (the user and their tokens, with seeds) in memory, so that a login needs
// no database read. It is only ever a hint: an accept decided on it is
// recorded with the backend's compare-and-set (token version, usable
// state, owner, user enabled), which fails on anything stale, whoever
// changed it (this process, the CLI, another instance); and the login path
// reads afresh (LoginState with fresh true) before it refuses anyone.
// Seeds are held decrypted in memory, as they are during every check
// anyway. It passes store/storetest like any backend.
package cache

import (
	"context"
	"errors"
	"time"

	"github.com/radmfa/radmfa/store"
)

// Store caches the login state of the store.Store it wraps; every other
// method (UserTokens included: callers other than the login path want the
// newest state) goes to that store, and every change made through it
// empties the cache.
type Store struct {
	store.Store
	c *tokenCache
}

var _ store.Store = (*Store)(nil)

// Options configures a cache.
type Options struct {
	// Users is how many users' login state is kept (an arbitrary one
	// makes room for a new one beyond that); 0 keeps none.
	Users int
}

// New wraps s.
func New(s store.Store, o Options) *Store {
	return &Store{Store: s, c: newTokenCache(max(o.Users, 0))}
}

// LoginState returns name's login state from memory unless fresh, or reads
// it from the wrapped store and keeps it.
func (s *Store) LoginState(ctx context.Context, name string, fresh bool) (store.LoginState, error) {
	if !fresh {
		var buf [2]store.Token // most users have one or two tokens
		if u, toks, ok := s.c.getInto(name, buf[:0]); ok {
			return store.LoginState{User: u, Tokens: toks, Cached: true}, nil
		}
	}
	st, err := s.Store.LoginState(ctx, name, true)
	if err != nil {
		s.c.drop(name)
		return st, err
	}
	s.c.put(name, st.User, st.Tokens)
	return st, nil
}

// CommitAuth records the login in the wrapped store; a recorded accept is
// patched into the cached token, anything else drops the user's entry
// (failure counts and conflicts change what the backend holds).
func (s *Store) CommitAuth(ctx context.Context, c store.AuthCommit) error {
	err := s.Store.CommitAuth(ctx, c)
	if err == nil && len(c.Tokens) == 1 && c.Tokens[0].Accepted {
		s.c.accepted(c.Audit.User, c.Tokens[0])
	} else if len(c.Tokens) > 0 || c.Charge != nil || errors.Is(err, store.ErrConflict) {
		s.c.drop(c.Audit.User)
	}
	return err
}

// Len is how many users' login state is in memory.
func (s *Store) Len() int { return s.c.len() }

// changed empties the cache after err, the result of a change through it.
func (s *Store) changed(err error) error {
	s.c.reset()
	return err
}

// The changes: each empties the cache once it is made.

func (s *Store) CreateUser(ctx context.Context, by string, u store.User) (store.User, error) {
	u, err := s.Store.CreateUser(ctx, by, u)
	return u, s.changed(err)
}

func (s *Store) SetUserDisabled(ctx context.Context, by, name string, disabled bool) error {
	return s.changed(s.Store.SetUserDisabled(ctx, by, name, disabled))
}

func (s *Store) UpdateUser(ctx context.Context, by, name, action string, fn func(*store.User) error) (store.User, error) {
	u, err := s.Store.UpdateUser(ctx, by, name, action, fn)
	return u, s.changed(err)
}

func (s *Store) DeleteUser(ctx context.Context, by, name string) (store.DeletedUser, error) {
	d, err := s.Store.DeleteUser(ctx, by, name)
	return d, s.changed(err)
}

func (s *Store) CreateToken(ctx context.Context, by string, t store.Token) (store.Token, error) {
	t, err := s.Store.CreateToken(ctx, by, t)
	return t, s.changed(err)
}

func (s *Store) UpdateToken(ctx context.Context, by, serial, action string, fn func(*store.Token) error) (store.Token, error) {
	t, err := s.Store.UpdateToken(ctx, by, serial, action, fn)
	return t, s.changed(err)
}

func (s *Store) DeleteToken(ctx context.Context, by, serial string) error {
	return s.changed(s.Store.DeleteToken(ctx, by, serial))
}

func (s *Store) Bulk(ctx context.Context, by, action string, items []store.BulkItem) error {
	return s.changed(s.Store.Bulk(ctx, by, action, items))
}

func (s *Store) Activate(ctx context.Context, by, serial string, codeHash []byte, now time.Time, maxAttempts int, seed []byte, d store.Device) (store.Token, error) {
	t, err := s.Store.Activate(ctx, by, serial, codeHash, now, maxAttempts, seed, d)
	return t, s.changed(err)
}

func (s *Store) SetPushLock(ctx context.Context, by, user string, until time.Time, detail string) error {
	return s.changed(s.Store.SetPushLock(ctx, by, user, until, detail))
}
