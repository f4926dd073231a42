package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
)

// Token reset at login (Entrust's "Max. Reset Time Steps"): a code that
// matches only in the resync window, far outside the verification window
// (a token whose clock or counter ran away), gets an Access-Challenge
// asking for the next code; the next consecutive code accepts and
// resynchronises the token. The first code counts as a failure, like any
// refused one, so the rate limit and the lock hold.
const (
	ReasonResetNextCode = "token_reset_next_code" // the challenge
	ReasonTokenReset    = "token_reset"           // the accept that resynchronised
	ReasonResetFailed   = "token_reset_failed"    // the next code was not the next one
	// resetLifetime bounds the time between the challenge and its answer.
	resetLifetime = 2 * time.Minute
	// maxResets bounds the challenges waiting for their next code.
	maxResets   = 10000
	resetPrefix = "radmfa-reset:"
)

// pendingReset is a challenge waiting for the next code.
type pendingReset struct {
	user, client, serial string
	at                   time.Time
	// matched is the step (TOTP) or counter (HOTP) the first code matched.
	matched int64
}

// resets holds the pending resets by State.
type resets struct {
	mu sync.Mutex
	m  map[string]pendingReset
}

func (r *resets) add(p pendingReset) ([]byte, bool) {
	var b [16]byte
	rand.Read(b[:])
	state := resetPrefix + hex.EncodeToString(b[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]pendingReset{}
	}
	if len(r.m) >= maxResets {
		for k, v := range r.m {
			if p.at.Sub(v.at) > resetLifetime {
				delete(r.m, k)
			}
		}
		if len(r.m) >= maxResets {
			return nil, false
		}
	}
	r.m[state] = p
	return []byte(state), true
}

// take returns and forgets the reset a State names.
func (r *resets) take(state []byte, now time.Time) (pendingReset, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.m[string(state)]
	delete(r.m, string(state))
	if !ok || now.Sub(p.at) > resetLifetime {
		return pendingReset{}, false
	}
	return p, true
}

// resetMatch finds the candidate token whose code password is at a step
// or counter within the resync window but outside the verification window:
// the token's serial, its index, and the step or counter matched. A token
// with a PIN matches only when the PIN was right.
func (s *Service) resetMatch(tokens []store.Token, candidates []int, password string, now time.Time, a *attempt) (int, int64, bool) {
	for _, i := range candidates {
		t := tokens[i]
		code := password
		if t.HasPIN() {
			if len(password) <= t.Digits || !a.hashed || a.pinHash != t.PINHash || !a.pinOK {
				continue
			}
			code = password[len(password)-t.Digits:]
		}
		if len(code) != t.Digits {
			continue
		}
		p := otp.Params{Type: otpType(t.Type), Algorithm: otp.Algorithm(t.Algorithm), Digits: t.Digits, Period: t.Period}
		switch p.Type {
		case otp.TOTP:
			base := otp.Step(now.Unix(), p.Period) + t.Drift
			for off := int64(s.cfg.TOTPWindow) + 1; off <= int64(s.cfg.ResyncWindow); off++ {
				for _, step := range []int64{base + off, base - off} {
					if step > t.LastStep && codeAt(t.Seed, uint64(step), p, code) {
						return i, step, true
					}
				}
			}
		case otp.HOTP:
			for c := t.Counter + uint64(s.cfg.HOTPLookAhead) + 1; c <= t.Counter+uint64(s.cfg.ResyncWindow); c++ {
				if codeAt(t.Seed, c, p, code) {
					return i, int64(c), true
				}
			}
		}
	}
	return 0, 0, false
}

func codeAt(seed []byte, at uint64, p otp.Params, code string) bool {
	return subtle.ConstantTimeCompare([]byte(otp.Code(seed, at, p)), []byte(code)) == 1
}

// resetFollowUp decides the answer to a reset challenge: the token's next
// code after the one that matched.
func (s *Service) resetFollowUp(ctx context.Context, req Request, now time.Time) Result {
	p, ok := s.resets.take(req.State, now)
	if !ok || !strings.EqualFold(p.user, req.User) || p.client != req.Client {
		return s.finish(ctx, req, now, Result{Reason: ReasonUnknownState})
	}
	for range maxConflictRetries + 1 {
		st, err := s.store.LoginState(ctx, req.User, true)
		if err != nil {
			s.errs.Error("auth: token reset", "user", req.User, "err", err)
			return s.finish(ctx, req, now, Result{Reason: ReasonInternal})
		}
		var tok *store.Token
		for i := range st.Tokens {
			if st.Tokens[i].Serial == p.serial {
				tok = &st.Tokens[i]
			}
		}
		res := Result{User: st.User, Serial: p.serial, Reason: ReasonResetFailed}
		if st.User.Disabled || tok == nil || !tok.State.Usable() || tok.Locked(now) || tok.Seed == nil {
			res.Reason = ReasonNoToken
			if st.User.Disabled {
				res.Reason = ReasonUserDisabled
			}
			return s.finish(ctx, req, now, res)
		}
		code := req.Password
		if tok.HasPIN() && len(code) > tok.Digits {
			// The PIN may be typed again; it must then be right.
			ok, err := s.verifyPIN(ctx, tok.PINHash, code[:len(code)-tok.Digits])
			if errors.Is(err, errHashBusy) {
				return s.finish(ctx, req, now, Result{Reason: ReasonOverloaded, User: st.User})
			}
			if !ok {
				code = ""
			} else {
				code = code[len(code)-tok.Digits:]
			}
		}
		pr := otp.Params{Type: otpType(tok.Type), Algorithm: otp.Algorithm(tok.Algorithm), Digits: tok.Digits, Period: tok.Period}
		up := store.TokenAuth{ID: tok.ID, UserID: st.User.ID, Accepted: true, Activate: tok.State == store.StateAssigned,
			Version: tok.Version, Counter: tok.Counter, LastStep: tok.LastStep, Drift: tok.Drift, RequestKey: req.RequestKey}
		matched := false
		switch pr.Type {
		case otp.TOTP:
			// The token's clock moved on as ours did since the challenge:
			// its next code is a step after the one matched, or as many
			// more as have passed.
			passed := int64(now.Sub(p.at)/(time.Duration(pr.Period)*time.Second)) + 1
			for step := p.matched + 1; step <= p.matched+passed && !matched; step++ {
				if step > tok.LastStep && codeAt(tok.Seed, uint64(step), pr, code) {
					matched = true
					up.LastStep = step
					up.Drift = step - otp.Step(now.Unix(), pr.Period)
					res.Detail = fmt.Sprintf("clock-skew=%ds", up.Drift*int64(pr.Period))
				}
			}
		case otp.HOTP:
			next := uint64(p.matched) + 1
			if next > tok.Counter && codeAt(tok.Seed, next, pr, code) {
				matched = true
				res.Detail = fmt.Sprintf("counters-skipped=%d", next-tok.Counter)
				up.Counter = next + 1
			}
		}
		if !matched {
			lockUntil := store.LockForever
			if s.cfg.LockDuration > 0 {
				lockUntil = now.Add(s.cfg.LockDuration).Unix()
			}
			_, err := s.commit(ctx, req, now, res, []store.TokenAuth{{ID: tok.ID, Failed: true, LockAfter: s.cfg.LockAfter, LockUntil: lockUntil}})
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return res
		}
		res.Decision, res.Reason = Accept, ReasonTokenReset
		if s.limited() {
			up.MaxFailureTAT = s.limit.MaxTAT(now)
		}
		res, err = s.commit(ctx, req, now, res, []store.TokenAuth{up})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return res
	}
	return s.finish(ctx, req, now, Result{Reason: ReasonResetFailed, Serial: p.serial})
}
