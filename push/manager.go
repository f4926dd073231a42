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
}

// Manager holds the pending push requests.
type Manager struct {
	store    Store
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
}

// NewManager makes a Manager.
func NewManager(d Deps) *Manager {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Manager{store: d.Store, provider: d.Provider, now: d.Now, log: d.Logger, metrics: d.Metrics,
		cfg: d.Config.withDefaults(), byID: map[string]*Request{}, byUser: map[string]*Request{},
		byState: map[string]*Request{}, bySerial: map[string]map[string]*Request{}, triggers: map[string]*bucket{}}
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
	now := m.now()
	m.mu.Lock()
	if cur := m.byUser[userKey(l.User)]; cur != nil && cur.Outcome() == Pending {
		if cur.Serial != d.Serial || cur.Login.Client != l.Client || cur.Login.CallingStation != l.CallingStation {
			m.mu.Unlock()
			m.count(m.metrics.Requests, "refused_pending")
			return nil, false, ErrPending
		}
		switch {
		case cur.joined >= m.cfg.MaxJoined:
			m.mu.Unlock()
			m.count(m.metrics.Requests, "refused_joined")
			return nil, false, ErrJoinLimit
		case m.pending+m.joined >= m.cfg.MaxPending:
			m.mu.Unlock()
			m.count(m.metrics.Requests, "refused_overloaded")
			return nil, false, ErrOverloaded
		}
		cur.joined++
		m.joined++
		m.mu.Unlock()
		m.count(m.metrics.Requests, "joined")
		return cur, true, nil
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
	r = &Request{ID: randomID(16), Serial: d.Serial, Login: l, Created: now, Expires: now.Add(m.cfg.Timeout),
		State: []byte("radmfa-push:" + randomID(16)), done: make(chan struct{})}
	if m.numberMatching(l) {
		r.Number, r.Choices = numbers()
	}
	m.byID[r.ID] = r
	m.byUser[userKey(l.User)] = r
	m.byState[string(r.State)] = r
	if m.bySerial[r.Serial] == nil {
		m.bySerial[r.Serial] = map[string]*Request{}
	}
	m.bySerial[r.Serial][r.ID] = r
	m.pending++
	r.timer = time.AfterFunc(m.cfg.Timeout, func() { m.expire(r) })
	m.mu.Unlock()
	m.count(m.metrics.Requests, "started")
	if m.metrics.Pending != nil {
		m.metrics.Pending(1)
	}

	how := "poll"
	if d.Notifiable() && m.provider != nil {
		how = "notify"
		m.wg.Go(func() { m.notify(r, d) })
	}
	m.audit(ctx, store.AuditEvent{Actor: "push", Action: "push.request", User: l.User, Serial: d.Serial, Client: l.Client,
		Result: "sent", Detail: fmt.Sprintf("id=%s via=%s number_matching=%t calling-station=%q", r.ID, how, r.Number != 0, l.CallingStation)})
	return r, false, nil
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
// is answered by the RADIUS reply cache, not here).
func (m *Manager) TakeState(state []byte) *Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.byState[string(state)]
	delete(m.byState, string(state))
	return r
}

// PendingFor lists the pending requests of a device.
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

// Answer applies a device's (already authenticated) answer from serial.
func (m *Manager) Answer(ctx context.Context, serial, id, decision string, number int) (Outcome, error) {
	m.mu.Lock()
	r := m.byID[id]
	m.mu.Unlock()
	switch {
	case r == nil:
		return Pending, ErrUnknownRequest
	case r.Serial != serial:
		return Pending, ErrForeign
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
	if !m.now().Before(r.Expires) {
		m.resolve(r, Expired)
		return Pending, ErrLate
	}
	if o == Fraud {
		// Lock first: no new push may start between the answer and the lock.
		until := m.now().Add(m.cfg.FraudLock)
		if err := m.store.SetPushLock(ctx, "device:"+serial, r.Login.User, until, "fraud reported for push "+r.ID); err != nil {
			m.log.Error("push: lock after fraud report", "user", r.Login.User, "err", err)
		}
	}
	if !m.resolve(r, o) {
		if r.outcome == Expired {
			return Pending, ErrLate
		}
		return Pending, ErrAnswered
	}
	return o, nil
}

// Cancel ends a pending request because the login went another way.
func (m *Manager) Cancel(r *Request) { m.resolve(r, Canceled) }

// expire ends r at its deadline; an answered r is forgotten by the timer
// resolve set.
func (m *Manager) expire(r *Request) { m.resolve(r, Expired) }

// resolve ends r with o unless it has ended; it reports whether it did.
func (m *Manager) resolve(r *Request, o Outcome) bool {
	m.mu.Lock()
	if r.Outcome() != Pending {
		m.mu.Unlock()
		return false
	}
	r.outcome = o
	close(r.done)
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
	m.audit(context.Background(), store.AuditEvent{Actor: "push", Action: "push.answer", User: r.Login.User, Serial: r.Serial,
		Client: r.Login.Client, Result: o.String(), Detail: fmt.Sprintf("id=%s calling-station=%q nas-id=%q",
			r.ID, r.Login.CallingStation, r.Login.NASIdentifier)})
	return true
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

// Close waits for notifications being sent to finish.
func (m *Manager) Close() { m.wg.Wait() }

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
