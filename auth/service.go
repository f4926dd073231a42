// Package auth makes the login decision: given a user, a password and where
// the request came from, accept, reject or challenge. It applies the OTP
// rules (PIN, window, replay, lockout, rate limit) with the store, records
// an audit row for every outcome, and knows nothing of RADIUS.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Reasons recorded in the audit log (never shown to the user).
const (
	ReasonOK              = "ok"
	ReasonUnknownUser     = "unknown_user"
	ReasonUserDisabled    = "user_disabled"
	ReasonNoToken         = "no_usable_token"
	ReasonLocked          = "token_locked"
	ReasonExpired         = "token_expired"
	ReasonBadCode         = "bad_code"
	ReasonBadPIN          = "bad_pin"
	ReasonReplay          = "replayed_code"
	ReasonRateLimited     = "rate_limited"
	ReasonPushUnavailable = "push_unavailable"
	ReasonInternal        = "internal_error"

	ReasonNoPushDevice     = "no_push_device"
	ReasonPushLocked       = "push_locked"
	ReasonPushPending      = "push_pending"
	ReasonPushRateLimited  = "push_rate_limited"
	ReasonPushOverloaded   = "push_overloaded"
	ReasonPushSent         = "push_sent" // the number-matching challenge
	ReasonPushApproved     = "push_approved"
	ReasonPushDenied       = "push_denied"
	ReasonPushFraud        = "push_fraud"
	ReasonPushWrongNumber  = "push_wrong_number"
	ReasonPushTimeout      = "push_timeout"
	ReasonPushTokenChanged = "push_token_changed"
	ReasonUnknownState     = "unknown_state"

	ReasonNoUserName        = "no_user_name"
	ReasonUnsupportedMethod = "unsupported_method"
)

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
	FailureBurst  int           // failed logins per user before rate limiting (default 10)
	FailureEvery  time.Duration // one more failure allowed per (default 6s)
	Issuer        string        // otpauth issuer (default "radmfa")
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
	// Method, when set, is the method (MethodCHAP, ...) the request used
	// instead of a plain password: refused, and recorded.
	Method string
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
	// Wait, when set, holds the answer (a push waiting for the phone): the
	// front end calls it, without holding an evaluation slot, and answers
	// with what it returns.
	Wait func(ctx context.Context) Result
}

// Service decides logins.
type Service struct {
	store   store.Store
	now     func() time.Time
	log     *slog.Logger
	cfg     Config
	limiter *failureLimiter
	push    *push.Manager
}

// Deps are what a Service is built from.
type Deps struct {
	Store  store.Store
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // slog.Default() when nil
	Config Config
	Push   *push.Manager // nil: push logins are refused (push_unavailable)
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
	return &Service{store: d.Store, now: d.Now, log: d.Logger, cfg: cfg,
		limiter: newFailureLimiter(cfg.FailureBurst, cfg.FailureEvery), push: d.Push}
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
	if !s.limiter.Allow(req.User, now) {
		return s.finish(ctx, req, now, Result{Reason: ReasonRateLimited})
	}
	if len(req.State) > 0 {
		if res, done := s.followUp(ctx, req, now); done {
			return res
		}
	} else if len(req.Password) <= 1 {
		return s.pushLogin(ctx, req, now)
	}
	fresh := false
	for range maxConflictRetries + 1 {
		res, updates, cached, err := s.evaluate(ctx, req, now, fresh)
		if err != nil {
			s.log.Error("auth: evaluate", "user", req.User, "err", err)
			return s.finish(ctx, req, now, Result{Reason: ReasonInternal})
		}
		if res.Decision != Accept && cached {
			fresh = true
			continue
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

// evaluate checks the password against the user's login state without
// writing anything; cached tells whether the state came from memory.
func (s *Service) evaluate(ctx context.Context, req Request, now time.Time, fresh bool) (res Result, updates []store.TokenAuth, cached bool, err error) {
	st, err := s.store.LoginState(ctx, req.User, fresh)
	if errors.Is(err, store.ErrNotFound) {
		// Cost the same as checking a PIN, so timing does not tell that
		// the user does not exist.
		if len(req.Password) > 8 {
			_, _ = VerifyPIN(dummyPINHash, req.Password)
		}
		return Result{Reason: ReasonUnknownUser}, nil, false, nil
	}
	if err != nil {
		return Result{}, nil, false, err
	}
	res, updates = s.decide(st.User, st.Tokens, req.Password, now)
	return res, updates, st.Cached, nil
}

// decide checks password against the user's tokens, writing nothing: an
// Accept with the accepted token's update, or a refusal with the failure
// updates to record (none for a replayed code).
func (s *Service) decide(user store.User, tokens []store.Token, password string, now time.Time) (Result, []store.TokenAuth) {
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
		m := s.check(user, t, password, now)
		if m.ok {
			res.Decision = Accept
			res.Reason = ReasonOK
			res.Serial = t.Serial
			return res, []store.TokenAuth{m.update}
		}
		if m.reason == ReasonReplay || (m.reason == ReasonBadPIN && reason == ReasonBadCode) {
			reason = m.reason
		}
	}
	res.Reason = reason
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
	ok     bool
	reason string
	update store.TokenAuth
}

// check tests password against one token. The PIN hash is always computed
// for a token that has a PIN, whatever the code, so a wrong PIN and a wrong
// code take the same time.
func (s *Service) check(u store.User, t store.Token, password string, now time.Time) match {
	code := password
	pinOK := true
	if t.HasPIN() {
		pin := ""
		if len(password) > t.Digits {
			pin, code = password[:len(password)-t.Digits], password[len(password)-t.Digits:]
		}
		ok, err := VerifyPIN(t.PINHash, pin)
		if err != nil {
			s.log.Error("auth: token PIN hash unreadable", "serial", t.Serial, "err", err)
		}
		pinOK = ok && pin != ""
	}
	p := otp.Params{Type: otpType(t.Type), Algorithm: otp.Algorithm(t.Algorithm), Digits: t.Digits, Period: t.Period}
	up := store.TokenAuth{ID: t.ID, UserID: u.ID, Accepted: true, Activate: t.State == store.StateAssigned,
		Version: t.Version, Counter: t.Counter, LastStep: t.LastStep, Drift: t.Drift}
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
		return match{reason: ReasonReplay}
	}
	return match{reason: ReasonBadCode}
}

// replayed tells the audit log whether a refused code is one already used.
func (s *Service) replayed(t store.Token, p otp.Params, code string, now time.Time) bool {
	switch p.Type {
	case otp.HOTP:
		if t.Counter == 0 {
			return false
		}
		back := min(uint64(s.cfg.HOTPLookAhead)+1, t.Counter)
		_, ok := otp.VerifyHOTP(t.Seed, p, code, t.Counter-back, int(back)-1)
		return ok
	case otp.TOTP:
		if t.LastStep == 0 {
			return false
		}
		_, ok := otp.VerifyTOTP(t.Seed, p, code, now.Unix(), t.Drift, t.LastStep-int64(2*s.cfg.TOTPWindow)-1, s.cfg.TOTPWindow)
		return ok
	}
	return false
}

// commit records the outcome (token changes and audit row) and returns the
// result; ErrConflict means the caller should evaluate again.
func (s *Service) commit(ctx context.Context, req Request, now time.Time, res Result, updates []store.TokenAuth) (Result, error) {
	err := s.store.CommitAuth(ctx, store.AuthCommit{At: now, Tokens: updates, Audit: s.auditEvent(req, res)})
	if errors.Is(err, store.ErrConflict) {
		return res, err
	}
	if err != nil {
		s.log.Error("auth: commit", "user", req.User, "err", err)
		// An accept that was not recorded must not be granted.
		return Result{Decision: Reject, Reason: ReasonInternal, User: res.User}, nil
	}
	if res.Decision != Accept {
		s.limiter.Fail(req.User, now)
	}
	return res, nil
}

// finish records a result that changes no token.
func (s *Service) finish(ctx context.Context, req Request, now time.Time, res Result) Result {
	if err := s.store.CommitAuth(ctx, store.AuthCommit{At: now, Audit: s.auditEvent(req, res)}); err != nil {
		s.log.Error("auth: audit", "user", req.User, "err", err)
	}
	if res.Decision != Accept {
		s.limiter.Fail(req.User, now)
	}
	return res
}

func (s *Service) auditEvent(req Request, res Result) store.AuditEvent {
	user := req.User
	if res.User.Name != "" {
		user = res.User.Name
	}
	detail := ""
	if req.CallingStationID != "" || req.NASIdentifier != "" {
		detail = fmt.Sprintf("calling-station=%q nas-id=%q nas-ip=%q", req.CallingStationID, req.NASIdentifier, req.NASIPAddress)
	}
	if req.Method != "" {
		detail = strings.TrimSpace(fmt.Sprintf("method=%s %s", req.Method, detail))
	}
	return store.AuditEvent{Actor: req.Actor, Action: "auth", User: user, Serial: res.Serial, Client: req.Client,
		Result: res.Decision.String() + ":" + res.Reason, Detail: detail}
}
