package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// HashBudget bounds the PIN hashes (argon2id, 19 MiB and tens of
// milliseconds of CPU each) computed at once, whatever the number of
// requests in flight: a spray of logins with long passwords would
// otherwise hash in every request goroutine at once and take gigabytes.
// A login waits a moment for a slot and is refused cheaply (ReasonOverloaded)
// when none frees up. One budget may serve several Services.
type HashBudget struct {
	slots  chan struct{}
	hashes atomic.Uint64
	busy   atomic.Uint64
}

// NewHashBudget allows n hashes at once (at least 1).
func NewHashBudget(n int) *HashBudget {
	return &HashBudget{slots: make(chan struct{}, max(n, 1))}
}

// TryAcquire takes a slot if one is free now.
func (b *HashBudget) TryAcquire() bool {
	select {
	case b.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release gives back a slot taken with TryAcquire (or by a hash).
func (b *HashBudget) Release() { <-b.slots }

// Hashes is how many hashes the budget admitted.
func (b *HashBudget) Hashes() uint64 { return b.hashes.Load() }

// Busy is how many hashes were refused for want of a slot.
func (b *HashBudget) Busy() uint64 { return b.busy.Load() }

// errHashBusy: no hash slot freed up in time.
var errHashBusy = errors.New("auth: too many PIN checks at once")

// acquire waits up to wait (and no longer than ctx) for a slot to hash in.
func (b *HashBudget) acquire(ctx context.Context, wait time.Duration) error {
	if b.TryAcquire() {
		b.hashes.Add(1)
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case b.slots <- struct{}{}:
		b.hashes.Add(1)
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	b.busy.Add(1)
	return errHashBusy
}
