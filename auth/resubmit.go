package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// maxResubmits bounds the logins remembered for resubmission: beyond it a
// login is decided without being remembered (a resubmission of it is then
// a replay, as without the feature), so a flood grows no memory.
const maxResubmits = 1 << 16

// resubmits remembers the logins accepted (or being decided) within the
// resubmit window, so that a NAS that sends the same login again as a new
// Access-Request (OpenVPN's RADIUS plugin, a user pressing Enter twice)
// gets the same answer instead of a replay's Reject. A login is the same
// when the client, the user, the station (Calling-Station-Id, else
// NAS-Port) and the password are; a request without a station is never
// taken for another.
//
// Passwords are kept only as an HMAC under a key of this process.
type resubmits struct {
	window time.Duration
	key    [32]byte

	mu    sync.Mutex
	m     map[[32]byte]*resubmit
	order []resubmitAge // by at, oldest first
}

type resubmitAge struct {
	k  [32]byte
	at time.Time
}

// resubmit is one remembered login: done closes when it is decided.
type resubmit struct {
	at   time.Time
	done chan struct{}
	res  Result // once done
	// once: it answers one resubmission only (a push approved after its
	// NAS gave up: the retry it missed).
	once bool
}

func newResubmits(window time.Duration) *resubmits {
	r := &resubmits{window: window, m: map[[32]byte]*resubmit{}}
	rand.Read(r.key[:])
	return r
}

// loginKey names the login req makes; ok is false for a request that has
// no station to tell it by.
func (r *resubmits) loginKey(req Request) (k [32]byte, ok bool) {
	station := req.CallingStationID
	if station == "" && req.NASPort != "" {
		station = "port:" + req.NASPort
	}
	if station == "" || req.Client == "" || req.Diagnostic || len(req.State) > 0 {
		return k, false
	}
	h := hmac.New(sha256.New, r.key[:])
	for _, f := range []string{req.Client, strings.ToLower(req.User), station, req.Password} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	copy(k[:], h.Sum(nil))
	return k, true
}

// begin looks req's login up at now. found is the remembered login, nil
// when there is none; then, unless remember is false, req's own login is
// remembered as being decided (mine), and end must be called with its
// result.
func (r *resubmits) begin(k [32]byte, now time.Time, remember bool) (found, mine *resubmit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	if e := r.m[k]; e != nil {
		if e.once {
			delete(r.m, k)
		}
		return e, nil
	}
	if !remember || len(r.m) >= maxResubmits {
		return nil, nil
	}
	e := &resubmit{at: now, done: make(chan struct{})}
	r.m[k] = e
	r.order = append(r.order, resubmitAge{k, now})
	return nil, e
}

// end records how the login e ended at now; only an accept stays
// remembered, for the window from now.
func (r *resubmits) end(k [32]byte, e *resubmit, now time.Time, res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.res = res
	e.res.Wait = nil
	switch {
	case r.m[k] != e:
	case res.Decision != Accept:
		delete(r.m, k)
	default:
		e.at = now
		r.order = append(r.order, resubmitAge{k, now})
	}
	close(e.done)
}

// once remembers, for one resubmission, a login whose answer the NAS did
// not get (a push approved after its request was answered) while it is
// being recorded; end records how it ended.
func (r *resubmits) once(k [32]byte, now time.Time) *resubmit {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	if len(r.m) >= maxResubmits {
		return nil
	}
	e := &resubmit{at: now, done: make(chan struct{}), once: true}
	r.m[k] = e
	r.order = append(r.order, resubmitAge{k, now})
	return e
}

// expire forgets the logins older than the window; r.mu is held.
func (r *resubmits) expire(now time.Time) {
	n := 0
	for n < len(r.order) && now.Sub(r.order[n].at) > r.window {
		if e := r.m[r.order[n].k]; e != nil && e.at.Equal(r.order[n].at) {
			select {
			case <-e.done:
				delete(r.m, r.order[n].k)
			default:
				// Still being decided: end gives it a place of its own.
			}
		}
		n++
	}
	if n > 0 {
		r.order = append(r.order[:0], r.order[n:]...)
	}
}

// wait waits for e to be decided, or ctx to end.
func (e *resubmit) wait(ctx context.Context) (Result, bool) {
	select {
	case <-e.done:
		return e.res, true
	case <-ctx.Done():
		return Result{}, false
	}
}
