package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PIN hashing parameters: argon2id with the OWASP minimum (19 MiB, 2 passes).
const (
	pinMemory  = 19 * 1024
	pinTime    = 2
	pinThreads = 1
	pinKeyLen  = 32
)

var b64 = base64.RawStdEncoding

// HashPIN returns the PHC string of an argon2id hash of pin.
func HashPIN(pin string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: pin salt: %w", err)
	}
	sum := argon2.IDKey([]byte(pin), salt, pinTime, pinMemory, pinThreads, pinKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, pinMemory, pinTime, pinThreads,
		b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

var errBadHash = errors.New("auth: malformed PIN hash")

// VerifyPIN checks pin against a HashPIN string in constant time.
func VerifyPIN(encoded, pin string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(pin), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyPINHash is verified against when there is no real hash to check, so
// that an unknown user costs the same time as a wrong PIN.
var dummyPINHash = func() string {
	h, err := HashPIN("radmfa-dummy-pin")
	if err != nil {
		panic(err)
	}
	return h
}()
