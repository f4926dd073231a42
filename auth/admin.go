package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"time"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
)

// ErrBadRequest wraps admin input the rules refuse.
var ErrBadRequest = errors.New("invalid request")

var serialRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// ValidSerial reports whether s is a well-formed token serial.
func ValidSerial(s string) error {
	if !serialRE.MatchString(s) {
		return fmt.Errorf("%w: malformed serial %q (1-64 letters, digits, '.', '_', ':' or '-')", ErrBadRequest, s)
	}
	return nil
}

var userRE = regexp.MustCompile(`^[^\x00-\x1f\x7f]{1,253}$`)

// ValidUserName reports whether name can be a user name (what a NAS sends
// as User-Name: 1-253 bytes without control characters).
func ValidUserName(name string) error {
	if !userRE.MatchString(name) {
		return fmt.Errorf("%w: malformed user name %q (1-253 bytes, no control characters)", ErrBadRequest, name)
	}
	return nil
}

// EnrollRequest describes a new soft token.
type EnrollRequest struct {
	User   string
	Params otp.Params
	PIN    string // empty: no PIN
}

// Enrolled is a new token with the URI to put in an authenticator app.
type Enrolled struct {
	Token store.Token
	URI   string
}

// newSerial makes a serial like RMT-123456789 (T totp, H hotp, P push).
func newSerial(t otp.Type) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	if err != nil {
		return "", fmt.Errorf("auth: serial: %w", err)
	}
	letter := "T"
	switch t {
	case otp.HOTP:
		letter = "H"
	case TypePush:
		letter = "P"
	}
	return fmt.Sprintf("RM%s-%09d", letter, n.Int64()), nil
}

// Enroll creates a soft token for a user with a fresh seed.
func (s *Service) Enroll(ctx context.Context, by string, r EnrollRequest) (Enrolled, error) {
	if err := r.Params.Validate(); err != nil {
		return Enrolled{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if r.Params.Type == otp.HOTP {
		r.Params.Period = 0
	}
	return s.enrollSoft(ctx, by, r, time.Time{}, "")
}

// softParts are what a new soft token needs: its user, PIN hash and seed.
func (s *Service) softParts(ctx context.Context, r EnrollRequest) (u store.User, pinHash string, seed []byte, err error) {
	if u, err = s.store.User(ctx, r.User); err != nil {
		return
	}
	if r.PIN != "" {
		if pinHash, err = s.hashValidPIN(r.PIN); err != nil {
			return
		}
	}
	seed, err = otp.NewSeed(rand.Reader, r.Params.Algorithm)
	return
}

// enrollSoft creates a soft token (valid until until, when set).
func (s *Service) enrollSoft(ctx context.Context, by string, r EnrollRequest, until time.Time, desc string) (Enrolled, error) {
	u, pinHash, seed, err := s.softParts(ctx, r)
	if err != nil {
		return Enrolled{}, err
	}
	for range 5 {
		serial, err := newSerial(r.Params.Type)
		if err != nil {
			return Enrolled{}, err
		}
		t, err := s.store.CreateToken(ctx, by, store.Token{
			Serial: serial, User: u.Name, Type: string(r.Params.Type), Origin: store.OriginSoft,
			State: store.StateActive, Algorithm: string(r.Params.Algorithm), Digits: r.Params.Digits,
			Period: r.Params.Period, Seed: seed, PINHash: pinHash, ValidUntil: until, Description: desc,
		})
		if errors.Is(err, store.ErrExists) {
			continue // serial collision: draw again
		}
		if err != nil {
			return Enrolled{}, err
		}
		return Enrolled{Token: t, URI: otp.URI(s.cfg.Issuer, u.Name, seed, r.Params, 0)}, nil
	}
	return Enrolled{}, errors.New("auth: could not find a free serial")
}

// hashValidPIN checks a PIN's form and hashes it.
func (s *Service) hashValidPIN(pin string) (string, error) {
	if len(pin) < 4 || len(pin) > 32 {
		return "", fmt.Errorf("%w: a PIN has 4 to 32 characters", ErrBadRequest)
	}
	for _, c := range pin {
		if c < 0x21 || c > 0x7e {
			return "", fmt.Errorf("%w: a PIN is printable ASCII without spaces", ErrBadRequest)
		}
	}
	return HashPIN(pin)
}

func params(t store.Token) otp.Params {
	return otp.Params{Type: otpType(t.Type), Algorithm: otp.Algorithm(t.Algorithm), Digits: t.Digits, Period: t.Period}
}

// Resync re-aligns a token from two consecutive codes found within the
// resync window. It also clears the failure count and any lock.
func (s *Service) Resync(ctx context.Context, by, serial, code1, code2 string) (store.Token, error) {
	now := s.now()
	return s.store.UpdateToken(ctx, by, serial, "token.resync", func(t *store.Token) error {
		if t.Seed == nil || otpType(t.Type) == "" {
			return fmt.Errorf("%w: token %s has no OTP seed", ErrBadRequest, serial)
		}
		p := params(*t)
		switch p.Type {
		case otp.HOTP:
			ctr, ok := otp.ResyncHOTP(t.Seed, p, code1, code2, t.Counter, s.cfg.ResyncWindow)
			if !ok {
				return fmt.Errorf("%w: the two codes are not consecutive codes of token %s within %d counters", ErrBadRequest, serial, s.cfg.ResyncWindow)
			}
			t.Counter = ctr + 1
		case otp.TOTP:
			step, ok := otp.ResyncTOTP(t.Seed, p, code1, code2, now.Unix(), t.LastStep, s.cfg.ResyncWindow)
			if !ok {
				return fmt.Errorf("%w: the two codes are not consecutive codes of token %s within %d steps", ErrBadRequest, serial, s.cfg.ResyncWindow)
			}
			t.LastStep = step
			t.Drift = step - otp.Step(now.Unix(), p.Period)
		}
		t.FailCount, t.LockedUntil = 0, 0
		return nil
	})
}

// Unlock clears a token's lock and failure count.
func (s *Service) Unlock(ctx context.Context, by, serial string) (store.Token, error) {
	return s.store.UpdateToken(ctx, by, serial, "token.unlock", func(t *store.Token) error {
		t.FailCount, t.LockedUntil = 0, 0
		return nil
	})
}

// SetPIN sets (or with pin "" clears) a token's PIN.
func (s *Service) SetPIN(ctx context.Context, by, serial, pin string) (store.Token, error) {
	hash := ""
	action := "token.pin-clear"
	if pin != "" {
		var err error
		if hash, err = s.hashValidPIN(pin); err != nil {
			return store.Token{}, err
		}
		action = "token.pin-set"
	}
	return s.store.UpdateToken(ctx, by, serial, action, func(t *store.Token) error {
		if t.State == store.StateRevoked {
			return fmt.Errorf("%w: token %s is revoked", ErrBadRequest, serial)
		}
		t.PINHash = hash
		return nil
	})
}

// Revoke makes a token unusable for good.
func (s *Service) Revoke(ctx context.Context, by, serial string) (store.Token, error) {
	return s.store.UpdateToken(ctx, by, serial, "token.revoke", func(t *store.Token) error {
		if t.State == store.StateRevoked {
			return fmt.Errorf("%w: token %s is already revoked", ErrBadRequest, serial)
		}
		t.State = store.StateRevoked
		return nil
	})
}
