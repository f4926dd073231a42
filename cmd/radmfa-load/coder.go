package main

import (
	"crypto/sha1"
	"encoding/binary"
	"hash"

	"github.com/radmfa/radmfa/otp"
)

// coder computes the 6-digit HMAC-SHA1 codes of any seed (RFC 4226, the
// TOTP step as the counter) with two SHA-1 states it reuses: nothing kept
// per user, and one allocation per code (its string).
//
// Why not an otp.Generator per user: crypto/hmac cannot be re-keyed, so a
// generator is made per user, and kept for that user's next login. With
// 1000 users a run of 50,000 logins made 1000 of them; with 100,000 users
// it made one per login (each run is a new process) and kept 50,000 live
// ones that the collector then marked, inside the timed window. The load
// tool cost 12-15 microseconds of CPU per login at 1000 users and 21-23 at
// 100,000, on a machine the server shares, so the scale scenario measured
// the load tool's own population size as much as the server's. A coder
// costs the same for every population size.
//
// A coder is used by one goroutine at a time. The seeds are the benchmark's
// public ones; this is no place for a secret.
type coder struct {
	inner, outer hash.Hash
	pad          [sha1.BlockSize]byte
	msg          [8]byte
	sum          []byte
	code         [6]byte
}

func newCoder() *coder {
	return &coder{inner: sha1.New(), outer: sha1.New(), sum: make([]byte, 0, sha1.Size)}
}

// at returns seed's code for counter. seed is at most one SHA-1 block long
// (the benchmark's are 20 bytes).
func (c *coder) at(seed []byte, counter uint64) string {
	// HMAC (RFC 2104): H((K ^ opad) || H((K ^ ipad) || message)).
	c.keyPad(seed, 0x36)
	c.inner.Reset()
	c.inner.Write(c.pad[:])
	binary.BigEndian.PutUint64(c.msg[:], counter)
	c.inner.Write(c.msg[:])
	c.sum = c.inner.Sum(c.sum[:0])
	c.keyPad(seed, 0x5c)
	c.outer.Reset()
	c.outer.Write(c.pad[:])
	c.outer.Write(c.sum)
	c.sum = c.outer.Sum(c.sum[:0])
	otp.Truncate(c.code[:], c.sum)
	return string(c.code[:])
}

// keyPad sets pad to the zero-padded key XOR b.
func (c *coder) keyPad(key []byte, b byte) {
	for i := range c.pad {
		c.pad[i] = b
	}
	for i, k := range key {
		c.pad[i] ^= k
	}
}
