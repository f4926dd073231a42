package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
)

// Assign hands an inventory token (with its seed: a hardware token) to a
// user. A token held by someone must be unassigned first, so no hardware
// token ever serves two users.
func (s *Service) Assign(ctx context.Context, by, serial, user string) (store.Token, error) {
	u, err := s.store.User(ctx, user)
	if err != nil {
		return store.Token{}, err
	}
	return s.store.UpdateToken(ctx, by, serial, "token.assign", func(t *store.Token) error {
		switch {
		case t.State == store.StateRevoked:
			return fmt.Errorf("%w: token %s is revoked", ErrBadRequest, serial)
		case t.State != store.StateInventory:
			return fmt.Errorf("%w: token %s is %s to %s; unassign it first", ErrBadRequest, serial, t.State, t.User)
		case t.Seed == nil:
			return fmt.Errorf("%w: token %s has no seed; enroll it: radmfa token enroll %s --serial %s", ErrBadRequest, serial, u.Name, serial)
		}
		t.User, t.State = u.Name, store.StateAssigned
		t.FailCount, t.LockedUntil, t.PINHash = 0, 0, ""
		return nil
	})
}

// Unassign takes a token back into the inventory. A hardware token keeps its
// seed and counter (the device's counter goes on); the PIN is cleared.
func (s *Service) Unassign(ctx context.Context, by, serial string) (store.Token, error) {
	return s.store.UpdateToken(ctx, by, serial, "token.unassign", func(t *store.Token) error {
		switch {
		case t.State == store.StateRevoked:
			return fmt.Errorf("%w: token %s is revoked; use token return", ErrBadRequest, serial)
		case t.State == store.StateInventory:
			return fmt.Errorf("%w: token %s is already in the inventory", ErrBadRequest, serial)
		case t.Origin != store.OriginHardware:
			return fmt.Errorf("%w: token %s is a %s token bound to the user's phone; revoke it, then token return", ErrBadRequest, serial, t.Type)
		}
		t.User, t.State = "", store.StateInventory
		t.FailCount, t.LockedUntil, t.PINHash = 0, 0, ""
		return nil
	})
}

// Return puts a revoked soft or push token back into the inventory with its
// seed and phone binding destroyed, ready to be enrolled anew (the serial
// may then serve another user). A revoked hardware token's seed is burnt
// into the device: it is never usable again, so it cannot be returned.
func (s *Service) Return(ctx context.Context, by, serial string) (store.Token, error) {
	return s.store.UpdateToken(ctx, by, serial, "token.return", func(t *store.Token) error {
		switch {
		case t.State != store.StateRevoked:
			return fmt.Errorf("%w: token %s is %s; revoke it first", ErrBadRequest, serial, t.State)
		case t.Origin == store.OriginHardware:
			return fmt.Errorf("%w: token %s is a revoked hardware token: its seed stays compromised; delete it", ErrBadRequest, serial)
		}
		t.User, t.State, t.Seed = "", store.StateInventory, nil
		t.Counter, t.LastStep, t.Drift, t.FailCount, t.LockedUntil, t.PINHash = 0, 0, 0, 0, 0, ""
		t.ValidFrom, t.ValidUntil = time.Time{}, time.Time{}
		return nil
	})
}

// Lost revokes a token reported lost and, when replacement > 0, enrolls a
// temporary TOTP token for its user that stops working after replacement.
func (s *Service) Lost(ctx context.Context, by, serial string, replacement time.Duration) (store.Token, *Enrolled, error) {
	t, err := s.store.UpdateToken(ctx, by, serial, "token.lost", func(t *store.Token) error {
		if t.State == store.StateRevoked || t.State == store.StateInventory {
			return fmt.Errorf("%w: token %s is not held by a user (state %s)", ErrBadRequest, serial, t.State)
		}
		t.State = store.StateRevoked
		return nil
	})
	if err != nil || replacement <= 0 {
		return t, nil, err
	}
	en, err := s.enrollSoft(ctx, by, EnrollRequest{User: t.User, Params: otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 30}},
		s.now().Add(replacement), "temporary replacement for lost "+serial)
	if err != nil {
		return t, nil, err
	}
	return t, &en, nil
}

// EnrollInventory enrolls a seedless inventory token (one returned) for a
// user with a fresh seed.
func (s *Service) EnrollInventory(ctx context.Context, by, serial string, r EnrollRequest) (Enrolled, error) {
	if err := r.Params.Validate(); err != nil {
		return Enrolled{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if r.Params.Type == otp.HOTP {
		r.Params.Period = 0
	}
	u, pinHash, seed, err := s.softParts(ctx, r)
	if err != nil {
		return Enrolled{}, err
	}
	t, err := s.store.UpdateToken(ctx, by, serial, "token.enroll", func(t *store.Token) error {
		if t.State != store.StateInventory || t.Seed != nil || t.Origin == store.OriginHardware {
			return fmt.Errorf("%w: token %s is not a returned soft token in the inventory", ErrBadRequest, serial)
		}
		t.User, t.State, t.Type, t.Seed, t.PINHash = u.Name, store.StateActive, string(r.Params.Type), seed, pinHash
		t.Algorithm, t.Digits, t.Period = string(r.Params.Algorithm), r.Params.Digits, r.Params.Period
		return nil
	})
	if err != nil {
		return Enrolled{}, err
	}
	return Enrolled{Token: t, URI: otp.URI(s.cfg.Issuer, u.Name, seed, r.Params, 0)}, nil
}

// ImportResult reports an import.
type ImportResult struct {
	Tokens int
	ByType map[string]int
}

// ImportProblem is one reason an import was refused, by key id.
type ImportProblem = otp.PSKCProblem

// ImportError lists every problem of a refused import; nothing was written.
type ImportError struct{ Problems []ImportProblem }

func (e *ImportError) Error() string {
	msg := otp.FormatProblems("import refused, nothing imported", "\n  ", e.Problems)
	if len(e.Problems) > 20 {
		msg += " (--json lists all)"
	}
	return msg
}

// ImportKeys puts keys into the inventory as hardware tokens, all or
// nothing: any malformed key, duplicate serial (in the file or the
// database) refuses the whole import with every problem listed. With
// dryRun nothing is written.
func (s *Service) ImportKeys(ctx context.Context, by, action string, keys []otp.PSKCKey, problems []ImportProblem, dryRun bool) (ImportResult, error) {
	seen := make(map[string]string, len(keys))
	serials := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := ValidSerial(k.Serial); err != nil {
			problems = append(problems, ImportProblem{KeyID: k.KeyID, Msg: fmt.Sprintf("serial %q is not a valid serial", k.Serial)})
			continue
		}
		if other, dup := seen[k.Serial]; dup {
			problems = append(problems, ImportProblem{KeyID: k.KeyID, Msg: fmt.Sprintf("serial %s appears twice in the file (also key %s)", k.Serial, other)})
			continue
		}
		seen[k.Serial] = k.KeyID
		serials = append(serials, k.Serial)
	}
	taken, err := s.store.ExistingSerials(ctx, serials)
	if err != nil {
		return ImportResult{}, err
	}
	for _, sr := range taken {
		problems = append(problems, ImportProblem{KeyID: seen[sr], Msg: fmt.Sprintf("serial %s is already in the database", sr)})
	}
	if len(problems) > 0 {
		return ImportResult{}, &ImportError{Problems: problems}
	}
	res := ImportResult{Tokens: len(keys), ByType: map[string]int{}}
	items := make([]store.BulkItem, len(keys))
	for i, k := range keys {
		res.ByType[string(k.Params.Type)]++
		items[i] = store.BulkItem{Tokens: []store.Token{{Serial: k.Serial, Type: string(k.Params.Type), Origin: store.OriginHardware,
			State: store.StateInventory, Algorithm: string(k.Params.Algorithm), Digits: k.Params.Digits, Period: k.Params.Period,
			Seed: k.Secret, Counter: k.Counter, Drift: k.Drift, Manufacturer: k.Manufacturer, Model: k.Model,
			ValidFrom: k.NotBefore, ValidUntil: k.NotAfter, Description: k.Issuer}}}
	}
	if dryRun || len(items) == 0 {
		return res, nil
	}
	if err := s.store.Bulk(ctx, by, action, items); err != nil {
		if errors.Is(err, store.ErrExists) { // a concurrent import took a serial
			return ImportResult{}, &ImportError{Problems: []ImportProblem{{Msg: err.Error()}}}
		}
		return ImportResult{}, err
	}
	return res, nil
}
