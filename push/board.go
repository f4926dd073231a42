package push

import (
	"context"
	"errors"
	"time"

	"github.com/radmfa/radmfa/store"
)

// ErrUnavailable: the shared board of push requests could not be reached;
// the login is refused rather than held on a push no other instance knows.
var ErrUnavailable = errors.New("push: the shared push requests are unavailable")

// Board shares push requests between instances on one database
// (store/postgres): the instance that holds the RADIUS request waits, the
// phone's answer may reach any instance's device API, and a NAS that
// fails over to another instance joins the push pending there. A Manager
// without a Board holds its requests alone.
type Board interface {
	// Post records p as its user's pending push, unless one is pending
	// already (and unexpired at now): then it writes nothing and returns
	// that one.
	Post(ctx context.Context, p store.PushRequest, now time.Time) (pending *store.PushRequest, err error)
	// Get returns the request with id, whatever its outcome
	// (store.ErrNotFound when there is none).
	Get(ctx context.Context, id string) (store.PushRequest, error)
	// ByState returns the request whose challenge State is state.
	ByState(ctx context.Context, state []byte) (store.PushRequest, error)
	// Pending lists a device's pending requests that have not expired at now.
	Pending(ctx context.Context, serial string, now time.Time) ([]store.PushRequest, error)
	// End moves request id from pending to outcome and tells every
	// instance (Listen), in one transaction. A request that has ended is
	// not changed: End returns it as it is, with ended false.
	End(ctx context.Context, id, outcome string, now time.Time) (p store.PushRequest, ended bool, err error)
	// Outcomes returns the outcomes of those of ids that have ended.
	Outcomes(ctx context.Context, ids []string) (map[string]string, error)
	// Listen calls ended for every request that ends, on any instance,
	// until ctx ends; it reconnects after a failure and calls up each time
	// it listens again (notifications sent meanwhile are lost: the caller
	// re-checks then).
	Listen(ctx context.Context, ended func(id, outcome string), up func())
	// Sweep deletes the requests that expired before before.
	Sweep(ctx context.Context, before time.Time) error
}

// parseOutcome is the Outcome named s (Pending for an unknown name).
func parseOutcome(s string) Outcome {
	for i, n := range outcomeNames {
		if n == s {
			return Outcome(i)
		}
	}
	return Pending
}

// record is r as the board keeps it.
func (r *Request) record() store.PushRequest {
	return store.PushRequest{ID: r.ID, Serial: r.Serial, User: r.Login.User, Client: r.Login.Client,
		NASIdentifier: r.Login.NASIdentifier, NASIPAddress: r.Login.NASIPAddress, CallingStation: r.Login.CallingStation,
		Location: r.Login.Location, RequireUV: r.Login.RequireUV, Number: r.Number, Choices: r.Choices, State: r.State, Created: r.Created, Expires: r.Expires, Outcome: Pending.String()}
}

// fromRecord is a request another instance started, as this one holds it.
func fromRecord(p store.PushRequest) *Request {
	return &Request{ID: p.ID, Serial: p.Serial, Login: Login{User: p.User, Client: p.Client, NASIdentifier: p.NASIdentifier,
		NASIPAddress: p.NASIPAddress, CallingStation: p.CallingStation, Location: p.Location, RequireUV: p.RequireUV}, Created: p.Created, Expires: p.Expires,
		Number: p.Number, Choices: p.Choices, State: p.State, done: make(chan struct{}), remote: true}
}

// watch follows the board until ctx ends: requests held here end when
// the board says they did (a notification), and a re-check every
// Config.Recheck (and after every reconnect) covers notifications lost.
func (m *Manager) watch(ctx context.Context) {
	m.wg.Go(func() {
		m.board.Listen(ctx, func(id, outcome string) {
			m.mu.Lock()
			r := m.byID[id]
			m.mu.Unlock()
			if r != nil {
				m.settle(r, parseOutcome(outcome), false)
			}
		}, m.recheck)
	})
	m.wg.Go(func() {
		t := time.NewTicker(m.cfg.Recheck)
		defer t.Stop()
		lastSweep := m.now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			m.recheck()
			if now := m.now(); now.Sub(lastSweep) >= time.Minute {
				lastSweep = now
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := m.board.Sweep(sctx, now.Add(-m.cfg.Linger)); err != nil {
					m.log.Warn("push: sweeping ended requests", "err", err)
				}
				cancel()
			}
		}
	})
}

// recheck asks the board how the requests held here that are still
// pending have ended.
func (m *Manager) recheck() {
	m.mu.Lock()
	ids := make([]string, 0, m.pending)
	for id, r := range m.byID {
		if r.Outcome() == Pending {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ended, err := m.board.Outcomes(ctx, ids)
	if err != nil {
		m.log.Warn("push: re-checking pending requests", "err", err)
		return
	}
	for id, o := range ended {
		m.mu.Lock()
		r := m.byID[id]
		m.mu.Unlock()
		if r != nil {
			m.settle(r, parseOutcome(o), false)
		}
	}
}
