// Package otp holds the one-time password algorithms radmfa checks logins
// against: HOTP (RFC 4226) and TOTP (RFC 6238) verification over a window,
// resynchronisation from two consecutive codes, seed generation and
// otpauth:// URIs. It is pure: time, counters and randomness come in as
// arguments, and nothing here does I/O.
package otp

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"

	potp "github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// Type is the kind of one-time password a token produces.
type Type string

// Token types.
const (
	TOTP Type = "totp"
	HOTP Type = "hotp"
)

// Algorithm is the HMAC hash of a token.
type Algorithm string

// Supported algorithms.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

// ErrInvalidParams reports token parameters radmfa does not support.
var ErrInvalidParams = errors.New("otp: invalid token parameters")

// Params describes how a token computes its codes.
type Params struct {
	Type      Type
	Algorithm Algorithm
	Digits    int
	Period    int // TOTP step in seconds; ignored for HOTP
}

// ParseAlgorithm accepts SHA1, SHA256 or SHA512 in any case, with or
// without a dash (as PSKC and otpauth URIs spell them).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToUpper(strings.ReplaceAll(s, "-", "")) {
	case "", "SHA1":
		return SHA1, nil
	case "SHA256":
		return SHA256, nil
	case "SHA512":
		return SHA512, nil
	}
	return "", fmt.Errorf("%w: algorithm %q (want SHA1, SHA256 or SHA512)", ErrInvalidParams, s)
}

// Validate reports whether p is a combination radmfa supports.
func (p Params) Validate() error {
	switch p.Type {
	case TOTP:
		if p.Period != 30 && p.Period != 60 {
			return fmt.Errorf("%w: period %d (want 30 or 60)", ErrInvalidParams, p.Period)
		}
	case HOTP:
	default:
		return fmt.Errorf("%w: type %q (want totp or hotp)", ErrInvalidParams, p.Type)
	}
	if p.Digits != 6 && p.Digits != 8 {
		return fmt.Errorf("%w: digits %d (want 6 or 8)", ErrInvalidParams, p.Digits)
	}
	if _, err := ParseAlgorithm(string(p.Algorithm)); err != nil || p.Algorithm == "" {
		return fmt.Errorf("%w: algorithm %q", ErrInvalidParams, p.Algorithm)
	}
	return nil
}

// SeedSize is the seed length RFC 4226 and RFC 6238 recommend for an
// algorithm: the size of its hash output.
func SeedSize(a Algorithm) int {
	switch a {
	case SHA256:
		return 32
	case SHA512:
		return 64
	}
	return 20
}

// NewSeed reads a fresh seed of the recommended size for a from r.
func NewSeed(r io.Reader, a Algorithm) ([]byte, error) {
	seed := make([]byte, SeedSize(a))
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, fmt.Errorf("otp: seed: %w", err)
	}
	return seed, nil
}

func (a Algorithm) pquerna() potp.Algorithm {
	switch a {
	case SHA256:
		return potp.AlgorithmSHA256
	case SHA512:
		return potp.AlgorithmSHA512
	}
	return potp.AlgorithmSHA1
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeSecret is the unpadded base32 form of a seed used in otpauth URIs.
func EncodeSecret(seed []byte) string { return b32.EncodeToString(seed) }

// DecodeSecret parses a base32 secret, with or without padding, in any case.
func DecodeSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.TrimRight(strings.TrimSpace(s), "="))
	b, err := b32.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("otp: secret is not base32: %w", err)
	}
	return b, nil
}

// Code computes the code for counter (the HOTP counter, or the TOTP step).
func Code(seed []byte, counter uint64, p Params) string {
	digits := potp.DigitsSix
	if p.Digits == 8 {
		digits = potp.DigitsEight
	}
	code, err := hotp.GenerateCodeCustom(b32.EncodeToString(seed), counter, hotp.ValidateOpts{
		Digits:    digits,
		Algorithm: p.Algorithm.pquerna(),
	})
	if err != nil {
		// The secret was base32-encoded just above, so it always decodes.
		panic("otp: " + err.Error())
	}
	return code
}

// Generator computes one seed's codes with HMAC (RFC 2104) over a plain
// hash, without the base32 round trip and formatting that Code
// (pquerna/otp) does on every call: the verification loops, run for every
// login, use it. It gives the same codes as Code
// (TestGeneratorMatchesPquerna). Not safe for concurrent use.
//
// Generators come from a pool per algorithm and are keyed anew for each
// seed: crypto/hmac cannot be re-keyed, and a new HMAC per login (two
// hash states and their buffers) was a quarter of what a login allocated.
type Generator struct {
	h          hash.Hash
	pool       *sync.Pool
	block      int // the hash's block size: at most 128 (SHA-512)
	ipad, opad [128]byte
	inner, sum [64]byte
	digits     int
	msg        [8]byte
	buf        [8]byte
}

func generatorPool(newHash func() hash.Hash) *sync.Pool {
	p := &sync.Pool{}
	p.New = func() any { h := newHash(); return &Generator{h: h, pool: p, block: h.BlockSize()} }
	return p
}

var generators = map[Algorithm]*sync.Pool{
	SHA1:   generatorPool(sha1.New),
	SHA256: generatorPool(sha256.New),
	SHA512: generatorPool(sha512.New),
}

// NewGenerator keys a Generator with seed for p's algorithm (SHA1 unless
// SHA256 or SHA512) and digits. Release gives it back.
func NewGenerator(seed []byte, p Params) *Generator {
	pool, ok := generators[p.Algorithm]
	if !ok {
		pool = generators[SHA1]
	}
	g := pool.Get().(*Generator)
	g.digits = p.Digits
	if g.digits < 1 || g.digits > 8 {
		g.digits = 6
	}
	key := seed
	if len(key) > g.block {
		g.h.Reset()
		g.h.Write(key)
		key = g.h.Sum(g.inner[:0])
	}
	for i := range g.block {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		g.ipad[i], g.opad[i] = k^0x36, k^0x5c
	}
	return g
}

// Release wipes the key from g and gives it back to its pool; g must not
// be used afterwards.
func (g *Generator) Release() {
	clear(g.ipad[:])
	clear(g.opad[:])
	clear(g.inner[:])
	clear(g.sum[:])
	g.h.Reset()
	g.pool.Put(g)
}

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// digitsAt writes the code for counter into g.buf and returns it (RFC 4226
// section 5.3: dynamic truncation, modulo 10^digits, zero padded).
func (g *Generator) digitsAt(counter uint64) []byte {
	binary.BigEndian.PutUint64(g.msg[:], counter)
	g.h.Reset()
	g.h.Write(g.ipad[:g.block])
	g.h.Write(g.msg[:])
	in := g.h.Sum(g.inner[:0])
	g.h.Reset()
	g.h.Write(g.opad[:g.block])
	g.h.Write(in)
	Truncate(g.buf[:g.digits], g.h.Sum(g.sum[:0]))
	return g.buf[:g.digits]
}

// Truncate writes the code that the HMAC result sum gives into dst, as
// many digits as dst is long (1 to 8): RFC 4226 section 5.3, dynamic
// truncation, modulo 10^digits, zero padded.
func Truncate(dst, sum []byte) {
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff % pow10[len(dst)]
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = '0' + byte(v%10)
		v /= 10
	}
}

// Code is the code for counter (the HOTP counter, or the TOTP step).
func (g *Generator) Code(counter uint64) string { return string(g.digitsAt(counter)) }

// matches compares the code for counter with code in constant time.
func (g *Generator) matches(counter uint64, code string) bool {
	return subtle.ConstantTimeCompare(g.digitsAt(counter), []byte(code)) == 1
}

// Step is the TOTP time step of a Unix time.
func Step(unix int64, period int) int64 {
	if unix < 0 {
		return 0
	}
	return unix / int64(period)
}

// wellFormed reports whether code has the token's number of decimal digits.
func wellFormed(code string, digits int) bool {
	if len(code) != digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// VerifyHOTP looks for code at counters next .. next+lookAhead and returns
// the counter that matched. next is the first counter not yet used.
func VerifyHOTP(seed []byte, p Params, code string, next uint64, lookAhead int) (uint64, bool) {
	if !wellFormed(code, p.Digits) {
		return 0, false
	}
	g := NewGenerator(seed, p)
	defer g.Release()
	for i := 0; i <= lookAhead; i++ {
		if g.matches(next+uint64(i), code) {
			return next + uint64(i), true
		}
	}
	return 0, false
}

// VerifyTOTP looks for code at the steps within window of the token's
// expected step (the current step shifted by the token's remembered drift)
// and returns the step that matched. Steps at or before lastStep were used
// already and never match, so a code is accepted at most once.
func VerifyTOTP(seed []byte, p Params, code string, unix, drift, lastStep int64, window int) (int64, bool) {
	if !wellFormed(code, p.Digits) {
		return 0, false
	}
	g := NewGenerator(seed, p)
	defer g.Release()
	center := Step(unix, p.Period) + drift
	// Search the expected step first, then outwards, so the closest match wins.
	for d := 0; d <= window; d++ {
		for _, s := range []int64{center + int64(d), center - int64(d)} {
			if s <= lastStep || s < 0 {
				continue
			}
			if g.matches(uint64(s), code) {
				return s, true
			}
			if d == 0 {
				break
			}
		}
	}
	return 0, false
}

// ResyncHOTP finds two consecutive codes within window counters after next
// and returns the counter of the second one.
func ResyncHOTP(seed []byte, p Params, code1, code2 string, next uint64, window int) (uint64, bool) {
	if !wellFormed(code1, p.Digits) || !wellFormed(code2, p.Digits) {
		return 0, false
	}
	g := NewGenerator(seed, p)
	defer g.Release()
	for i := 0; i <= window; i++ {
		c := next + uint64(i)
		if g.matches(c, code1) && g.matches(c+1, code2) {
			return c + 1, true
		}
	}
	return 0, false
}

// ResyncTOTP finds two consecutive codes within window steps either side of
// the current step (ignoring any remembered drift) and returns the step of the
// second one. Steps at or before lastStep never match.
func ResyncTOTP(seed []byte, p Params, code1, code2 string, unix, lastStep int64, window int) (int64, bool) {
	if !wellFormed(code1, p.Digits) || !wellFormed(code2, p.Digits) {
		return 0, false
	}
	g := NewGenerator(seed, p)
	defer g.Release()
	now := Step(unix, p.Period)
	for s := now - int64(window); s <= now+int64(window); s++ {
		if s <= lastStep || s < 0 {
			continue
		}
		if g.matches(uint64(s), code1) && g.matches(uint64(s+1), code2) {
			return s + 1, true
		}
	}
	return 0, false
}

// URI is the otpauth:// key URI authenticator apps read from a QR code
// (the Google Authenticator key URI format, also read by FreeOTP).
// counter is the HOTP counter the app should start at.
func URI(issuer, account string, seed []byte, p Params, counter uint64) string {
	v := url.Values{}
	v.Set("secret", EncodeSecret(seed))
	v.Set("issuer", issuer)
	v.Set("algorithm", string(p.Algorithm))
	v.Set("digits", strconv.Itoa(p.Digits))
	if p.Type == HOTP {
		v.Set("counter", strconv.FormatUint(counter, 10))
	} else {
		v.Set("period", strconv.Itoa(p.Period))
	}
	u := url.URL{
		Scheme:   "otpauth",
		Host:     string(p.Type),
		Path:     "/" + issuer + ":" + account,
		RawQuery: strings.ReplaceAll(v.Encode(), "+", "%20"),
	}
	return u.String()
}
