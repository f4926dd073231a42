package push

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/radmfa/radmfa/store"
)

// Errors Start returns: the login gets a clean Reject.
var (
	ErrPending     = errors.New("push: another push is pending for this user")
	ErrRateLimited = errors.New("push: too many push requests for this user")
	ErrOverloaded  = errors.New("push: too many pending push requests")
	// ErrJoinLimit: the pending push already has MaxJoined requests
	// waiting beside the one that started it.
	ErrJoinLimit = errors.New("push: too many requests waiting for this push")
)

// Errors Answer returns for answers that are refused.
var (
	ErrUnknownRequest = errors.New("push: no such request")
	ErrForeign        = errors.New("push: request belongs to another device")
	ErrAnswered       = errors.New("push: request already answered")
	ErrLate           = errors.New("push: request expired")
	ErrBadDecision    = errors.New("push: unknown decision")
)

// Outcome is how a push request ended.
type Outcome int

// Outcomes.
const (
	Pending     Outcome = iota
	Approved            // the phone approved (with the right number)
	Denied              // the phone denied
	Fraud               // denied and reported as fraud
	WrongNumber         // number matching: the phone picked a wrong number
	Expired             // no answer in time
	Canceled            // the login went another way (a typed OTP)
)

var outcomeNames = [...]string{"pending", "approved", "denied", "fraud", "wrong_number", "expired", "canceled"}

func (o Outcome) String() string { return outcomeNames[o] }

// Config tunes push logins. Zero values take the defaults.
type Config struct {
	Timeout        time.Duration // how long a push waits for the phone (default 25s)
	NumberMatching bool          // default for clients that do not say
	FraudLock      time.Duration // push refused for a user after a fraud report (default 1h)
	TriggerBurst   int           // push triggers per user at once (default 3)
	TriggerEvery   time.Duration // then one more per (default 20s)
	MaxPending     int           // requests held for pushes at once, all users: pending pushes and the requests joined to them (default 20000)
	MaxJoined      int           // requests that may join one pending push (default 4)
	// Keep answered requests this long after expiry so late and repeated
	// answers are told apart from unknown ones (default 2m).
	Linger time.Duration
	// Recheck is how often, with a Board, the requests held here are
	// checked against it, in case a notification was lost (default 1s).
	Recheck time.Duration
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 25 * time.Second
	}
	if c.FraudLock <= 0 {
		c.FraudLock = time.Hour
	}
	if c.TriggerBurst <= 0 {
		c.TriggerBurst = 3
	}
	if c.TriggerEvery <= 0 {
		c.TriggerEvery = 20 * time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 20000
	}
	if c.MaxJoined <= 0 {
		c.MaxJoined = 4
	}
	if c.Linger <= 0 {
		c.Linger = 2 * time.Minute
	}
	if c.Recheck <= 0 {
		c.Recheck = time.Second
	}
	return c
}

// Login is what a push request is about.
type Login struct {
	User           string
	Client         string
	NASIdentifier  string
	NASIPAddress   string
	CallingStation string
	// NumberMatching: "on", "off" or "" (the server's default).
	NumberMatching string
	// Location is where CallingStation is ("Berlin, Germany", "private
	// address", "unknown"), when the server has a GeoIP database.
	Location string
	// RequireUV: an approval must carry the device owner's WebAuthn
	// assertion with user verification.
	RequireUV bool
}

// Request is one push request. Its fields do not change after Start.
type Request struct {
	ID      string
	Serial  string
	Login   Login
	Created time.Time
	Expires time.Time
	// Number is the number the login prompt shows (0 without number
	// matching); Choices are the three the phone offers, Number among them.
	Number  int
	Choices []int
	// State binds the follow-up Access-Request to this request.
	State []byte

	done    chan struct{}
	outcome Outcome // set once, before done is closed
	timer   *time.Timer
	joined  int // requests joined to it while pending; under the manager's lock
	// remote: another instance started it (this one joined it); its
	// outcome comes from the Board.
	remote bool

	settle sync.Once
	shared any
	// waiters counts the requests of a NAS still waiting for the answer
	// (Waiting).
	waiters atomic.Int32
}

// Waiting counts a NAS's request waiting for r's answer (delta 1) until
// it has settled r's outcome (-1): an answer is recorded by a request a
// NAS still waits on when there is one.
func (r *Request) Waiting(delta int32) { r.waiters.Add(delta) }

// Waiters is how many NAS requests wait for r's answer.
func (r *Request) Waiters() int32 { return r.waiters.Load() }

// Settle runs fn the first time it is called for r and returns what fn
// returned to that caller and every later one, which wait for it: the
// requests joined to a push (a NAS's retries) share one recorded outcome
// rather than recording it once each.
func (r *Request) Settle(fn func() any) any {
	r.settle.Do(func() { r.shared = fn() })
	return r.shared
}

// Outcome returns how the request ended (Pending while it has not).
func (r *Request) Outcome() Outcome {
	select {
	case <-r.done:
		return r.outcome
	default:
		return Pending
	}
}

// Done is closed when the request has ended.
func (r *Request) Done() <-chan struct{} { return r.done }

// Notification is what a provider sends to wake the phone: no secrets, no
// login details; the app fetches those over the device API.
type Notification struct {
	DeviceToken string
	ID          string
	Title       string
	Body        string
	Expires     time.Time
	// Done is closed when the request has ended (answered by polling):
	// no point in retrying then. May be nil.
	Done <-chan struct{}
}

// Provider delivers notifications.
type Provider interface {
	// Notify delivers n before ctx ends, retrying where that helps. It
	// returns ErrDeviceGone when the device token is no longer valid.
	Notify(ctx context.Context, n Notification) error
}

// ErrDeviceGone: the provider says the device token is invalid.
var ErrDeviceGone = errors.New("push: device token invalid")

// Store is what the manager needs of the store.
type Store interface {
	Audit(ctx context.Context, e store.AuditEvent) error
	SetPushLock(ctx context.Context, by, user string, until time.Time, detail string) error
	UpdateDevice(ctx context.Context, by, serial, action string, fn func(*store.Device) error) (store.Device, error)
}

// Metrics counts what the manager does; nil fields are not counted.
type Metrics struct {
	Requests      func(result string) // started, joined, refused reasons
	Outcomes      func(outcome string)
	Notifications func(result string)
	Pending       func(delta float64)
}

// Deps are what a Manager is built from.
type Deps struct {
	Store    Store
	Provider Provider // nil: poll-only
	Now      func() time.Time
	Logger   *slog.Logger
	Metrics  Metrics
	Config   Config
	// Board shares the requests with other instances; nil: this
	// instance alone.
	Board Board
	// Locate says where a Calling-Station-Id is (geoip); nil: nowhere.
	Locate func(station string) string
}

// Manager holds the pending push requests.
type Manager struct {
	store    Store
	locate   func(string) string
	provider Provider
	now      func() time.Time
	log      *slog.Logger
	metrics  Metrics
	cfg      Config

	mu       sync.Mutex
	byID     map[string]*Request
	byUser   map[string]*Request // the user's pending request
	byState  map[string]*Request
	bySerial map[string]map[string]*Request
	triggers map[string]*bucket
	pending  int // pending requests
	joined   int // requests joined to pending ones
	wg       sync.WaitGroup

	board Board
	// starting serialises the Starts of one user (by a hash of the name)
	// across the board's round trip.
	starting [64]sync.Mutex
	stop     context.CancelFunc
}

// NewManager makes a Manager.
func NewManager(d Deps) *Manager {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	m := &Manager{store: d.Store, locate: d.Locate, provider: d.Provider, now: d.Now, log: d.Logger, metrics: d.Metrics,
		cfg: d.Config.withDefaults(), byID: map[string]*Request{}, byUser: map[string]*Request{},
		byState: map[string]*Request{}, bySerial: map[string]map[string]*Request{}, triggers: map[string]*bucket{},
		board: d.Board, stop: func() {}}
	if m.board != nil {
		ctx, cancel := context.WithCancel(context.Background())
		m.stop = cancel
		m.watch(ctx)
	}
	return m
}

// Config returns the manager's configuration with defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

func userKey(u string) string { return strings.ToLower(u) }

// Start creates a push request for l on device d and notifies the phone.
// A trigger for a user whose push is pending from the same client and
// calling station (a NAS retrying with a new request) joins it: joined is
// true and no second push is sent. At most MaxJoined requests join one
// push (ErrJoinLimit beyond), and they count against MaxPending with the
// pushes: a flood of triggers for one user holds a few requests, not all
// of them. A trigger from elsewhere is refused.
func (m *Manager) Start(ctx context.Context, l Login, d store.Device) (r *Request, joined bool, err error) {
	// One user's triggers take turns, through the board's round trip.
	mu := &m.starting[fnv32(userKey(l.User))%uint32(len(m.starting))]
	mu.Lock()
	defer mu.Unlock()
	now := m.now()
	m.mu.Lock()
	if cur := m.byUser[userKey(l.User)]; cur != nil && cur.Outcome() == Pending {
		m.mu.Unlock()
		return m.join(cur, l, d)
	}
	if m.pending+m.joined >= m.cfg.MaxPending {
		m.mu.Unlock()
		m.count(m.metrics.Requests, "refused_overloaded")
		return nil, false, ErrOverloaded
	}
	if !m.allowTrigger(userKey(l.User), now) {
		m.mu.Unlock()
		m.count(m.metrics.Requests, "refused_rate")
		return nil, false, ErrRateLimited
	}
	m.mu.Unlock()
	if m.locate != nil && l.Location == "" {
		l.Location = m.locate(l.CallingStation)
	}
	r = &Request{ID: randomID(16), Serial: d.Serial, Login: l, Created: now, Expires: now.Add(m.cfg.Timeout),
		State: []byte("radmfa-push:" + randomID(16)), done: make(chan struct{})}
	if m.numberMatching(l) {
		r.Number, r.Choices = numbers()
	}
	if m.board != nil {
		other, err := m.board.Post(ctx, r.record(), now)
		if err != nil {
			m.log.Error("push: posting the request to the shared board", "user", l.User, "err", err)
			m.count(m.metrics.Requests, "refused_unavailable")
			return nil, false, ErrUnavailable
		}
		if other != nil {
			// Pending on another instance: a NAS failing over joins it.
			if other.Serial != d.Serial || other.Client != l.Client || other.CallingStation != l.CallingStation {
				m.count(m.metrics.Requests, "refused_pending")
				return nil, false, ErrPending
			}
			r = fromRecord(*other)
			m.mu.Lock()
			m.hold(r)
			m.mu.Unlock()
			return m.join(r, l, d)
		}
	}
	m.mu.Lock()
	m.hold(r)
	m.mu.Unlock()
	m.count(m.metrics.Requests, "started")

	how := "poll"
	if d.Notifiable() && m.provider != nil {
		how = "notify"
		m.wg.Go(func() { m.notify(r, d) })
	}
	m.audit(ctx, store.AuditEvent{Actor: "push", Action: "push.request", User: l.User, Serial: d.Serial, Client: l.Client,
		Result: "sent", Detail: strings.TrimSpace(fmt.Sprintf("id=%s via=%s number_matching=%t calling-station=%q %s", r.ID, how, r.Number != 0,
			l.CallingStation, locationDetail(l.Location)))})
	return r, false, nil
}

// hold makes r one of the requests this instance waits on, until it ends
// at its expiry at the latest; m.mu is held.
func (m *Manager) hold(r *Request) {
	m.byID[r.ID] = r
	m.byUser[userKey(r.Login.User)] = r
	m.byState[string(r.State)] = r
	if m.bySerial[r.Serial] == nil {
		m.bySerial[r.Serial] = map[string]*Request{}
	}
	m.bySerial[r.Serial][r.ID] = r
	m.pending++
	r.timer = time.AfterFunc(r.Expires.Sub(m.now()), func() { m.expire(r) })
	if m.metrics.Pending != nil {
		m.metrics.Pending(1)
	}
}

// locationDetail is a location for an audit row's detail ("" for none).
func locationDetail(loc string) string {
	if loc == "" {
		return ""
	}
	return fmt.Sprintf("location=%q", loc)
}

// join adds a request for l to cur, the user's pending push, if it comes
// from the same device, client and calling station (a NAS retrying with a
// new request, or failing over from another instance); a trigger from
// elsewhere is refused.
func (m *Manager) join(cur *Request, l Login, d store.Device) (*Request, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case cur.Serial != d.Serial || cur.Login.Client != l.Client || cur.Login.CallingStation != l.CallingStation:
		m.count(m.metrics.Requests, "refused_pending")
		return nil, false, ErrPending
	case cur.joined >= m.cfg.MaxJoined:
		m.count(m.metrics.Requests, "refused_joined")
		return nil, false, ErrJoinLimit
	case m.pending+m.joined >= m.cfg.MaxPending:
		m.count(m.metrics.Requests, "refused_overloaded")
		return nil, false, ErrOverloaded
	}
	cur.joined++
	m.joined++
	m.count(m.metrics.Requests, "joined")
	return cur, true, nil
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func (m *Manager) numberMatching(l Login) bool {
	switch l.NumberMatching {
	case "on":
		return true
	case "off":
		return false
	}
	return m.cfg.NumberMatching
}

// notify wakes the phone, within the request's lifetime.
func (m *Manager) notify(r *Request, d store.Device) {
	ctx, cancel := context.WithDeadline(context.Background(), r.Expires)
	defer cancel()
	err := m.provider.Notify(ctx, Notification{DeviceToken: d.APNsToken, ID: r.ID, Title: "Login request",
		Body: "Tap to review and approve or deny.", Expires: r.Expires, Done: r.done})
	switch {
	case err == nil:
		m.count(m.metrics.Notifications, "sent")
	case errors.Is(err, ErrNoProvider):
		// No provider for this kind of device here: it polls.
	case errors.Is(err, ErrDeviceGone):
		m.count(m.metrics.Notifications, "device_gone")
		m.log.Warn("push: device token refused by the provider; the device must poll until it re-registers", "serial", d.Serial)
		_, uerr := m.store.UpdateDevice(context.Background(), "push", d.Serial, "device.push-token-invalid", func(d *store.Device) error {
			d.APNsInvalid = true
			return nil
		})
		if uerr != nil {
			m.log.Error("push: mark device token invalid", "serial", d.Serial, "err", uerr)
		}
	case r.Outcome() != Pending:
		// Answered (by poll) before delivery succeeded.
	default:
		m.count(m.metrics.Notifications, "failed")
		m.log.Warn("push: notification not delivered; the device can still poll", "serial", d.Serial, "id", r.ID, "err", err)
	}
}

// Wait blocks until r ends or ctx does.
func (m *Manager) Wait(ctx context.Context, r *Request) Outcome {
	select {
	case <-r.done:
		return r.outcome
	case <-ctx.Done():
		return Expired
	}
}

// TakeState returns the request a challenge's State names and forgets the
// State: a follow-up continues a login once (a NAS's retransmission of it
// is answered by the RADIUS reply cache, not here). With a Board, a State
// another instance issued (the NAS failed over) is looked up there, and
// this instance then waits on that request too.
func (m *Manager) TakeState(ctx context.Context, state []byte) *Request {
	m.mu.Lock()
	r := m.byState[string(state)]
	delete(m.byState, string(state))
	m.mu.Unlock()
	if r != nil || m.board == nil {
		return r
	}
	p, err := m.board.ByState(ctx, state)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			m.log.Error("push: looking up a challenge's State on the shared board", "err", err)
		}
		return nil
	}
	if p.Outcome != Pending.String() || !m.now().Before(p.Expires) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r = m.byID[p.ID]; r != nil {
		return r
	}
	r = fromRecord(p)
	m.hold(r)
	delete(m.byState, string(r.State))
	return r
}

// Rechallenge makes r's State continue the login once more: a follow-up
// that was answered with another challenge (the phone had not answered
// within the NAS's deadline) is followed up again.
func (m *Manager) Rechallenge(r *Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Outcome() == Pending && m.byID[r.ID] == r {
		m.byState[string(r.State)] = r
	}
}

// PendingFor lists the pending requests of a device that this instance
// holds.
func (m *Manager) PendingFor(serial string) []*Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Request
	for _, r := range m.bySerial[serial] {
		if r.Outcome() == Pending {
			out = append(out, r)
		}
	}
	return out
}

// Pending lists the pending requests of a device, wherever they were
// started: with a Board, those of every instance.
func (m *Manager) Pending(ctx context.Context, serial string) ([]*Request, error) {
	if m.board == nil {
		return m.PendingFor(serial), nil
	}
	ps, err := m.board.Pending(ctx, serial, m.now())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	out := make([]*Request, 0, len(ps))
	for _, p := range ps {
		out = append(out, fromRecord(p))
	}
	return out, nil
}

// lookup finds request id: held here, or with a Board, on the board.
func (m *Manager) lookup(ctx context.Context, id string) (*Request, error) {
	m.mu.Lock()
	r := m.byID[id]
	m.mu.Unlock()
	if r != nil || m.board == nil {
		if r == nil {
			return nil, ErrUnknownRequest
		}
		return r, nil
	}
	p, err := m.board.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownRequest
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	r = fromRecord(p)
	if o := parseOutcome(p.Outcome); o != Pending {
		r.outcome = o
		close(r.done)
	}
	return r, nil
}

// Answer applies a device's (already authenticated) answer from serial.
// With a Board the answer is written there, and the instance holding the
// request hears of it; only the instance that ends a request audits how.
func (m *Manager) Answer(ctx context.Context, serial, id, decision string, number int) (Outcome, error) {
	return m.AnswerChecked(ctx, serial, id, decision, number, nil)
}

// AnswerChecked is Answer with check run on the request before an
// approval ends it (the device owner's verification); its error refuses
// the answer and leaves the request pending.
func (m *Manager) AnswerChecked(ctx context.Context, serial, id, decision string, number int, check func(*Request) error) (Outcome, error) {
	r, err := m.lookup(ctx, id)
	switch {
	case err != nil:
		return Pending, err
	case r.Serial != serial:
		return Pending, ErrForeign
	}
	if check != nil && decision == DecisionApprove && r.Outcome() == Pending {
		if err := check(r); err != nil {
			return Pending, err
		}
	}
	var o Outcome
	switch decision {
	case DecisionApprove:
		o = Approved
		if r.Number != 0 && number != r.Number {
			o = WrongNumber
		}
	case DecisionDeny:
		o = Denied
	case DecisionFraud:
		o = Fraud
	default:
		return Pending, ErrBadDecision
	}
	switch r.Outcome() {
	case Pending:
	case Expired:
		return Pending, ErrLate
	default:
		return Pending, ErrAnswered
	}
	if !m.now().Before(r.Expires) {
		m.end(r, Expired)
		return Pending, ErrLate
	}
	if o == Fraud {
		// Lock first: no new push may start between the answer and the lock.
		until := m.now().Add(m.cfg.FraudLock)
		if err := m.store.SetPushLock(ctx, "device:"+serial, r.Login.User, until, "fraud reported for push "+r.ID); err != nil {
			m.log.Error("push: lock after fraud report", "user", r.Login.User, "err", err)
		}
	}
	got, err := m.end(r, o)
	if err != nil {
		return Pending, err
	}
	if got != o {
		if got == Expired {
			return Pending, ErrLate
		}
		return Pending, ErrAnswered
	}
	return o, nil
}

// Joined is how many requests joined r while it was pending (its own
// request not counted).
func (m *Manager) Joined(r *Request) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return r.joined
}

// Cancel ends a pending request because the login went another way.
func (m *Manager) Cancel(r *Request) { m.end(r, Canceled) }

// expire ends r at its deadline; an answered r is forgotten by the timer
// settle set.
func (m *Manager) expire(r *Request) { m.end(r, Expired) }

// end ends r with o unless it has ended, and returns how it ended. With a
// Board the end is written there first: a request another instance ended
// meanwhile ends here as it did there (an approval that a lost
// notification did not bring is found at the expiry). Only the instance
// that ends a request audits it.
func (m *Manager) end(r *Request, o Outcome) (Outcome, error) {
	if m.board == nil {
		if m.settle(r, o, true) {
			return o, nil
		}
		return r.Outcome(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, ended, err := m.board.End(ctx, r.ID, o.String(), m.now())
	switch {
	case err != nil:
		m.log.Error("push: ending a request on the shared board", "id", r.ID, "outcome", o.String(), "err", err)
		if o == Expired || o == Canceled {
			// Nobody waits here any longer either way.
			m.settle(r, o, false)
			return o, nil
		}
		return Pending, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case ended:
		m.auditEnd(r, o)
		m.settleHeld(r.ID, o)
		return o, nil
	default:
		got := parseOutcome(p.Outcome)
		m.settleHeld(r.ID, got)
		return got, nil
	}
}

// settleHeld ends the request with id held here, if there is one.
func (m *Manager) settleHeld(id string, o Outcome) {
	m.mu.Lock()
	r := m.byID[id]
	m.mu.Unlock()
	if r != nil {
		m.settle(r, o, false)
	}
}

// settle ends r with o unless it has ended; it reports whether it did.
// With audit, the end is written to the audit log.
func (m *Manager) settle(r *Request, o Outcome, audit bool) bool {
	m.mu.Lock()
	if r.Outcome() != Pending {
		m.mu.Unlock()
		return false
	}
	r.outcome = o
	close(r.done)
	if m.byID[r.ID] != r {
		// Looked up on the board, never held here.
		m.mu.Unlock()
		return true
	}
	m.pending--
	m.joined -= r.joined
	if m.byUser[userKey(r.Login.User)] == r {
		delete(m.byUser, userKey(r.Login.User))
	}
	// Keep it a while so that late and repeated answers are recognised.
	// Expires comes from m.now, so the time left is measured with it too.
	r.timer.Stop()
	r.timer = time.AfterFunc(r.Expires.Sub(m.now())+m.cfg.Linger, func() { m.forget(r) })
	m.mu.Unlock()
	if m.metrics.Pending != nil {
		m.metrics.Pending(-1)
	}
	m.count(m.metrics.Outcomes, o.String())
	if audit {
		m.auditEnd(r, o)
	}
	return true
}

func (m *Manager) auditEnd(r *Request, o Outcome) {
	m.audit(context.Background(), store.AuditEvent{Actor: "push", Action: "push.answer", User: r.Login.User, Serial: r.Serial,
		Client: r.Login.Client, Result: o.String(), Detail: fmt.Sprintf("id=%s calling-station=%q nas-id=%q",
			r.ID, r.Login.CallingStation, r.Login.NASIdentifier)})
}

func (m *Manager) forget(r *Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byID, r.ID)
	delete(m.byState, string(r.State))
	if s := m.bySerial[r.Serial]; s != nil {
		delete(s, r.ID)
		if len(s) == 0 {
			delete(m.bySerial, r.Serial)
		}
	}
}

// Close stops following the board and waits for notifications being
// sent to finish.
func (m *Manager) Close() {
	m.stop()
	m.wg.Wait()
}

func (m *Manager) audit(ctx context.Context, e store.AuditEvent) {
	if err := m.store.Audit(context.WithoutCancel(ctx), e); err != nil {
		m.log.Error("push: audit", "err", err)
	}
}

func (m *Manager) count(f func(string), label string) {
	if f != nil {
		f(label)
	}
}

// bucket is a token bucket of push triggers.
type bucket struct {
	tokens float64
	at     time.Time
}

// allowTrigger takes one trigger from the user's bucket; m.mu is held.
func (m *Manager) allowTrigger(user string, now time.Time) bool {
	b := m.triggers[user]
	if b == nil {
		if len(m.triggers) >= 100000 {
			m.pruneTriggers(now)
		}
		b = &bucket{tokens: float64(m.cfg.TriggerBurst), at: now}
		m.triggers[user] = b
	}
	b.tokens = min(float64(m.cfg.TriggerBurst), b.tokens+now.Sub(b.at).Seconds()/m.cfg.TriggerEvery.Seconds())
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// pruneTriggers forgets full buckets (those users may trigger freely).
func (m *Manager) pruneTriggers(now time.Time) {
	full := time.Duration(m.cfg.TriggerBurst) * m.cfg.TriggerEvery
	for u, b := range m.triggers {
		if now.Sub(b.at) >= full {
			delete(m.triggers, u)
		}
	}
}

func randIntn(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return int(v.Int64())
}

// randomID is n random bytes in URL-safe base64. It never starts with
// '-', so that a command line takes it as an argument, not a flag
// (radmfa-device approve ID).
func randomID(n int) string {
	b := make([]byte, n)
	for {
		rand.Read(b)
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id
		}
	}
}

// numbers picks the number to show (10-99) and three distinct choices,
// shuffled, that include it.
func numbers() (int, []int) {
	c := []int{10 + randIntn(90)}
	for len(c) < 3 {
		n := 10 + randIntn(90)
		if n != c[0] && (len(c) < 2 || n != c[1]) {
			c = append(c, n)
		}
	}
	want := c[0]
	for i := len(c) - 1; i > 0; i-- {
		j := randIntn(i + 1)
		c[i], c[j] = c[j], c[i]
	}
	return want, c
}
