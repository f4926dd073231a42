// Package keyed counts events per key in fixed memory, for limits that an
// attacker must not be able to grow: keys (serials, source addresses) are
// hashed with a secret seed into a fixed table of slots, each counting the
// events of one key in the current period. A key that lands on a slot held
// by another starts that slot afresh, so a collision can only let a key
// through early, never refuse one for another's events; with a table many
// times larger than the keys active in a period that is rare.
package keyed

import (
	"hash/maphash"
	"sync"
	"time"
)

// Limiter allows Max events per key per Period.
type Limiter struct {
	period time.Duration
	max    int
	seed   maphash.Seed

	mu    sync.Mutex
	slots []slot
}

type slot struct {
	hash  uint64
	start time.Time
	n     int
}

// New makes a Limiter of size slots allowing perKey events per key per period.
func New(size int, period time.Duration, perKey int) *Limiter {
	return &Limiter{period: period, max: perKey, seed: maphash.MakeSeed(), slots: make([]slot, max(size, 1))}
}

// Over reports whether key has used up its allowance for the period at
// now, without counting an event.
func (l *Limiter) Over(key string, now time.Time) bool {
	h := maphash.String(l.seed, key)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.slots[h%uint64(len(l.slots))]
	return s.hash == h && now.Sub(s.start) < l.period && !now.Before(s.start) && s.n >= l.max
}

// Allow counts an event for key at now and reports whether it is within
// the key's allowance.
func (l *Limiter) Allow(key string, now time.Time) bool {
	h := maphash.String(l.seed, key)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.slots[h%uint64(len(l.slots))]
	if s.hash != h || now.Sub(s.start) >= l.period || now.Before(s.start) {
		*s = slot{hash: h, start: now}
	}
	s.n++
	return s.n <= l.max
}
