package push

import (
	"sync"
	"time"
)

// nonces remembers the nonces of signed device requests until their time
// window has passed, so that a request is accepted once. Only requests
// whose signature verified are remembered, so only devices can fill it;
// it holds at most max nonces all the same.
type nonces struct {
	max int

	mu    sync.Mutex
	seen  map[string]time.Time // serial \x00 nonce -> when it may be forgotten
	queue []nonceEntry         // in the order added, to forget the old ones
}

type nonceEntry struct {
	key    string
	forget time.Time
}

type nonceResult int

const (
	nonceNew nonceResult = iota
	nonceSeen
	nonceFull
)

func newNonces(max int) *nonces {
	return &nonces{max: max, seen: map[string]time.Time{}}
}

// add records serial's nonce, to be remembered until forget, and says
// whether it is new, was seen already, or cannot be remembered (full).
func (n *nonces) add(serial, nonce string, forget, now time.Time) nonceResult {
	key := serial + "\x00" + nonce
	n.mu.Lock()
	defer n.mu.Unlock()
	// Forget what has passed its window: entries come in roughly in time
	// order (every request's time is within the skew of now).
	for len(n.queue) > 0 && !n.queue[0].forget.After(now) {
		if n.seen[n.queue[0].key] == n.queue[0].forget {
			delete(n.seen, n.queue[0].key)
		}
		n.queue[0] = nonceEntry{}
		n.queue = n.queue[1:]
	}
	if _, ok := n.seen[key]; ok {
		return nonceSeen
	}
	if len(n.seen) >= n.max {
		return nonceFull
	}
	n.seen[key] = forget
	n.queue = append(n.queue, nonceEntry{key: key, forget: forget})
	return nonceNew
}
