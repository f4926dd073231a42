package cache

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
)

// tokenCache keeps users' tokens (with seeds) in memory.
//
// A large site keeps a hundred thousand users here for as long as the
// server runs, and the garbage collector marks all that is live at every
// cycle: held as Go structs (a dozen strings, a seed and a slice per user)
// the cache cost 25 ms of marking per cycle at 100,000 users, 8% of a core
// under load. So each user is one pointer-free byte slice (see
// encodeEntry), found through a map that holds no pointers either, and
// decoded into fresh structs at each login (half a microsecond).
type tokenCache struct {
	max  int
	seed maphash.Seed
	// collide makes every name hash alike (tests). It is a flag, not a
	// hash function to call: a call through a func value makes the key
	// escape, and the name folded into a stack buffer would be allocated
	// at every login.
	collide bool

	mu sync.Mutex
	// idx maps the hash of a folded user name to its slot; the slot's
	// entry repeats the name, so a colliding name is a miss, not a mix-up.
	idx   map[uint64]int
	slots []cacheSlot
}

type cacheSlot struct {
	hash uint64
	// entry is decoded and patched (accepted) under the cache's lock;
	// decoding copies all it returns, so no reader sees it change.
	entry []byte
}

type cached struct {
	user   store.User
	tokens []store.Token
}

func newTokenCache(max int) *tokenCache {
	if max < 0 {
		return nil
	}
	seed := maphash.MakeSeed()
	return &tokenCache{max: max, seed: seed, idx: make(map[uint64]int)}
}

// hashOf is the hash of a folded name.
func (c *tokenCache) hashOf(key []byte) uint64 {
	if c.collide {
		return 42
	}
	return maphash.Bytes(c.seed, key)
}

// foldName folds ASCII case as SQLite's NOCASE does for user names,
// appending to b.
func foldName(b []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// find returns the slot of the folded name, or -1; under c.mu.
func (c *tokenCache) find(key []byte) (h uint64, i int) {
	h = c.hashOf(key)
	i, ok := c.idx[h]
	if !ok || !bytes.Equal(entryName(c.slots[i].entry), key) {
		return h, -1
	}
	return h, i
}

// get decodes name's entry.
func (c *tokenCache) get(name string) (cached, bool) {
	u, toks, ok := c.getInto(name, nil)
	return cached{user: u, tokens: toks}, ok
}

// getInto is get with the tokens decoded into buf's array when it is
// large enough.
func (c *tokenCache) getInto(name string, buf []store.Token) (store.User, []store.Token, bool) {
	if c == nil {
		return store.User{}, nil, false
	}
	var kb [64]byte
	key := foldName(kb[:0], name)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, i := c.find(key)
	if i < 0 {
		return store.User{}, nil, false
	}
	return decodeEntry(c.slots[i].entry, buf)
}

// put caches name's user and tokens.
func (c *tokenCache) put(name string, u store.User, toks []store.Token) {
	if c == nil || c.max == 0 {
		return
	}
	key := foldName(nil, name)
	entry := encodeEntry(key, u, toks)
	h := c.hashOf(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.idx[h]; ok {
		// The same user, or a name whose hash collides: the newer wins.
		c.slots[i].entry = entry
		return
	}
	if len(c.slots) >= c.max {
		c.remove(rand.IntN(len(c.slots))) // evict one arbitrary entry
	}
	c.idx[h] = len(c.slots)
	c.slots = append(c.slots, cacheSlot{hash: h, entry: entry})
}

// remove deletes slot i, moving the last slot into its place; under c.mu.
func (c *tokenCache) remove(i int) {
	delete(c.idx, c.slots[i].hash)
	last := len(c.slots) - 1
	if i != last {
		c.slots[i] = c.slots[last]
		c.idx[c.slots[i].hash] = i
	}
	c.slots[last] = cacheSlot{}
	c.slots = c.slots[:last]
}

func (c *tokenCache) drop(name string) {
	if c == nil {
		return
	}
	var buf [64]byte
	key := foldName(buf[:0], name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, i := c.find(key); i >= 0 {
		c.remove(i)
	}
}

// reset empties the cache.
func (c *tokenCache) reset() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.idx)
	clear(c.slots)
	c.slots = c.slots[:0]
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.slots)
}

// accepted records a committed accept in the cached copy of the token, as
// the store now has it, so the next login needs no read either.
func (c *tokenCache) accepted(name string, up store.TokenAuth) {
	if c == nil {
		return
	}
	var buf [64]byte
	key := foldName(buf[:0], name)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, i := c.find(key)
	if i < 0 {
		return
	}
	if !patchAccepted(c.slots[i].entry, up) {
		c.remove(i) // not the version we accepted from: read it again next time
	}
}

// An entry is one user and their tokens:
//
//	name     uvarint length, the folded name
//	user     fixed: ID, PushLockedUntil, FailureTAT (8 bytes each), Disabled (1);
//	         time CreatedAt; strings Name, Email, Group, Source, ExternalID
//	count    uvarint number of tokens
//	tokens   each: uvarint length of the rest, then the fixed part
//	         patchAccepted rewrites in a copy (ID, Version, Counter,
//	         LastStep, Drift, FailCount: 8 bytes each; State: 1 byte, a
//	         stateCodes index or 0 for a state spelled out below;
//	         LastRequest: store.RequestKeySize bytes, zero for none), then
//	         strings Serial, User, Type, Origin, [State], Algorithm,
//	         PINHash, Description, Manufacturer, Model; seed (0 for none,
//	         else 1 + length, then its bytes); varints Digits, Period,
//	         LockedUntil; times LastUsed, CreatedAt, ValidFrom, ValidUntil
//
// Fixed fields are little-endian; times are as appendTime writes them.
const (
	userFixed = 8 + 8 + 8 + 1
	// userStrings is how many strings follow the user's fixed part and
	// time: Name, Email, Group, Source, ExternalID.
	userStrings = 5
	tokenFixed  = 6*8 + 1 + store.RequestKeySize
)

// stateCodes are the states an entry stores as one byte (index+1).
var stateCodes = [...]store.TokenState{store.StateInventory, store.StateAssigned, store.StateActive, store.StateRevoked}

func stateCode(s store.TokenState) byte {
	for i, v := range stateCodes {
		if s == v {
			return byte(i + 1)
		}
	}
	return 0
}

func encodeEntry(key []byte, u store.User, toks []store.Token) []byte {
	b := make([]byte, 0, 64+len(key)+len(u.Name)+160*len(toks))
	b = appendBytes(b, key)
	b = binary.LittleEndian.AppendUint64(b, uint64(u.ID))
	b = binary.LittleEndian.AppendUint64(b, uint64(u.PushLockedUntil))
	b = binary.LittleEndian.AppendUint64(b, uint64(u.FailureTAT))
	b = append(b, boolByte(u.Disabled))
	b = appendTime(b, u.CreatedAt)
	b = appendString(b, u.Name)
	b = appendString(b, u.Email)
	b = appendString(b, u.Group)
	b = appendString(b, u.Source)
	b = appendString(b, u.ExternalID)
	b = binary.AppendUvarint(b, uint64(len(toks)))
	var tb []byte
	for _, t := range toks {
		tb = binary.LittleEndian.AppendUint64(tb[:0], uint64(t.ID))
		tb = binary.LittleEndian.AppendUint64(tb, uint64(t.Version))
		tb = binary.LittleEndian.AppendUint64(tb, t.Counter)
		tb = binary.LittleEndian.AppendUint64(tb, uint64(t.LastStep))
		tb = binary.LittleEndian.AppendUint64(tb, uint64(t.Drift))
		tb = binary.LittleEndian.AppendUint64(tb, uint64(t.FailCount))
		code := stateCode(t.State)
		tb = append(tb, code)
		tb = appendRequestKey(tb, t.LastRequest)
		tb = appendString(tb, t.Serial)
		tb = appendString(tb, t.User)
		tb = appendString(tb, t.Type)
		tb = appendString(tb, t.Origin)
		if code == 0 {
			tb = appendString(tb, string(t.State))
		}
		tb = appendString(tb, t.Algorithm)
		tb = appendString(tb, t.PINHash)
		tb = appendString(tb, t.Description)
		tb = appendString(tb, t.Manufacturer)
		tb = appendString(tb, t.Model)
		if t.Seed == nil {
			tb = append(tb, 0)
		} else {
			tb = binary.AppendUvarint(tb, uint64(len(t.Seed))+1)
			tb = append(tb, t.Seed...)
		}
		tb = binary.AppendVarint(tb, int64(t.Digits))
		tb = binary.AppendVarint(tb, int64(t.Period))
		tb = binary.AppendVarint(tb, t.LockedUntil)
		tb = appendTime(tb, t.LastUsed)
		tb = appendTime(tb, t.CreatedAt)
		tb = appendTime(tb, t.ValidFrom)
		tb = appendTime(tb, t.ValidUntil)
		b = appendBytes(b, tb)
	}
	return b
}

// entryName is the folded name an entry was stored under.
func entryName(e []byte) []byte {
	d := decoder{b: e}
	return d.bytes()
}

// decodeEntry makes fresh structs from an entry (ok false if it is
// malformed, which only a bug could make it), the tokens in buf's array
// when it is large enough.
func decodeEntry(e []byte, buf []store.Token) (store.User, []store.Token, bool) {
	d := decoder{b: e}
	d.bytes()
	var u store.User
	u.ID = int64(d.fixed())
	u.PushLockedUntil = int64(d.fixed())
	u.FailureTAT = int64(d.fixed())
	u.Disabled = d.byte() != 0
	u.CreatedAt = d.time()
	u.Name = d.string()
	u.Email = d.string()
	u.Group = d.string()
	u.Source = d.string()
	u.ExternalID = d.string()
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		return store.User{}, nil, false
	}
	toks := buf[:0]
	if uint64(cap(toks)) < n {
		toks = make([]store.Token, 0, n)
	}
	toks = toks[:n]
	for i := range toks {
		t := &toks[i]
		td := decoder{b: d.bytes()}
		t.ID = int64(td.fixed())
		t.Version = int64(td.fixed())
		t.Counter = td.fixed()
		t.LastStep = int64(td.fixed())
		t.Drift = int64(td.fixed())
		t.FailCount = int(td.fixed())
		code := td.byte()
		t.LastRequest = requestKey(td.take(store.RequestKeySize))
		t.Serial = td.string()
		t.User = td.string(u.Name)
		t.Type = td.string(store.TypePush, string(otp.HOTP), string(otp.TOTP))
		t.Origin = td.string(store.OriginSoft, store.OriginHardware)
		switch {
		case code == 0:
			t.State = store.TokenState(td.string())
		case int(code) <= len(stateCodes):
			t.State = stateCodes[code-1]
		default:
			td.bad = true
		}
		t.Algorithm = td.string(string(otp.SHA1), string(otp.SHA256), string(otp.SHA512))
		t.PINHash = td.string()
		t.Description = td.string()
		t.Manufacturer = td.string()
		t.Model = td.string()
		if n := td.uvarint(); n > 0 && !td.bad {
			t.Seed = bytes.Clone(td.take(int(n - 1)))
		}
		t.Digits = int(td.varint())
		t.Period = int(td.varint())
		t.LockedUntil = td.varint()
		t.LastUsed = td.time()
		t.CreatedAt = td.time()
		t.ValidFrom = td.time()
		t.ValidUntil = td.time()
		if td.bad {
			d.bad = true
		}
	}
	if d.bad || len(d.b) != 0 {
		return store.User{}, nil, false
	}
	return u, toks, true
}

// patchAccepted writes a committed accept into the token of entry e it was
// made from (same ID and version), reporting whether there was one.
func patchAccepted(e []byte, up store.TokenAuth) bool {
	d := decoder{b: e}
	d.bytes()
	d.take(userFixed)
	d.time()
	for range userStrings {
		d.bytes()
	}
	n := d.uvarint()
	for range n {
		t := d.bytes()
		if d.bad || len(t) < tokenFixed {
			return false
		}
		le := binary.LittleEndian
		if int64(le.Uint64(t)) != up.ID {
			continue
		}
		if int64(le.Uint64(t[8:])) != up.Version {
			return false
		}
		le.PutUint64(t[8:], uint64(up.Version+1))
		le.PutUint64(t[16:], up.Counter)
		le.PutUint64(t[24:], uint64(up.LastStep))
		le.PutUint64(t[32:], uint64(up.Drift))
		le.PutUint64(t[40:], 0) // FailCount: an accept clears it
		if t[48] == stateCode(store.StateAssigned) {
			t[48] = stateCode(store.StateActive)
		}
		appendRequestKey(t[49:49], up.RequestKey)
		return true
	}
	return false
}

// appendRequestKey appends k in store.RequestKeySize bytes, zeros for
// none (or for a key of another size, which no caller makes).
func appendRequestKey(b, k []byte) []byte {
	var z [store.RequestKeySize]byte
	if len(k) == store.RequestKeySize {
		return append(b, k...)
	}
	return append(b, z[:]...)
}

// requestKey is a stored key as the token has it: nil for zeros.
func requestKey(b []byte) []byte {
	for _, c := range b {
		if c != 0 {
			return bytes.Clone(b)
		}
	}
	return nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendTime writes the zero time as the single byte 0, any other as 1,
// a varint of Unix seconds and a uvarint of nanoseconds (UTC on reading,
// as the store returns times).
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// decoder reads an entry; any short or malformed read sets bad and yields
// zero values from then on.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n int) []byte {
	if d.bad || n < 0 || n > len(d.b) {
		d.bad = true
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) fixed() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }

func (d *decoder) varint() int64 { return readVarint(d, binary.Varint) }

// readVarint reads one varint with read (binary.Uvarint or binary.Varint).
func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.bad {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	return d.take(int(n))
}

// string decodes a string, returning one of common instead of a new copy
// when it equals it.
func (d *decoder) string(common ...string) string {
	v := d.bytes()
	if len(v) == 0 {
		return ""
	}
	for _, c := range common {
		if string(v) == c {
			return c
		}
	}
	return string(v)
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		s := d.varint()
		ns := d.uvarint()
		if ns >= 1e9 {
			d.bad = true
			return time.Time{}
		}
		return time.Unix(s, int64(ns)).UTC()
	}
	d.bad = true
	return time.Time{}
}
