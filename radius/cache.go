package radius

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"github.com/radmfa/radmfa/auth"
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

// requestKey is k as auth records it with an accept (auth.Request's
// RequestKey): hashed, so that every instance that receives the same
// request derives the same key.
func (k dupKey) requestKey() []byte {
	var b [16 + 2 + 1 + 16]byte
	copy(b[:16], k.addr[:])
	binary.BigEndian.PutUint16(b[16:], k.port)
	b[18] = k.id
	copy(b[19:], k.auth[:])
	h := sha256.Sum256(b[:])
	return h[:auth.RequestKeySize]
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
	// answerBlock is how many answers one block of the ring holds (64 KiB).
	answerBlock = 1024
	// spareChunks and spareBlocks bound the freed chunks and answer blocks
	// kept for reuse.
	spareChunks = 16
	spareBlocks = 16
	// expireEach is how many expired answers each new answer retires, so
	// that expiry keeps pace with a steady load in small steps.
	expireEach = 2
	// mapRebuildMax bounds the answers copied when the map is rebuilt.
	mapRebuildMax = 4096
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
//
// Nothing the cache does takes long, since every request waits for its
// lock: the ring is a list of fixed blocks, grown a block at a time and
// never copied (doubling a ring of 128k answers copied 8 MiB and held the
// lock for 12 ms), and each new answer retires up to expireEach expired
// ones, so the periodic sweep finds little left to delete.
type replyCache struct {
	ttl time.Duration

	mu sync.Mutex
	// m maps a request to 0 while it is in flight, else to 1 + the
	// sequence number of its answer.
	m    map[dupKey]uint64
	peak int // len(m)'s high-water mark since m was made
	// The ring holds answers head..tail-1 (sequence numbers); answer s
	// is blocks[(s-base)/answerBlock][(s-base)%answerBlock].
	blocks      [][]answer
	base        uint64
	head, tail  uint64
	spareBlocks [][]answer
	// chunks[i] is chunk number firstChunk+i; replies are appended to the
	// last one.
	chunks     [][]byte
	firstChunk uint64
	spare      [][]byte
}

func newReplyCache(ttl time.Duration) *replyCache {
	return &replyCache{ttl: ttl, m: make(map[dupKey]uint64)}
}

// at is answer number seq, which must be in the ring.
func (c *replyCache) at(seq uint64) *answer {
	i := seq - c.base
	return &c.blocks[i/answerBlock][i%answerBlock]
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
		// An answer in m is always still in the ring: expiry deletes it
		// from m when it leaves the ring.
		a := c.at(v - 1)
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
	c.expire(now.UnixNano(), expireEach)
	if c.tail-c.base == uint64(len(c.blocks))*answerBlock {
		var b []answer
		if n := len(c.spareBlocks); n > 0 {
			b, c.spareBlocks = c.spareBlocks[n-1], c.spareBlocks[:n-1]
		} else {
			b = make([]answer, answerBlock)
		}
		c.blocks = append(c.blocks, b)
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
	*c.at(c.tail) = answer{key: k, expires: exp,
		chunk: c.firstChunk + uint64(last), off: uint32(off), n: uint32(len(reply))}
	c.tail++
	c.m[k] = c.tail // 1 + the answer's sequence number
}

// expire retires up to limit answers expired at t (Unix nanoseconds), the
// oldest first (limit < 0: all of them), and frees the blocks and chunks
// that only they used.
func (c *replyCache) expire(t int64, limit int) {
	for ; c.head < c.tail && limit != 0; limit-- {
		a := c.at(c.head)
		if t < a.expires {
			break
		}
		if c.m[a.key] == c.head+1 {
			delete(c.m, a.key)
		}
		c.head++
	}
	for c.head-c.base >= answerBlock {
		if len(c.spareBlocks) < spareBlocks {
			c.spareBlocks = append(c.spareBlocks, c.blocks[0])
		}
		c.blocks[0] = nil
		c.blocks = c.blocks[1:]
		c.base += answerBlock
	}
	if c.head == c.tail && len(c.blocks) > 0 {
		// Empty: start the ring afresh at the next sequence number.
		for i, b := range c.blocks {
			if len(c.spareBlocks) < spareBlocks {
				c.spareBlocks = append(c.spareBlocks, b)
			}
			c.blocks[i] = nil
		}
		c.blocks = c.blocks[:0]
		c.base = c.tail
	}
	// Chunks older than the oldest live answer's are free.
	keep := c.firstChunk + uint64(len(c.chunks))
	if c.head < c.tail {
		keep = c.at(c.head).chunk
	}
	for c.firstChunk < keep {
		if len(c.spare) < spareChunks {
			c.spare = append(c.spare, c.chunks[0][:0])
		}
		c.chunks[0] = nil
		c.chunks = c.chunks[1:]
		c.firstChunk++
	}
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
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now.UnixNano(), -1)
	// Go maps never shrink: once a burst has passed, copy the survivors
	// to a new map (few of them, so the copy is quick).
	if c.peak > 4*answerBlock && len(c.m)*4 < c.peak && len(c.m) <= mapRebuildMax {
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
