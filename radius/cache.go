package radius

import (
	"net/netip"
	"sync"
	"time"
)

// dupKey identifies a request for duplicate detection (RFC 5080 2.2.2):
// the same source, Identifier and Request Authenticator is the same request.
type dupKey struct {
	addr netip.AddrPort
	id   byte
	auth [16]byte
}

type dupState int

const (
	dupNew dupState = iota
	dupInFlight
	dupAnswered
)

type cacheEntry struct {
	reply   []byte // nil while the request is being worked on
	expires time.Time
}

type fifoItem struct {
	key     dupKey
	expires time.Time
}

// replyCache remembers requests being worked on and the answers sent, so
// that a NAS's retransmission is never evaluated twice: it is dropped while
// the first copy is in flight and answered from the cache afterwards. All
// entries live the same time, so they expire in the order they were made.
type replyCache struct {
	ttl time.Duration

	mu   sync.Mutex
	m    map[dupKey]*cacheEntry
	fifo []fifoItem
	head int
}

func newReplyCache(ttl time.Duration) *replyCache {
	return &replyCache{ttl: ttl, m: make(map[dupKey]*cacheEntry)}
}

// begin registers k as in flight unless it is known; for an answered
// request it returns the cached reply.
func (c *replyCache) begin(k dupKey, now time.Time) (dupState, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		if e.reply == nil {
			return dupInFlight, nil
		}
		if now.Before(e.expires) {
			return dupAnswered, e.reply
		}
	}
	c.m[k] = &cacheEntry{}
	return dupNew, nil
}

// finish stores the reply sent for k.
func (c *replyCache) finish(k dupKey, reply []byte, now time.Time) {
	exp := now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = &cacheEntry{reply: reply, expires: exp}
	c.fifo = append(c.fifo, fifoItem{key: k, expires: exp})
}

// abort forgets an in-flight request that got no reply.
func (c *replyCache) abort(k dupKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok && e.reply == nil {
		delete(c.m, k)
	}
}

// sweep drops expired replies.
func (c *replyCache) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head < len(c.fifo) && !now.Before(c.fifo[c.head].expires) {
		it := c.fifo[c.head]
		if e, ok := c.m[it.key]; ok && e.reply != nil && e.expires.Equal(it.expires) {
			delete(c.m, it.key)
		}
		c.fifo[c.head] = fifoItem{}
		c.head++
	}
	if c.head > 1024 && c.head*2 > len(c.fifo) {
		c.fifo = append(c.fifo[:0:0], c.fifo[c.head:]...)
		c.head = 0
	}
}

func (c *replyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
