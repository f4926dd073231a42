package auth

import (
	"strings"
	"sync"
	"time"
)

// failureLimiter is a token bucket per user name that only failures drain:
// a user may fail Burst times, then once per Every. Accepted logins cost
// nothing, so a busy legitimate user is never slowed.
type failureLimiter struct {
	burst float64
	every time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
	sweeps  int
}

type bucket struct {
	tokens float64
	at     time.Time
}

const limiterSweepEvery = 4096

func newFailureLimiter(burst int, every time.Duration) *failureLimiter {
	if burst <= 0 || every <= 0 {
		return nil
	}
	return &failureLimiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

func (l *failureLimiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
}

// Allow reports whether name may try to authenticate now.
func (l *failureLimiter) Allow(name string, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[strings.ToLower(name)]
	if !ok {
		return true
	}
	l.refill(b, now)
	return b.tokens >= 1
}

// Fail drains one token from name's bucket.
func (l *failureLimiter) Fail(name string, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key := strings.ToLower(name)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens = max(0, b.tokens-1)
	// Forget full buckets now and then, so names made up by an attacker do
	// not pile up.
	if l.sweeps++; l.sweeps >= limiterSweepEvery {
		l.sweeps = 0
		for k, b := range l.buckets {
			if l.refill(b, now); b.tokens >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
}
