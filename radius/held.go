package radius

import (
	"sync"
	"time"
)

// heldRequests follows the NAS's retransmissions of the requests held for
// a push: the last of them, and how often they came, tell when the NAS
// gives up waiting, so that an approval after that is recorded as late
// (the user was not let in, whatever radmfa answered).
type heldRequests struct {
	mu sync.Mutex
	m  map[dupKey]*heldRequest
}

type heldRequest struct {
	first, last time.Time // arrival of the request, of its last retransmission
	retries     int
}

func newHeldRequests() *heldRequests { return &heldRequests{m: map[dupKey]*heldRequest{}} }

// hold starts following key, which arrived at first.
func (h *heldRequests) hold(key dupKey, first time.Time) {
	h.mu.Lock()
	h.m[key] = &heldRequest{first: first, last: first}
	h.mu.Unlock()
}

// retransmitted notes a retransmission of key at now, if it is held.
func (h *heldRequests) retransmitted(key dupKey, now time.Time) {
	h.mu.Lock()
	if r := h.m[key]; r != nil {
		r.last = now
		r.retries++
	}
	h.mu.Unlock()
}

// release stops following key.
func (h *heldRequests) release(key dupKey) {
	h.mu.Lock()
	delete(h.m, key)
	h.mu.Unlock()
}

// giveUp is when the NAS gives up on key, estimated: one retransmission
// interval after its last retransmission. ok is false while it has not
// retransmitted (nothing tells its timeout then).
func (h *heldRequests) giveUp(key dupKey) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.m[key]
	if r == nil || r.retries == 0 {
		return time.Time{}, false
	}
	interval := r.last.Sub(r.first) / time.Duration(r.retries)
	return r.last.Add(interval), true
}
