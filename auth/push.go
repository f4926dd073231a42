package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
)

// TypePush is the token type of a push token: a TOTP token (SHA-1, 6
// digits, 30 s) whose seed is agreed with the phone at activation, so the
// user can type a code when push is not at hand.
const TypePush = store.TypePush

// Activation code rules.
const (
	DefaultActivationLength   = 12
	DefaultActivationLifetime = 24 * time.Hour
)

// PushEnrollRequest creates a push token, or with Serial issues a new
// activation for an existing one (the earlier code stops working).
type PushEnrollRequest struct {
	User       string
	Serial     string
	PIN        string
	Lifetime   time.Duration // default 24h
	CodeLength int           // default 12, 8-32
}

// PushEnrolled is a push token waiting for its phone.
type PushEnrolled struct {
	Token   store.Token
	Code    string
	Expires time.Time
}

// EnrollPush creates a push token (or re-issues its activation) and returns
// the single-use activation code; only its hash is stored.
func (s *Service) EnrollPush(ctx context.Context, by string, r PushEnrollRequest) (PushEnrolled, error) {
	var err error
	if r.Lifetime, r.CodeLength, err = activationRules(r.Lifetime, r.CodeLength); err != nil {
		return PushEnrolled{}, err
	}
	u, err := s.store.User(ctx, r.User)
	if err != nil {
		return PushEnrolled{}, err
	}
	var tok store.Token
	if r.Serial != "" {
		if tok, err = s.store.Token(ctx, r.Serial); err != nil {
			return PushEnrolled{}, err
		}
		if tok.Type == TypePush && tok.State == store.StateInventory && tok.Seed == nil {
			// A returned push token: it serves this user now.
			if tok, err = s.store.UpdateToken(ctx, by, r.Serial, "token.assign", func(t *store.Token) error {
				if t.State != store.StateInventory || t.Seed != nil {
					return fmt.Errorf("%w: token %s changed; try again", ErrBadRequest, r.Serial)
				}
				t.User, t.State = u.Name, store.StateAssigned
				return nil
			}); err != nil {
				return PushEnrolled{}, err
			}
		}
		switch {
		case tok.Type != TypePush:
			return PushEnrolled{}, fmt.Errorf("%w: token %s is not a push token", ErrBadRequest, r.Serial)
		case !strings.EqualFold(tok.User, u.Name):
			return PushEnrolled{}, fmt.Errorf("%w: token %s is not %s's", ErrBadRequest, r.Serial, u.Name)
		case !tok.State.Usable():
			return PushEnrolled{}, fmt.Errorf("%w: token %s is %s", ErrBadRequest, r.Serial, tok.State)
		}
		if r.PIN != "" {
			if tok, err = s.SetPIN(ctx, by, r.Serial, r.PIN); err != nil {
				return PushEnrolled{}, err
			}
		}
	} else {
		pinHash := ""
		if r.PIN != "" {
			if pinHash, err = s.hashValidPIN(r.PIN); err != nil {
				return PushEnrolled{}, err
			}
		}
		for range 5 {
			serial, err := newSerial(TypePush)
			if err != nil {
				return PushEnrolled{}, err
			}
			tok, err = s.store.CreateToken(ctx, by, store.Token{Serial: serial, User: u.Name, Type: TypePush,
				Origin: store.OriginSoft, State: store.StateAssigned, Algorithm: string(otp.SHA1), Digits: 6, Period: 30,
				PINHash: pinHash})
			if errors.Is(err, store.ErrExists) {
				continue
			}
			break
		}
		if err != nil {
			return PushEnrolled{}, err
		}
	}
	code := push.NewActivationCode(r.CodeLength)
	exp := s.now().Add(r.Lifetime).Truncate(time.Second)
	if err := s.store.SetActivation(ctx, by, store.Activation{Serial: tok.Serial, CodeHash: push.HashCode(code), ExpiresAt: exp}); err != nil {
		return PushEnrolled{}, err
	}
	return PushEnrolled{Token: tok, Code: code, Expires: exp}, nil
}

// pushLogin starts (or joins) a push for an empty or one-character password.
func (s *Service) pushLogin(ctx context.Context, req Request, now time.Time) Result {
	if s.push == nil {
		return s.finish(ctx, req, now, Result{Reason: ReasonPushUnavailable})
	}
	user, err := s.store.User(ctx, req.User)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s.finish(ctx, req, now, Result{Reason: ReasonUnknownUser})
	case err != nil:
		s.errs.Error("auth: push: user", "user", req.User, "err", err)
		return s.finish(ctx, req, now, Result{Reason: ReasonInternal})
	case user.Disabled:
		return s.finish(ctx, req, now, Result{Reason: ReasonUserDisabled, User: user})
	case user.PushLocked(now):
		return s.finish(ctx, req, now, Result{Reason: ReasonPushLocked, User: user})
	case s.limited() && s.limit.Limited(user, now):
		return s.finish(ctx, req, now, Result{Reason: ReasonRateLimited, User: user})
	}
	devs, err := s.store.UserDevices(ctx, user.Name)
	if err != nil {
		s.errs.Error("auth: push: devices", "user", req.User, "err", err)
		return s.finish(ctx, req, now, Result{Reason: ReasonInternal, User: user})
	}
	if len(devs) == 0 {
		return s.finish(ctx, req, now, Result{Reason: ReasonNoPushDevice, User: user})
	}
	dev := devs[0]
	login := push.Login{User: user.Name, Client: req.Client, NASIdentifier: req.NASIdentifier, NASIPAddress: req.NASIPAddress,
		CallingStation: req.CallingStationID, NumberMatching: req.NumberMatching,
		RequireUV: req.UserVerification == "on" || (req.UserVerification == "" && s.cfg.RequireUserVerification)}
	r, _, err := s.push.Start(ctx, login, dev)
	if err != nil {
		reason := ReasonPushOverloaded
		switch {
		case errors.Is(err, push.ErrPending), errors.Is(err, push.ErrJoinLimit):
			reason = ReasonPushPending
		case errors.Is(err, push.ErrRateLimited):
			reason = ReasonPushRateLimited
		case errors.Is(err, push.ErrUnavailable):
			reason = ReasonInternal
		}
		// Not a guess at a code: no failure is counted.
		return s.record(ctx, req, now, Result{Reason: reason, User: user, Serial: dev.Serial})
	}
	if r.Number != 0 {
		res := Result{Decision: Challenge, Reason: ReasonPushSent, User: user, Serial: r.Serial, State: r.State,
			ReplyMessage: fmt.Sprintf("Check your phone and pick %d to approve this login, then press Enter.", r.Number)}
		return s.record(ctx, req, now, res)
	}
	return Result{User: user, Serial: r.Serial, Wait: func(ctx context.Context) Result { return s.awaitPush(ctx, req, r) }}
}

// followUp continues a challenged login; done is false when the password is
// a typed OTP that the ordinary check decides (the push is then canceled).
func (s *Service) followUp(ctx context.Context, req Request, now time.Time) (Result, bool) {
	var r *push.Request
	if s.push != nil {
		r = s.push.TakeState(ctx, req.State)
	}
	if r == nil || !strings.EqualFold(r.Login.User, req.User) || r.Login.Client != req.Client {
		return s.finish(ctx, req, now, Result{Reason: ReasonUnknownState}), true
	}
	if len(req.Password) > 1 {
		s.push.Cancel(r)
		return Result{}, false
	}
	return Result{Serial: r.Serial, Wait: func(ctx context.Context) Result { return s.awaitPush(ctx, req, r) }}, true
}

// awaitPush waits for the phone and records the outcome. An approval is
// committed like an OTP accept: compare-and-set on the token, which must
// still be usable and its user enabled.
func (s *Service) awaitPush(ctx context.Context, req Request, r *push.Request) Result {
	wctx := ctx
	if !req.AnswerBy.IsZero() {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, req.AnswerBy)
		defer cancel()
	}
	r.Waiting(1)
	waiting := true
	defer func() {
		if waiting {
			r.Waiting(-1)
		}
	}()
	o := s.push.Wait(wctx, r)
	if r.Outcome() == push.Pending {
		r.Waiting(-1)
		waiting = false
		if ctx.Err() == nil && wctx.Err() != nil {
			return s.pushNASDeadline(ctx, req, r)
		}
		// This request's wait ended, not the push: its own outcome.
		return s.pushOutcome(ctx, req, r, push.Expired)
	}
	// The push ended: every request waiting for it (the NAS's retries
	// joined to it) answers with the outcome the first of them records,
	// one audit row for the login, which counts them.
	return r.Settle(func() any { return s.pushOutcome(ctx, req, r, o) }).(Result)
}

// pushNASDeadline answers a push login whose phone has not answered when
// the NAS is about to give up. The push stays pending. A NAS that shows
// challenges gets one: the user approves, then presses Enter, and the
// follow-up continues the login. Any other gets a Reject that says so;
// the approval, when it comes, is recorded, and the same login sent again
// (OpenVPN's clients retry) is accepted as a resubmission.
func (s *Service) pushNASDeadline(ctx context.Context, req Request, r *push.Request) Result {
	now := s.now()
	res := Result{Reason: ReasonPushNASDeadline, Serial: r.Serial}
	if u, err := s.store.User(ctx, req.User); err == nil {
		res.User = u
	}
	if !req.NoChallenges {
		s.push.Rechallenge(r)
		res.Decision, res.State = Challenge, r.State
		res.ReplyMessage = "Approve the login on your phone, then press Enter."
		return s.record(ctx, req, now, res)
	}
	res.ReplyMessage = "Your phone did not answer in time. Approve the login on your phone, then log in again."
	res = s.record(ctx, req, now, res)
	// The phone may still answer: its answer is recorded, against a NAS
	// that has been answered (so an approval is late).
	answered := s.now()
	late := WithNASGiveUp(context.WithoutCancel(ctx), func() (time.Time, bool) { return answered, true })
	// The push ends by its expiry at the latest; the bound only keeps a
	// goroutine from outliving a push that never would.
	wait, cancel := context.WithTimeout(late, s.push.Config().Timeout+time.Minute)
	go func() {
		defer cancel()
		o := s.push.Wait(wait, r)
		if r.Outcome() == push.Pending || r.Waiters() > 0 {
			// Ended by the push's expiry, which records it; or answered
			// while a request of the NAS waits, which records it.
			return
		}
		r.Settle(func() any { return s.pushOutcome(late, req, r, o) })
	}()
	return res
}

// pushOutcome records how a push login ended and returns its result.
func (s *Service) pushOutcome(ctx context.Context, req Request, r *push.Request, o push.Outcome) Result {
	now := s.now()
	res := Result{Serial: r.Serial}
	if n := s.push.Joined(r); n > 0 && r.Outcome() != push.Pending {
		res.Detail = fmt.Sprintf("requests=%d", n+1)
	}
	if r.Login.Location != "" {
		res.Detail = strings.TrimSpace(fmt.Sprintf("%s location=%q", res.Detail, r.Login.Location))
	}
	switch o {
	case push.Approved:
		return s.commitPushApproval(ctx, req, now, r, res.Detail)
	case push.Denied:
		res.Reason = ReasonPushDenied
	case push.Fraud:
		res.Reason = ReasonPushFraud
	case push.WrongNumber:
		res.Reason = ReasonPushWrongNumber
	default:
		res.Reason = ReasonPushTimeout
	}
	ctx = context.WithoutCancel(ctx)
	if u, err := s.store.User(ctx, req.User); err == nil {
		res.User = u
	}
	return s.record(ctx, req, now, res)
}

func (s *Service) commitPushApproval(ctx context.Context, req Request, now time.Time, r *push.Request, detail string) Result {
	ctx = context.WithoutCancel(ctx)
	for range maxConflictRetries + 1 {
		st, err := s.store.LoginState(ctx, req.User, true)
		user, tokens := st.User, st.Tokens
		if err != nil {
			s.errs.Error("auth: push approval", "user", req.User, "err", err)
			return s.record(ctx, req, now, Result{Reason: ReasonInternal, Serial: r.Serial, Detail: detail})
		}
		var tok *store.Token
		for i := range tokens {
			if tokens[i].Serial == r.Serial {
				tok = &tokens[i]
			}
		}
		if tok == nil || !tok.State.Usable() || user.Disabled {
			reason := ReasonPushTokenChanged
			if user.Disabled {
				reason = ReasonUserDisabled
			}
			return s.record(ctx, req, now, Result{Reason: reason, User: user, Serial: r.Serial, Detail: detail})
		}
		res := Result{Decision: Accept, Reason: ReasonPushApproved, User: user, Serial: r.Serial, Detail: detail}
		if giveUp, ok := nasGiveUp(ctx); ok && !now.Before(giveUp) {
			res.Reason = ReasonPushApprovedLate
			res.Detail = strings.TrimSpace(fmt.Sprintf("%s nas-gave-up=%s-ago", detail, now.Sub(giveUp).Round(time.Millisecond)))
			s.log.Warn("auth: a push was approved after the NAS had given up: the user was not let in; make the NAS wait longer (its timeout x retries) than --push-timeout",
				"user", user.Name, "client", req.Client, "late_by", now.Sub(giveUp).Round(time.Millisecond))
		}
		up := store.TokenAuth{ID: tok.ID, UserID: user.ID, Accepted: true, Activate: tok.State == store.StateAssigned,
			Version: tok.Version, Counter: tok.Counter, LastStep: tok.LastStep, Drift: tok.Drift}
		// The NAS did not get a late Accept: the same push login sent
		// again soon (its retry, or the user's) is this one, once. A push
		// login after an Accept the NAS got is a new login, with a push
		// of its own.
		var once *resubmit
		var key [32]byte
		if res.Reason == ReasonPushApprovedLate && s.resub != nil {
			if k, ok := s.resub.loginKey(req); ok {
				key, once = k, s.resub.once(k, now)
			}
		}
		res, err = s.commit(ctx, req, now, res, []store.TokenAuth{up})
		if once != nil {
			s.resub.end(key, once, s.now(), res)
		}
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return res
	}
	return s.record(ctx, req, now, Result{Reason: ReasonPushTokenChanged, Serial: r.Serial, Detail: detail})
}

// record writes the audit row of a result that counts no failure.
func (s *Service) record(ctx context.Context, req Request, now time.Time, res Result) Result {
	if err := s.store.CommitAuth(ctx, store.AuthCommit{At: now, Audit: s.auditEvent(req, res)}); err != nil {
		s.errs.Error("auth: audit", "user", req.User, "err", err)
	}
	return res
}

type nasGiveUpKey struct{}

// WithNASGiveUp gives a held login's context what the front end knows of
// when the NAS gives up waiting (from its retransmissions); ok is false
// while it cannot tell.
func WithNASGiveUp(ctx context.Context, giveUp func() (time.Time, bool)) context.Context {
	return context.WithValue(ctx, nasGiveUpKey{}, giveUp)
}

func nasGiveUp(ctx context.Context) (time.Time, bool) {
	f, _ := ctx.Value(nasGiveUpKey{}).(func() (time.Time, bool))
	if f == nil {
		return time.Time{}, false
	}
	return f()
}
