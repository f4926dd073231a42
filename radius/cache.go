package radius

import (
	"net/netip"
	"sync"
	"time"
)

// dupKey identifies a request for duplicate detection (RFC 5080 2.2.2):
// the same source, Identifier and Request Authenticator is the same request.
// It holds no pointers, so the garbage collector never scans the cache's map.
type dupKey struct {
	addr [16]byte
	port uint16
	id   byte
	auth [16]byte
}

func newDupKey(src netip.AddrPort, id byte, auth [16]byte) dupKey {
	return dupKey{addr: src.Addr().As16(), port: src.Port(), id: id, auth: auth}
}

type dupState int

const (
	dupNew dupState = iota
	dupInFlight
	dupAnswered
)

// answer is one cached reply: its bytes live in chunk number chunk at
// [off, off+n). Like dupKey it holds no pointers.
type answer struct {
	key     dupKey
	expires int64 // Unix nanoseconds
	chunk   uint64
	off, n  uint32
}

const (
	// cacheChunk is the size of the blocks replies are copied into; a
	// RADIUS packet (at most 4096 bytes) always fits in one.
	cacheChunk = 64 << 10
	// minRing is the smallest answer ring; it shrinks no further.
	minRing = 1024
	// spareChunks bounds the freed chunks kept for reuse.
	spareChunks = 16
)

// replyCache remembers requests being worked on and the answers sent, so
// that a NAS's retransmission is never evaluated twice: it is dropped while
// the first copy is in flight and answered from the cache afterwards.
//
// A busy server keeps every answer for the whole TTL (hundreds of
// thousands of them), so the cache is built to cost the garbage collector
// nothing: all answers live the same time and expire in the order they
// were made, so they sit in a ring in that order, their bytes packed into
// large chunks in the same order, and the map from request to answer holds
// only plain values.
type replyCache struct {
	ttl time.Duration

	mu sync.Mutex
	// m maps a request to 0 while it is in flight, else to 1 + the
	// sequence number of its answer in ring.
	m    map[dupKey]uint64
	peak int // len(m)'s high-water mark since m was made
	// ring holds answers head..tail-1 (sequence numbers) at seq&(len-1);
	// its length is a power of two.
	ring       []answer
	head, tail uint64
	// chunks[i] is chunk number firstChunk+i; replies are appended to the
	// last one.
	chunks     [][]byte
	firstChunk uint64
	spare      [][]byte
}

func newReplyCache(ttl time.Duration) *replyCache {
	return &replyCache{ttl: ttl, m: make(map[dupKey]uint64), ring: make([]answer, minRing)}
}

// begin registers k as in flight unless it is known; for an answered
// request it returns a copy of the cached reply.
func (c *replyCache) begin(k dupKey, now time.Time) (dupState, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok {
		if v == 0 {
			return dupInFlight, nil
		}
		// An answer in m is always still in the ring: sweep deletes it
		// from m when it leaves the ring.
		a := &c.ring[(v-1)&uint64(len(c.ring)-1)]
		if now.UnixNano() < a.expires {
			b := c.chunks[a.chunk-c.firstChunk][a.off : a.off+a.n]
			return dupAnswered, append([]byte(nil), b...)
		}
	}
	c.m[k] = 0
	c.peak = max(c.peak, len(c.m))
	return dupNew, nil
}

// finish stores (a copy of) the reply sent for k.
func (c *replyCache) finish(k dupKey, reply []byte, now time.Time) {
	exp := now.Add(c.ttl).UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(reply) > cacheChunk {
		delete(c.m, k) // cannot happen for a RADIUS packet; never cache it
		return
	}
	if c.tail-c.head == uint64(len(c.ring)) {
		c.resize(2 * len(c.ring))
	}
	last := len(c.chunks) - 1
	if last < 0 || len(c.chunks[last])+len(reply) > cacheChunk {
		var ch []byte
		if n := len(c.spare); n > 0 {
			ch, c.spare = c.spare[n-1], c.spare[:n-1]
		} else {
			ch = make([]byte, 0, cacheChunk)
		}
		c.chunks = append(c.chunks, ch)
		last++
	}
	off := len(c.chunks[last])
	c.chunks[last] = append(c.chunks[last], reply...)
	c.ring[c.tail&uint64(len(c.ring)-1)] = answer{key: k, expires: exp,
		chunk: c.firstChunk + uint64(last), off: uint32(off), n: uint32(len(reply))}
	c.tail++
	c.m[k] = c.tail // 1 + the answer's sequence number
}

// resize moves the live answers to a ring of n entries (a power of two, at
// least the number of live answers).
func (c *replyCache) resize(n int) {
	r := make([]answer, n)
	for s := c.head; s < c.tail; s++ {
		r[s&uint64(n-1)] = c.ring[s&uint64(len(c.ring)-1)]
	}
	c.ring = r
}

// abort forgets an in-flight request that got no reply.
func (c *replyCache) abort(k dupKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok && v == 0 {
		delete(c.m, k)
	}
}

// sweep drops expired answers and gives back the memory a past burst used.
func (c *replyCache) sweep(now time.Time) {
	t := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	mask := uint64(len(c.ring) - 1)
	for ; c.head < c.tail; c.head++ {
		a := &c.ring[c.head&mask]
		if t < a.expires {
			break
		}
		if c.m[a.key] == c.head+1 {
			delete(c.m, a.key)
		}
	}
	// Chunks older than the oldest live answer's are free.
	keep := c.firstChunk + uint64(len(c.chunks))
	if c.head < c.tail {
		keep = c.ring[c.head&mask].chunk
	}
	for c.firstChunk < keep {
		if len(c.spare) < spareChunks {
			c.spare = append(c.spare, c.chunks[0][:0])
		}
		c.chunks[0] = nil
		c.chunks = c.chunks[1:]
		c.firstChunk++
	}
	if live := int(c.tail - c.head); len(c.ring) > minRing && live*4 < len(c.ring) {
		n := minRing
		for n < 2*live {
			n *= 2
		}
		c.resize(n)
	}
	// Go maps never shrink: after a burst, copy the survivors to a new one.
	if c.peak > 4*minRing && len(c.m)*4 < c.peak {
		m := make(map[dupKey]uint64, len(c.m))
		for k, v := range c.m {
			m[k] = v
		}
		c.m, c.peak = m, len(m)
	}
}

func (c *replyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
