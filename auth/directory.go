package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/radmfa/radmfa/store"
)

// FirstFactorDirectory is a client whose users type their directory
// password before the code (Request.FirstFactor).
const FirstFactorDirectory = "directory"

// Reasons of directory-password logins.
const (
	ReasonBadPassword     = "bad_password"          // the directory refused the password
	ReasonDirectoryDown   = "directory_unavailable" // no URL of the directory answered
	ReasonNotDirectory    = "not_a_directory_user"  // the user is not from a directory
	ReasonPasswordCodeNow = "password_ok_code_next" // the challenge asking for the code
)

// ErrWrongPassword is what a PasswordChecker returns for a password the
// directory refuses; any other error means it could not be asked.
var ErrWrongPassword = errors.New("auth: wrong directory password")

// PasswordChecker checks a user's directory password (an LDAP bind).
type PasswordChecker interface {
	CheckPassword(ctx context.Context, u store.User, password string) error
}

// dirPrefix marks the State of the challenge that asks for the code
// after a directory password.
const dirPrefix = "radmfa-dir:"

// dirPending is a user whose directory password was right, waiting for
// the code (or an empty answer, for a push).
type dirPending struct {
	user, client string
	at           time.Time
}

// dirStates holds them by State, at most maxResets, for resetLifetime.
type dirStates struct {
	mu sync.Mutex
	m  map[string]dirPending
}

func (d *dirStates) add(p dirPending) ([]byte, bool) {
	var b [16]byte
	rand.Read(b[:])
	state := dirPrefix + hex.EncodeToString(b[:])
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]dirPending{}
	}
	if len(d.m) >= maxResets {
		for k, v := range d.m {
			if p.at.Sub(v.at) > resetLifetime {
				delete(d.m, k)
			}
		}
		if len(d.m) >= maxResets {
			return nil, false
		}
	}
	d.m[state] = p
	return []byte(state), true
}

func (d *dirStates) take(state []byte, now time.Time) (dirPending, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.m[string(state)]
	delete(d.m, string(state))
	return p, ok && now.Sub(p.at) <= resetLifetime
}

// directoryLogin decides a login whose first factor is the directory
// password: "password" + code in one go; the password alone, answered
// with a challenge for the code (an empty answer: a push); or
// "password,push". A refused password counts as a failure like a wrong
// code; it is never kept or logged.
func (s *Service) directoryLogin(ctx context.Context, req Request, now time.Time) Result {
	if len(req.State) > 0 {
		p, ok := s.dirs.take(req.State, now)
		if !ok || !strings.EqualFold(p.user, req.User) || p.client != req.Client {
			// Not ours: a push's or a reset's challenge goes its own way.
			if !strings.HasPrefix(string(req.State), dirPrefix) {
				return s.otpLogin(ctx, req, now, true)
			}
			return s.finish(ctx, req, now, Result{Reason: ReasonUnknownState})
		}
		if len(req.Password) <= 1 {
			req.State = nil
			return s.pushLogin(ctx, req, now)
		}
		req.State = nil
		return s.otpLogin(ctx, req, now, true)
	}
	st, err := s.store.LoginState(ctx, req.User, false)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s.finish(ctx, req, now, Result{Reason: ReasonUnknownUser})
	case err != nil:
		s.errs.Error("auth: directory login", "user", req.User, "err", err)
		return s.finish(ctx, req, now, Result{Reason: ReasonInternal})
	}
	u := st.User
	switch {
	case u.Disabled:
		return s.finish(ctx, req, now, Result{Reason: ReasonUserDisabled, User: u})
	case u.Source == "":
		return s.finish(ctx, req, now, Result{Reason: ReasonNotDirectory, User: u})
	case s.dir == nil:
		return s.finish(ctx, req, now, Result{Reason: ReasonDirectoryDown, User: u})
	case s.limited() && !req.Diagnostic && s.limit.Limited(u, now):
		return s.finish(ctx, req, now, Result{Reason: ReasonRateLimited, User: u})
	}
	password, wantPush := strings.CutSuffix(req.Password, ",push")
	if !wantPush {
		// The password and the code in one: the code's length is one of
		// the user's tokens' digits.
		var digits []int
		for _, t := range st.Tokens {
			if t.State.Usable() && t.Seed != nil && !slices.Contains(digits, t.Digits) {
				digits = append(digits, t.Digits)
			}
		}
		slices.Sort(digits)
		slices.Reverse(digits)
		for _, d := range digits {
			if len(password) <= d || !allDigits(password[len(password)-d:]) {
				continue
			}
			switch err := s.dir.CheckPassword(ctx, u, password[:len(password)-d]); {
			case err == nil:
				code := req
				code.Password = password[len(password)-d:]
				return s.otpLogin(ctx, code, now, true)
			case !errors.Is(err, ErrWrongPassword):
				s.errs.Error("auth: directory", "user", u.Name, "err", err)
				return s.finish(ctx, req, now, Result{Reason: ReasonDirectoryDown, User: u})
			}
		}
	}
	// The password alone.
	switch err := s.dir.CheckPassword(ctx, u, password); {
	case errors.Is(err, ErrWrongPassword):
		return s.finish(ctx, req, now, Result{Reason: ReasonBadPassword, User: u})
	case err != nil:
		s.errs.Error("auth: directory", "user", u.Name, "err", err)
		return s.finish(ctx, req, now, Result{Reason: ReasonDirectoryDown, User: u})
	}
	if wantPush || req.NoChallenges {
		push := req
		push.Password = ""
		return s.pushLogin(ctx, push, now)
	}
	state, ok := s.dirs.add(dirPending{user: u.Name, client: req.Client, at: now})
	if !ok {
		return s.finish(ctx, req, now, Result{Reason: ReasonOverloaded, User: u})
	}
	return s.record(ctx, req, now, Result{Decision: Challenge, Reason: ReasonPasswordCodeNow, User: u, State: state,
		ReplyMessage: "Enter the code from your token, or leave it empty to approve on your phone."})
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
