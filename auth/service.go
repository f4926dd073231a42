// Package auth makes the login decision: given a user, a password and where
// the request came from, accept, reject or challenge. It applies the OTP
// rules (PIN, window, replay, lockout, rate limit) with the store, records
// an audit row for every outcome, and knows nothing of RADIUS.
package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
)

// Decision is the answer to a login.
type Decision int

// Decisions.
const (
	Reject Decision = iota
	Accept
	Challenge
)

func (d Decision) String() string {
	switch d {
	case Accept:
		return "accept"
	case Challenge:
		return "challenge"
	}
	return "reject"
}

// RequestKeySize is the size of a Request's RequestKey.
const RequestKeySize = store.RequestKeySize

// Reasons recorded in the audit log (never shown to the user).
const (
	ReasonOK           = "ok"
	ReasonUnknownUser  = "unknown_user"
	ReasonUserDisabled = "user_disabled"
	ReasonNoToken      = "no_usable_token"
	ReasonLocked       = "token_locked"
	ReasonExpired      = "token_expired"
	ReasonBadCode      = "bad_code"
	ReasonBadPIN       = "bad_pin"
	ReasonReplay       = "replayed_code"
	// ReasonRetransmitted accepts a retransmission of a request whose code
	// was accepted (by another instance, or before a restart): the NAS
	// gets the answer it missed, and nothing is written but the audit row.
	ReasonRetransmitted   = "retransmitted"
	ReasonRateLimited     = "rate_limited"
	ReasonPushUnavailable = "push_unavailable"
	ReasonInternal        = "internal_error"

	ReasonNoPushDevice    = "no_push_device"
	ReasonPushLocked      = "push_locked"
	ReasonPushPending     = "push_pending"
	ReasonPushRateLimited = "push_rate_limited"
	ReasonPushOverloaded  = "push_overloaded"
	ReasonPushSent        = "push_sent" // the number-matching challenge
	ReasonPushApproved    = "push_approved"
	// ReasonPushApprovedLate: approved after the NAS had given up waiting
	// (estimated from its retransmissions): the user was not let in; the
	// NAS's timeout is shorter than the time people take to approve.
	ReasonPushApprovedLate = "push_approved_late"
	ReasonPushDenied       = "push_denied"
	ReasonPushFraud        = "push_fraud"
	ReasonPushWrongNumber  = "push_wrong_number"
	ReasonPushTimeout      = "push_timeout"
	ReasonPushTokenChanged = "push_token_changed"
	ReasonUnknownState     = "unknown_state"
	// ReasonPushNASDeadline: the phone had not answered when the NAS was
	// about to give up: a challenge to continue the login, or (for a NAS
	// that cannot show one) a Reject saying so. The push stays pending.
	ReasonPushNASDeadline = "push_nas_deadline"
	// ReasonResubmitted: the same login (client, user, station, password)
	// sent again as a new request within the resubmit window after it was
	// accepted: accepted again, nothing written but the audit row.
	ReasonResubmitted = "resubmitted"

	ReasonNoUserName = "no_user_name"
	// ReasonNotPAP: CHAP, MS-CHAP or EAP instead of a PAP password,
	// which cannot carry a code radmfa can check (the NAS must send PAP).
	ReasonUnsupportedMethod = "not_pap"
	// ReasonWrongLength: the password cannot be a code of any of the
	// user's tokens (too short or too long for its digits and PIN).
	ReasonWrongLength = "wrong_length"
	// ReasonClockSkew: a TOTP code of the right token, but for a time
	// outside the window: the phone's clock is off (the audit says by
	// how much).
	ReasonClockSkew = "clock_skew"
	// ReasonOverloaded: no PIN-hash slot freed up in time (see HashBudget).
	ReasonOverloaded = "overloaded"
)

// minCodeLen is the shortest code a token has. A password longer than it
// may hold a PIN: every such login costs one PIN hash, whoever the user
// is, so that timing tells nothing about who exists or has a PIN.
const minCodeLen = 6

// replayBack is how many codes before a token's last accepted one a
// refused code is compared with: a code from among them is a replay (or
// an old code), no guess at a fresh one, and does not count against the
// user or the token.
const replayBack = 64

// Authentication methods a request can carry instead of a password that
// holds the OTP (Request.Method). None can carry a code radmfa can check.
const (
	MethodCHAP   = "chap"
	MethodMSCHAP = "mschap"
	MethodEAP    = "eap"
)

// Config holds the OTP rules. Zero values take the defaults.
type Config struct {
	TOTPWindow    int           // steps either side of the expected one (default 1)
	HOTPLookAhead int           // counters after the next expected one (default 10)
	ResyncWindow  int           // steps/counters searched by resync (default 120)
	LockAfter     int           // consecutive failures that lock a token (default 5)
	LockDuration  time.Duration // how long; negative: until an admin unlocks (default 15m)
	FailureBurst  int           // failed logins per user before rate limiting (default 10; negative: off)
	FailureEvery  time.Duration // one more failure allowed per (default 6s)
	HashWait      time.Duration // how long a login waits for a PIN-hash slot (default 200ms)
	// RequireUserVerification: a push approval must carry the device
	// owner's WebAuthn assertion (per client overridable).
	RequireUserVerification bool
	// ResubmitWindow is how long an accepted login answers the same login
	// sent again as a new request (default 10s; negative: off).
	ResubmitWindow time.Duration
	Issuer         string // otpauth issuer (default "radmfa")
}

// WithDefaults fills in zero fields.
func (c Config) WithDefaults() Config {
	if c.TOTPWindow == 0 {
		c.TOTPWindow = 1
	}
	if c.HOTPLookAhead == 0 {
		c.HOTPLookAhead = 10
	}
	if c.ResyncWindow == 0 {
		c.ResyncWindow = 120
	}
	if c.LockAfter == 0 {
		c.LockAfter = 5
	}
	if c.LockDuration == 0 {
		c.LockDuration = 15 * time.Minute
	}
	if c.FailureBurst == 0 {
		c.FailureBurst = 10
	}
	if c.FailureEvery == 0 {
		c.FailureEvery = 6 * time.Second
	}
	if c.ResubmitWindow == 0 {
		c.ResubmitWindow = 10 * time.Second
	}
	if c.HashWait == 0 {
		c.HashWait = 200 * time.Millisecond
	}
	if c.Issuer == "" {
		c.Issuer = "radmfa"
	}
	return c
}

// Request is one login attempt.
type Request struct {
	User     string
	Password string
	// Actor names the front end for the audit log ("radius:<client>", "cli:<user>").
	Actor            string
	Client           string
	NASIdentifier    string
	NASIPAddress     string
	CallingStationID string
	// State is the RADIUS State of a follow-up to a challenge.
	State []byte
	// NumberMatching is the client's push setting: "on", "off", "" (default).
	NumberMatching string
	// UserVerification is the client's override of
	// Config.RequireUserVerification: "on", "off", "" (default).
	UserVerification string
	// FirstFactor is the client's: "" (the token's PIN) or
	// FirstFactorDirectory (the user's directory password).
	FirstFactor string
	// Method, when set, is the method (MethodCHAP, ...) the request used
	// instead of a plain password: refused, and recorded.
	Method string
	// RequestKey names the RADIUS request for duplicate detection (RFC
	// 5080: source address and port, Identifier, Request Authenticator;
	// hashed to store.RequestKeySize bytes). An accept records it with
	// the token, so that a retransmission of the same request that reaches
	// another instance, or this one after a restart, gets the Accept again
	// instead of a replay's Reject.
	RequestKey []byte
	// NASPort tells the user's station apart, with CallingStationID, for
	// resubmissions (when the NAS sends no Calling-Station-Id).
	NASPort string
	// AnswerBy, when set, is when the NAS stops waiting for the answer
	// (its timeout times its tries, less a margin): a push still waiting
	// for the phone then answers with a challenge to continue, or, with
	// NoChallenges, a Reject that says the phone did not answer in time.
	AnswerBy time.Time
	// NoChallenges: the NAS cannot show an Access-Challenge (it takes one
	// for a refusal).
	NoChallenges bool
	// Diagnostic marks an administrator's check (`token check`): it is
	// decided and audited like any login, and an accepted code is used up,
	// but a refusal counts towards neither the token's lock nor the user's
	// rate limit, which it does not wait for either.
	Diagnostic bool
}

// Result is the decision with what the front end needs to answer.
type Result struct {
	Decision Decision
	// Reason is for the audit log and metrics only; never shown to the user.
	Reason string
	// ReplyMessage is safe to show the user.
	ReplyMessage string
	User         store.User
	Serial       string
	// State binds the follow-up of a Challenge to this login.
	State []byte
	// Detail is added to the audit row (what an admin can act on, never a
	// secret).
	Detail string
	// Wait, when set, holds the answer (a push waiting for the phone): the
	// front end calls it, without holding an evaluation slot, and answers
	// with what it returns.
	Wait func(ctx context.Context) Result
}

// Service decides logins.
type Service struct {
	store store.Store
	now   func() time.Time
	log   *slog.Logger
	cfg   Config
	// limit is the per-user rate limit of failed logins, kept in the
	// store (store.User.FailureTAT) and so shared by every instance; off
	// when its Burst is 0.
	limit  store.FailureLimit
	push   *push.Manager
	dir    PasswordChecker
	hashes *HashBudget
	// errs logs the store's failures of logins, a few lines at a time.
	errs *errLog
	// resub remembers recent logins for resubmissions; nil: off.
	resub *resubmits
	// resets are the token-reset challenges waiting for the next code.
	resets resets
	// dirs are the logins whose directory password was right, waiting
	// for the code.
	dirs dirStates
}

// Deps are what a Service is built from.
type Deps struct {
	Store  store.Store
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // slog.Default() when nil
	Config Config
	Push   *push.Manager // nil: push logins are refused (push_unavailable)
	// Directory checks directory passwords (clients with the directory
	// as first factor); nil: those logins are refused.
	Directory PasswordChecker
	// Hashes bounds the PIN hashes computed at once; nil: one per CPU.
	Hashes *HashBudget
}

// New makes a Service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	cfg := d.Config.WithDefaults()
	if d.Hashes == nil {
		d.Hashes = NewHashBudget(runtime.NumCPU())
	}
	s := &Service{store: d.Store, now: d.Now, log: d.Logger, cfg: cfg, push: d.Push, dir: d.Directory, hashes: d.Hashes,
		errs: &errLog{log: d.Logger, now: d.Now}}
	if cfg.ResubmitWindow > 0 {
		s.resub = newResubmits(cfg.ResubmitWindow)
	}
	if cfg.FailureBurst > 0 && cfg.FailureEvery >= time.Millisecond {
		s.limit = store.FailureLimit{Burst: cfg.FailureBurst, Every: cfg.FailureEvery}
	}
	return s
}

// maxConflictRetries bounds re-reads after a concurrent change to a token.
const maxConflictRetries = 3

// Authenticate decides one login and records it. This is the one place a
// login is decided: the state is read (from memory where the store keeps
// it), the password checked against it, and the outcome recorded against
// that state. A conflict (the state changed meanwhile) decides again on a
// fresh read, and nobody is refused on a read that may be stale.
func (s *Service) Authenticate(ctx context.Context, req Request) Result {
	now := s.now()
	switch {
	case req.User == "":
		return s.record(ctx, req, now, Result{Reason: ReasonNoUserName})
	case req.Method != "":
		// Not a guess at anyone's code: recorded, not counted.
		return s.record(ctx, req, now, Result{Reason: ReasonUnsupportedMethod})
	}
	if s.resub != nil {
		if k, ok := s.resub.loginKey(req); ok {
			return s.resubmittable(ctx, req, now, k)
		}
	}
	return s.authenticate(ctx, req, now)
}

// resubmittable decides a login that a resubmission can be told by (key
// k): the same login accepted within the window, or still being decided,
// answers it; otherwise it is decided and, if it is a code, remembered.
func (s *Service) resubmittable(ctx context.Context, req Request, now time.Time, k [32]byte) Result {
	isPush := len(req.Password) <= 1
	// A push login is remembered once approved (commitPushApproval);
	// while it is pending, a retry joins the push itself.
	found, mine := s.resub.begin(k, now, !isPush)
	if mine != nil {
		res := s.authenticate(ctx, req, now)
		s.resub.end(k, mine, s.now(), res)
		return res
	}
	if found == nil {
		return s.authenticate(ctx, req, now)
	}
	if isPush && !found.once {
		return s.authenticate(ctx, req, now)
	}
	orig, ok := found.wait(ctx)
	if !ok {
		return s.finish(ctx, req, s.now(), Result{Reason: ReasonInternal, Detail: "resubmitted while the first was decided; it took too long"})
	}
	if orig.Decision != Accept {
		// The same answer as the login it repeats, on a row of its own.
		res := Result{Reason: orig.Reason, User: orig.User, Serial: orig.Serial, ReplyMessage: orig.ReplyMessage,
			Detail: strings.TrimSpace(orig.Detail + " resubmitted")}
		return s.record(ctx, req, s.now(), res)
	}
	// Accepted a moment ago: the same answer unless the user has been
	// disabled since.
	if u, err := s.store.User(ctx, req.User); err != nil || u.Disabled {
		return s.authenticate(ctx, req, now)
	}
	res := Result{Decision: Accept, Reason: ReasonResubmitted, User: orig.User, Serial: orig.Serial,
		Detail: fmt.Sprintf("first-accepted=%s", found.at.UTC().Format("15:04:05.000"))}
	return s.record(ctx, req, s.now(), res)
}

// authenticate decides a login that is not a resubmission.
func (s *Service) authenticate(ctx context.Context, req Request, now time.Time) Result {
	if bytes.HasPrefix(req.State, []byte(resetPrefix)) {
		return s.resetFollowUp(ctx, req, now)
	}
	if req.FirstFactor == FirstFactorDirectory {
		return s.directoryLogin(ctx, req, now)
	}
	return s.otpLogin(ctx, req, now, false)
}

// otpLogin decides a login by its code (with the token's PIN in front
// unless skipPIN: the directory password was the first factor).
func (s *Service) otpLogin(ctx context.Context, req Request, now time.Time, skipPIN bool) Result {
	if len(req.State) > 0 {
		if res, done := s.followUp(ctx, req, now); done {
			return res
		}
	} else if len(req.Password) <= 1 {
		return s.pushLogin(ctx, req, now)
	}
	fresh := false
	a := attempt{requestKey: req.RequestKey, client: req.Client, skipPIN: skipPIN,
		// A token reset asks for the next code in a challenge: not for a
		// NAS that cannot show one, nor for an administrator's check.
		reset: !req.Diagnostic && !req.NoChallenges}
	for range maxConflictRetries + 1 {
		res, updates, cached, err := s.evaluate(ctx, req, now, fresh, &a)
		if err != nil {
			s.errs.Error("auth: evaluate", "user", req.User, "err", err)
			return s.finish(ctx, req, now, Result{Reason: ReasonInternal})
		}
		if (res.Decision != Accept || res.Reason == ReasonRetransmitted) && cached && res.Reason != ReasonOverloaded {
			// Nobody is refused, and no retransmission accepted (it has
			// no compare-and-set), on a read that may be stale.
			fresh = true
			continue
		}
		if s.limited() && !req.Diagnostic {
			// An accept on a read older than failures on another
			// instance that spent the user's budget conflicts.
			for i := range updates {
				if updates[i].Accepted {
					updates[i].MaxFailureTAT = s.limit.MaxTAT(now)
				}
			}
		}
		res, err = s.commit(ctx, req, now, res, updates)
		if errors.Is(err, store.ErrConflict) {
			fresh = true // the token moved on under us: look again
			continue
		}
		return res
	}
	return s.finish(ctx, req, now, Result{Reason: ReasonReplay})
}

// attempt is what one login's evaluations (a first one on cached state,
// then fresh ones) share: whether a PIN hash was computed, and its verdict,
// so that a login costs one hash however often it is evaluated.
type attempt struct {
	requestKey []byte // the request's RFC 5080 key, recorded with an accept
	client     string
	reset      bool // a code in the resync window may start a token reset
	skipPIN    bool // the directory password stood for the PIN
	hashed     bool
	pinHash    string // the hash checked, and the PIN typed
	pin        string
	pinOK      bool
}

// evaluate checks the password against the user's login state without
// writing anything; cached tells whether the state came from memory. A
// password longer than the shortest code costs exactly one PIN hash,
// whether the user exists, is disabled, or has a PIN: a dummy one when no
// real PIN was checked.
func (s *Service) evaluate(ctx context.Context, req Request, now time.Time, fresh bool, a *attempt) (res Result, updates []store.TokenAuth, cached bool, err error) {
	st, err := s.store.LoginState(ctx, req.User, fresh)
	switch {
	case errors.Is(err, store.ErrNotFound):
		res = Result{Reason: ReasonUnknownUser}
	case err != nil:
		return Result{}, nil, false, err
	case s.limited() && !req.Diagnostic && s.limit.Limited(st.User, now):
		// Refused before any hash: the user's failed logins are spent.
		return Result{Reason: ReasonRateLimited, User: st.User}, nil, st.Cached, nil
	default:
		res, updates = s.decide(ctx, st.User, st.Tokens, req.Password, now, a)
		cached = st.Cached
	}
	if res.Reason == ReasonOverloaded {
		return res, nil, cached, nil
	}
	if !a.hashed && len(req.Password) > minCodeLen {
		if err := s.dummyHash(ctx, req.Password); err != nil {
			return Result{Reason: ReasonOverloaded, User: res.User}, nil, cached, nil
		}
		a.hashed = true
	}
	return res, updates, cached, nil
}

// dummyHash costs what checking a PIN costs, under the same budget.
func (s *Service) dummyHash(ctx context.Context, password string) error {
	_, err := s.verifyPIN(ctx, dummyPINHash, password)
	return err
}

// verifyPIN checks pin against a PIN hash within the hash budget.
func (s *Service) verifyPIN(ctx context.Context, encoded, pin string) (bool, error) {
	if err := s.hashes.acquire(ctx, s.cfg.HashWait); err != nil {
		return false, err
	}
	defer s.hashes.Release()
	return VerifyPIN(encoded, pin)
}

// decide checks password against the user's tokens, writing nothing: an
// Accept with the accepted token's update, or a refusal with the failure
// updates to record (none for a replayed code, or when no PIN could be
// checked for want of a hash slot).
func (s *Service) decide(ctx context.Context, user store.User, tokens []store.Token, password string, now time.Time, a *attempt) (Result, []store.TokenAuth) {
	res := Result{User: user}
	if user.Disabled {
		res.Reason = ReasonUserDisabled
		return res, nil
	}
	// Indexes into tokens: copying the tokens (a few hundred bytes each)
	// was an eighth of what a login allocated.
	candidates := make([]int, 0, 4)
	locked, expired := 0, 0
	for i, t := range tokens {
		if !t.State.Usable() || otpType(t.Type) == "" || t.Seed == nil {
			continue
		}
		if !t.Valid(now) {
			expired++
			continue
		}
		if t.Locked(now) {
			locked++
			continue
		}
		candidates = append(candidates, i)
	}
	if len(candidates) == 0 {
		res.Reason = ReasonNoToken
		if locked > 0 {
			res.Reason = ReasonLocked
		} else if expired > 0 {
			res.Reason = ReasonExpired
		}
		return res, nil
	}

	reason := ReasonBadCode
	for _, i := range candidates {
		t := tokens[i]
		m := s.check(ctx, user, t, password, now, a)
		if m.reason == ReasonOverloaded {
			res.Reason = ReasonOverloaded
			return res, nil
		}
		if m.ok {
			res.Decision = Accept
			res.Reason = ReasonOK
			res.Serial = t.Serial
			return res, []store.TokenAuth{m.update}
		}
		if m.retransmitted {
			res.Decision = Accept
			res.Reason = ReasonRetransmitted
			res.Serial = t.Serial
			return res, nil
		}
		if m.reason == ReasonReplay || (m.reason == ReasonBadPIN && reason == ReasonBadCode) {
			reason = m.reason
		}
	}
	res.Reason = reason
	if reason == ReasonBadCode || reason == ReasonBadPIN {
		// What the helpdesk can act on, decided after the checks (which
		// cost the same whatever the password): a code no token can
		// have, or the right code for a time the window does not reach.
		i, at, resetOK := 0, int64(0), false
		if a.reset && !wrongLength(tokens, candidates, password) {
			i, at, resetOK = s.resetMatch(tokens, candidates, password, now, a)
		}
		var state []byte
		if resetOK {
			state, resetOK = s.resets.add(pendingReset{user: user.Name, client: a.client, serial: tokens[i].Serial, at: now, matched: at})
		}
		switch {
		case wrongLength(tokens, candidates, password):
			res.Reason = ReasonWrongLength
		case resetOK:
			// Counted as a failure below, as any refused code.
			res.Decision, res.Reason, res.Serial, res.State = Challenge, ReasonResetNextCode, tokens[i].Serial, state
			res.ReplyMessage = "Your token needs to be resynchronised. Wait for the next code and enter it."
		default:
			if skew, serial, ok := s.clockSkew(tokens, candidates, password, now, a); ok {
				res.Reason, res.Serial = ReasonClockSkew, serial
				res.Detail = fmt.Sprintf("clock-skew=%ds", skew)
			}
		}
	}
	if reason == ReasonReplay {
		// A used code is no guess at an unknown one (a double submit, a
		// second NAS): refuse it without counting towards the lock.
		return res, nil
	}
	lockUntil := store.LockForever
	if s.cfg.LockDuration > 0 {
		lockUntil = now.Add(s.cfg.LockDuration).Unix()
	}
	updates := make([]store.TokenAuth, len(candidates))
	for i, k := range candidates {
		updates[i] = store.TokenAuth{ID: tokens[k].ID, Failed: true, LockAfter: s.cfg.LockAfter, LockUntil: lockUntil}
	}
	return res, updates
}

// otpType is the OTP algorithm of a token type ("" when it yields none):
// a push token is a TOTP token too, for when push is not at hand.
func otpType(typ string) otp.Type {
	switch typ {
	case string(otp.TOTP), TypePush:
		return otp.TOTP
	case string(otp.HOTP):
		return otp.HOTP
	}
	return ""
}

type match struct {
	ok bool
	// retransmitted: the code was accepted for this very request.
	retransmitted bool
	reason        string
	update        store.TokenAuth
}

// retransmitWindow is how long after an accept a retransmission of its
// request is answered with an Accept again: longer than NASes retry.
const retransmitWindow = time.Minute

// check tests password against one token. For a token with a PIN, the PIN
// is hashed whenever one was typed (a password longer than the code),
// whatever the code, so a wrong PIN and a wrong code take the same time
// (once per login: the attempt keeps the verdict for a re-evaluation); a
// password that is only a code is a wrong PIN at once (evaluate then
// hashes a dummy, as for everyone, when it is longer than the shortest
// code).
func (s *Service) check(ctx context.Context, u store.User, t store.Token, password string, now time.Time, a *attempt) match {
	code := password
	pinOK := true
	if t.HasPIN() && !a.skipPIN {
		pinOK = false
		if len(password) > t.Digits {
			pin := password[:len(password)-t.Digits]
			code = password[len(password)-t.Digits:]
			if a.hashed && a.pinHash == t.PINHash && a.pin == pin {
				pinOK = a.pinOK
			} else {
				ok, err := s.verifyPIN(ctx, t.PINHash, pin)
				if errors.Is(err, errHashBusy) {
					return match{reason: ReasonOverloaded}
				}
				if err != nil {
					s.log.Error("auth: token PIN hash unreadable", "serial", t.Serial, "err", err)
				}
				pinOK = ok
				a.hashed, a.pinHash, a.pin, a.pinOK = true, t.PINHash, pin, ok
			}
		}
	}
	p := otp.Params{Type: otpType(t.Type), Algorithm: otp.Algorithm(t.Algorithm), Digits: t.Digits, Period: t.Period}
	up := store.TokenAuth{ID: t.ID, UserID: u.ID, Accepted: true, Activate: t.State == store.StateAssigned,
		Version: t.Version, Counter: t.Counter, LastStep: t.LastStep, Drift: t.Drift, RequestKey: a.requestKey}
	var codeOK bool
	switch p.Type {
	case otp.HOTP:
		var ctr uint64
		if ctr, codeOK = otp.VerifyHOTP(t.Seed, p, code, t.Counter, s.cfg.HOTPLookAhead); codeOK {
			up.Counter = ctr + 1
		}
	case otp.TOTP:
		var step int64
		if step, codeOK = otp.VerifyTOTP(t.Seed, p, code, now.Unix(), t.Drift, t.LastStep, s.cfg.TOTPWindow); codeOK {
			up.LastStep = step
			up.Drift = step - otp.Step(now.Unix(), p.Period)
		}
	}
	switch {
	case codeOK && pinOK:
		return match{ok: true, update: up}
	case !pinOK:
		return match{reason: ReasonBadPIN}
	case s.replayed(t, p, code, now):
		if len(a.requestKey) > 0 && bytes.Equal(a.requestKey, t.LastRequest) && now.Sub(t.LastUsed) <= retransmitWindow {
			return match{retransmitted: true}
		}
		return match{reason: ReasonReplay}
	}
	return match{reason: ReasonBadCode}
}

// replayed tells whether a refused code is one of the replayBack codes
// before the token's last accepted one: used, or passed over, never a
// guess at a fresh code.
func (s *Service) replayed(t store.Token, p otp.Params, code string, now time.Time) bool {
	switch p.Type {
	case otp.HOTP:
		if t.Counter == 0 {
			return false
		}
		back := min(uint64(replayBack), t.Counter)
		_, ok := otp.VerifyHOTP(t.Seed, p, code, t.Counter-back, int(back)-1)
		return ok
	case otp.TOTP:
		if t.LastStep == 0 {
			return false
		}
		// Steps LastStep-replayBack+1 .. LastStep, around the token's
		// drift as VerifyTOTP takes it: the window's centre is the step
		// LastStep-replayBack/2 and it reaches replayBack/2 either side.
		half := int64(replayBack / 2)
		at := now.Unix() + (t.LastStep-half-otp.Step(now.Unix(), p.Period)-t.Drift)*int64(p.Period)
		_, ok := otp.VerifyTOTP(t.Seed, p, code, at, t.Drift, t.LastStep-2*half-1, int(half))
		return ok
	}
	return false
}

// commit records the outcome (token changes and audit row) and returns the
// result; ErrConflict means the caller should evaluate again.
func (s *Service) commit(ctx context.Context, req Request, now time.Time, res Result, updates []store.TokenAuth) (Result, error) {
	if req.Diagnostic && res.Decision != Accept {
		updates = nil // a check's refusal fails nothing
	}
	err := s.store.CommitAuth(ctx, store.AuthCommit{At: now, Tokens: updates, Audit: s.auditEvent(req, res), Charge: s.charge(req, res)})
	if errors.Is(err, store.ErrConflict) {
		return res, err
	}
	if err != nil {
		s.errs.Error("auth: commit", "user", req.User, "err", err)
		// An accept that was not recorded must not be granted.
		return Result{Decision: Reject, Reason: ReasonInternal, User: res.User}, nil
	}
	return res, nil
}

// limited reports whether the per-user rate limit of failures is on.
func (s *Service) limited() bool { return s.limit.Burst > 0 }

// charge is what a refusal that could be a guess spends of the user's
// failed logins, recorded with the refusal: not a replayed or old code,
// not a refusal for want of a hash slot, and not a name that does not
// exist (there is nobody to charge: invented names take no state).
func (s *Service) charge(req Request, res Result) *store.FailureCharge {
	switch {
	case !s.limited(), req.Diagnostic, res.Decision == Accept, res.User.ID == 0,
		res.Reason == ReasonReplay, res.Reason == ReasonOverloaded, res.Reason == ReasonUnknownUser:
		return nil
	}
	return &store.FailureCharge{UserID: res.User.ID, Limit: s.limit}
}

// finish records a result that changes no token.
func (s *Service) finish(ctx context.Context, req Request, now time.Time, res Result) Result {
	if err := s.store.CommitAuth(ctx, store.AuthCommit{At: now, Audit: s.auditEvent(req, res), Charge: s.charge(req, res)}); err != nil {
		s.errs.Error("auth: audit", "user", req.User, "err", err)
	}
	return res
}

func (s *Service) auditEvent(req Request, res Result) store.AuditEvent {
	user := req.User
	if res.User.Name != "" {
		user = res.User.Name
	}
	detail := ""
	if req.CallingStationID != "" || req.NASIdentifier != "" || req.NASIPAddress != "" {
		detail = fmt.Sprintf("calling-station=%q nas-id=%q nas-ip=%q", req.CallingStationID, req.NASIdentifier, req.NASIPAddress)
	}
	if req.Method != "" {
		detail = strings.TrimSpace(fmt.Sprintf("method=%s %s", req.Method, detail))
	}
	if res.Detail != "" {
		detail = strings.TrimSpace(res.Detail + " " + detail)
	}
	return store.AuditEvent{Actor: req.Actor, Action: "auth", User: user, Serial: res.Serial, Client: req.Client,
		Result: res.Decision.String() + ":" + res.Reason, Detail: detail}
}

// wrongLength reports whether password can be a code of none of the
// candidate tokens: as long as its digits without a PIN, at least as long
// with one (the PIN in front; a code alone is a missing PIN, bad_pin).
func wrongLength(tokens []store.Token, candidates []int, password string) bool {
	for _, i := range candidates {
		t := tokens[i]
		if (!t.HasPIN() && len(password) == t.Digits) || (t.HasPIN() && len(password) >= t.Digits) {
			return false
		}
	}
	return true
}

// skewSearch is how far, in steps, a refused TOTP code is looked for
// beyond the window to tell a phone with a wrong clock from a wrong code:
// ten minutes of 30 s steps.
const skewSearch = 20

// clockSkew looks for the code of a refused password among the steps
// within skewSearch of now, outside the window, of the candidate TOTP
// tokens whose PIN (if any) was right (the attempt's verdict: no hash is
// computed here), and returns how far off the phone's clock is, in
// seconds.
func (s *Service) clockSkew(tokens []store.Token, candidates []int, password string, now time.Time, a *attempt) (int64, string, bool) {
	for _, i := range candidates {
		t := tokens[i]
		code := password
		if t.HasPIN() {
			if len(password) <= t.Digits || !a.hashed || a.pinHash != t.PINHash || !a.pinOK {
				continue // the PIN was wrong, or not checked: nothing to tell
			}
			code = password[len(password)-t.Digits:]
		}
		if otpType(t.Type) != otp.TOTP || len(code) != t.Digits {
			continue
		}
		p := otp.Params{Type: otp.TOTP, Algorithm: otp.Algorithm(t.Algorithm), Digits: t.Digits, Period: t.Period}
		base := otp.Step(now.Unix(), p.Period) + t.Drift
		for off := int64(s.cfg.TOTPWindow) + 1; off <= skewSearch; off++ {
			for _, step := range []int64{base + off, base - off} {
				if step <= t.LastStep {
					continue // a used step: that is a replay, not a clock
				}
				if subtle.ConstantTimeCompare([]byte(otp.Code(t.Seed, uint64(step), p)), []byte(code)) == 1 {
					return (step - otp.Step(now.Unix(), p.Period)) * int64(p.Period), t.Serial, true
				}
			}
		}
	}
	return 0, "", false
}
