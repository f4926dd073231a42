// Package writeq is the queue the SQL backends' writers take their writes
// from: a send that never races the queue's close, and the gathering of
// the writes queued meanwhile into one batch, which the writer commits in
// one transaction (group commit).
package writeq

import (
	"context"
	"runtime"
	"sync"

	"github.com/radmfa/radmfa/store"
)

// Queue is a queue of writes of type T.
type Queue[T any] struct {
	ch  chan T
	max int

	mu     sync.RWMutex // guards closed against sends on ch
	closed bool
}

// New makes a queue whose batches hold at most max writes.
func New[T any](max int) *Queue[T] {
	return &Queue[T]{ch: make(chan T, max), max: max}
}

// Send queues w, unless the queue is closed (store.ErrClosed) or ctx ends
// first. A write that was queued is committed or fails: its sender waits
// for the answer even if ctx ends then, so that a write that happened is
// never reported as one that did not.
func (q *Queue[T]) Send(ctx context.Context, w T) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return store.ErrClosed
	}
	select {
	case q.ch <- w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close refuses further sends; Next drains what is queued.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}

// readyYields is how many times in a row Next yields without a new write
// before it stops gathering.
const readyYields = 2

// Next waits for a write and returns it with the writes queued now and
// those of the goroutines that are ready to run, up to the batch limit: it
// yields the processor while writes keep coming. A timer cannot wait less
// than a millisecond here (an idle Go runtime sleeps in epoll_wait, whose
// resolution is a millisecond), and a lone login must not wait that long.
// ok is false once the queue is closed and drained.
func (q *Queue[T]) Next() (batch []T, ok bool) {
	w, ok := <-q.ch
	if !ok {
		return nil, false
	}
	batch = append(make([]T, 0, 16), w)
	for idle := 0; len(batch) < q.max && idle < readyYields; {
		select {
		case w, ok := <-q.ch:
			if !ok {
				return batch, true
			}
			batch = append(batch, w)
			idle = 0
			continue
		default:
		}
		idle++
		runtime.Gosched()
	}
	return batch, true
}

// Len is how many writes wait in the queue.
func (q *Queue[T]) Len() int { return len(q.ch) }
