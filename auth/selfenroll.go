package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
)

// SelfEnrollRequest creates a soft TOTP/HOTP token that the user enrolls
// on the self-enrollment page: its seed is made, stored and shown only
// when the user redeems the single-use activation code there.
type SelfEnrollRequest struct {
	User       string
	Params     otp.Params
	PIN        string
	Lifetime   time.Duration // default 24h
	CodeLength int           // default 12, 8-32
}

// EnrollSelf creates the token, with no seed yet, and its activation.
func (s *Service) EnrollSelf(ctx context.Context, by string, r SelfEnrollRequest) (PushEnrolled, error) {
	if err := r.Params.Validate(); err != nil {
		return PushEnrolled{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if r.Params.Type == otp.HOTP {
		r.Params.Period = 0
	}
	var err error
	if r.Lifetime, r.CodeLength, err = activationRules(r.Lifetime, r.CodeLength); err != nil {
		return PushEnrolled{}, err
	}
	u, err := s.store.User(ctx, r.User)
	if err != nil {
		return PushEnrolled{}, err
	}
	pinHash := ""
	if r.PIN != "" {
		if pinHash, err = s.hashValidPIN(r.PIN); err != nil {
			return PushEnrolled{}, err
		}
	}
	var tok store.Token
	for range 5 {
		serial, err := newSerial(r.Params.Type)
		if err != nil {
			return PushEnrolled{}, err
		}
		tok, err = s.store.CreateToken(ctx, by, store.Token{Serial: serial, User: u.Name, Type: string(r.Params.Type),
			Origin: store.OriginSoft, State: store.StateAssigned, Algorithm: string(r.Params.Algorithm),
			Digits: r.Params.Digits, Period: r.Params.Period, PINHash: pinHash, Description: "self-enrollment"})
		if errors.Is(err, store.ErrExists) {
			continue
		}
		if err != nil {
			return PushEnrolled{}, err
		}
		break
	}
	if tok.ID == 0 {
		return PushEnrolled{}, errors.New("auth: could not find a free serial")
	}
	code := push.NewActivationCode(r.CodeLength)
	exp := s.now().Add(r.Lifetime).Truncate(time.Second)
	if err := s.store.SetActivation(ctx, by, store.Activation{Serial: tok.Serial, CodeHash: push.HashCode(code), ExpiresAt: exp}); err != nil {
		return PushEnrolled{}, err
	}
	return PushEnrolled{Token: tok, Code: code, Expires: exp}, nil
}

// activationRules checks an activation's lifetime and code length, 0
// taking the defaults.
func activationRules(lifetime time.Duration, length int) (time.Duration, int, error) {
	if lifetime == 0 {
		lifetime = DefaultActivationLifetime
	}
	if length == 0 {
		length = DefaultActivationLength
	}
	if lifetime < time.Minute || lifetime > 30*24*time.Hour {
		return 0, 0, fmt.Errorf("%w: activation lifetime must be between 1m and 720h", ErrBadRequest)
	}
	if length < 8 || length > 32 {
		return 0, 0, fmt.Errorf("%w: activation code length must be 8 to 32", ErrBadRequest)
	}
	return lifetime, length, nil
}

// RedeemSelf redeems a self-enrollment's activation code: the token's seed
// is made and stored, the code voided, and the otpauth URI returned, this
// once. A wrong, used or expired code is store.ErrActivation.
func (s *Service) RedeemSelf(ctx context.Context, by, serial, code string, maxAttempts int) (Enrolled, error) {
	tok, err := s.store.Token(ctx, serial)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Enrolled{}, fmt.Errorf("auth: %w", store.ErrActivation)
		}
		return Enrolled{}, err
	}
	p := otp.Params{Type: otp.Type(tok.Type), Algorithm: otp.Algorithm(tok.Algorithm), Digits: tok.Digits, Period: tok.Period}
	if p.Type != otp.TOTP && p.Type != otp.HOTP {
		return Enrolled{}, fmt.Errorf("auth: token %s: %w", serial, store.ErrActivation)
	}
	seed, err := otp.NewSeed(rand.Reader, p.Algorithm)
	if err != nil {
		return Enrolled{}, err
	}
	tok, err = s.store.Activate(ctx, by, serial, push.HashCode(code), s.now(), maxAttempts, seed, store.Device{})
	if err != nil {
		return Enrolled{}, err
	}
	return Enrolled{Token: tok, URI: otp.URI(s.cfg.Issuer, tok.User, seed, p, 0)}, nil
}
