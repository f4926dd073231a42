package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// KeySize is the length of the master key: AES-256.
const KeySize = 32

// ErrKeyMissing means the master key file does not exist.
var ErrKeyMissing = errors.New("master key file missing")

// Sealer encrypts secrets at rest with AES-256-GCM. The associated data
// binds each ciphertext to the record it belongs to (a token's serial, a
// client's name), so a sealed seed copied onto another row does not open.
//
// During a key rotation it holds two keys: it seals with the new one and
// opens with either (Stage), until every secret is sealed again and the
// old key is dropped (Only).
type Sealer struct {
	keys atomic.Pointer[keyring]
}

// keyring is the key sealing and the keys opening, the sealing one first.
type keyring struct {
	seal cipher.AEAD
	open []cipher.AEAD
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("store: master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	return aead, nil
}

// NewSealer makes a Sealer from a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	s := &Sealer{}
	s.keys.Store(&keyring{seal: aead, open: []cipher.AEAD{aead}})
	return s, nil
}

// Stage makes next the key that seals, the current ones still opening:
// the first step of a rotation, before the secrets are sealed again.
func (s *Sealer) Stage(next []byte) error {
	aead, err := newAEAD(next)
	if err != nil {
		return err
	}
	cur := s.keys.Load()
	s.keys.Store(&keyring{seal: aead, open: append([]cipher.AEAD{aead}, cur.open...)})
	return nil
}

// Only makes key the one key, sealing and opening: the last step of a
// rotation.
func (s *Sealer) Only(key []byte) error {
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	s.keys.Store(&keyring{seal: aead, open: []cipher.AEAD{aead}})
	return nil
}

// Seal encrypts plain under a fresh random nonce; the result is nonce||ciphertext.
func (s *Sealer) Seal(plain []byte, ad string) ([]byte, error) {
	aead := s.keys.Load().seal
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, []byte(ad)), nil
}

// Open decrypts what Seal made with the same associated data, with any
// key the Sealer holds.
func (s *Sealer) Open(sealed []byte, ad string) ([]byte, error) {
	for _, aead := range s.keys.Load().open {
		n := aead.NonceSize()
		if len(sealed) < n+aead.Overhead() {
			return nil, errors.New("store: sealed value too short")
		}
		if plain, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(ad)); err == nil {
			return plain, nil
		}
	}
	return nil, errors.New("store: sealed value does not open with this master key")
}

// Reseal opens sealed with any key and seals it with the sealing one.
func (s *Sealer) Reseal(sealed []byte, ad string) ([]byte, error) {
	plain, err := s.Open(sealed, ad)
	if err != nil {
		return nil, err
	}
	return s.Seal(plain, ad)
}

// KeyFingerprint names a key without telling it: the first 8 bytes of a
// SHA-256 of it, in hex.
func KeyFingerprint(key []byte) string {
	h := sha256.Sum256(append([]byte("radmfa/key-fingerprint\x00"), key...))
	return hex.EncodeToString(h[:8])
}

// SeedAD is the associated data that binds a sealed token seed to its serial.
func SeedAD(serial string) string { return "radmfa/token-seed\x00" + serial }

// SecretAD is the associated data that binds a sealed client secret to its client.
func SecretAD(client string) string { return "radmfa/client-secret\x00" + client }

// KeyCheckAD is the associated data of the value a backend seals at its
// first open, so that a later open with another master key is refused.
const KeyCheckAD = "radmfa/key-check"

// LoadKey reads a master key file (64 hex digits). It refuses a file that
// group or others can read or write.
func LoadKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: %s: %w", path, ErrKeyMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("store: master key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("store: master key %s has mode %04o; it must not be accessible to group or others (chmod 600)", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("store: master key %s must hold %d hex digits", path, 2*KeySize)
	}
	return key, nil
}

// CreateKey writes a new random master key with mode 0600. It never
// overwrites an existing file.
func CreateKey(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	if _, err := fmt.Fprintln(f, hex.EncodeToString(key)); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	return key, f.Close()
}
