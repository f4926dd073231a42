// Package radius is radmfa's RADIUS front end: UDP listeners, the client
// table, duplicate detection with a reply cache, Message-Authenticator
// (RFC 3579), Status-Server (RFC 5997), PAP decoding and reply attributes.
// It turns packets into auth.Requests and auth.Results into signed replies.
package radius

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/auth"
)

// Authenticator decides logins; *auth.Service is one.
type Authenticator interface {
	Authenticate(ctx context.Context, req auth.Request) auth.Result
}

// TableSource loads the client table and tells when it changed.
type TableSource interface {
	Version(ctx context.Context) (int64, error)
	Load(ctx context.Context) (*Table, error)
}

// Config tunes the listener. Zero values take the defaults.
type Config struct {
	MaxInFlight    int           // Access-Requests evaluated at once (default 1024)
	RequestTimeout time.Duration // deadline of one evaluation (default 30s)
	ReplyCacheTTL  time.Duration // how long answers are kept for retransmissions (default 30s)
	ReloadEvery    time.Duration // how often the client table is checked for changes (default 2s)
	// DebugPackets logs every request and reply, decoded, passwords
	// hidden: for setting up a NAS, not for production.
	DebugPackets     bool
	ShutdownTimeout  time.Duration // how long shutdown waits for requests in flight (default 10s)
	UnknownLogPeriod time.Duration // one log line per unknown source (or client sending bad packets) per period (default 1m)
	// LogPerReason caps the warnings about dropped packets (unknown
	// source, bad Message-Authenticator) per reason per UnknownLogPeriod
	// (default 20).
	LogPerReason int
	// HoldTimeout bounds a request held for a push answer; the push's own
	// timeout normally ends it first (default 5m).
	HoldTimeout time.Duration
	// EAPPrompt is the EAP-GTC prompt that asks for the password (default
	// "Passcode:").
	EAPPrompt string
}

func (c Config) withDefaults() Config {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.ReplyCacheTTL <= 0 {
		c.ReplyCacheTTL = 30 * time.Second
	}
	if c.ReloadEvery <= 0 {
		c.ReloadEvery = 2 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.UnknownLogPeriod <= 0 {
		c.UnknownLogPeriod = time.Minute
	}
	if c.LogPerReason <= 0 {
		c.LogPerReason = 20
	}
	if c.HoldTimeout <= 0 {
		c.HoldTimeout = 5 * time.Minute
	}
	if c.EAPPrompt == "" {
		c.EAPPrompt = "Passcode:"
	}
	return c
}

// Server answers Access-Requests and Status-Server on UDP.
type Server struct {
	auth    Authenticator
	acct    Accounter // nil: accounting is not recorded (and not answered)
	acctSem chan struct{}
	source  TableSource
	log     *slog.Logger
	metrics *Metrics
	cfg     Config
	now     func() time.Time

	table   atomic.Pointer[Table]
	version int64 // of the table loaded; Serve's goroutine alone
	// reloadNow asks Serve to load the client table at once (Reload).
	reloadNow chan struct{}
	cache     *replyCache
	held      *heldRequests
	eap       *eapSessions
	// warnedMA: the clients not requiring Message-Authenticator that were
	// warned about, once each (reload runs on one goroutine at a time).
	warnedMA map[string]bool
	sem      chan struct{}
	wg       sync.WaitGroup

	// Request goroutines are reused (see dispatch): idle ones wait on jobs
	// until quit closes, at most maxIdleWorkers of them.
	jobs     chan job
	idle     atomic.Int32
	spawned  atomic.Int64 // request goroutines started
	quit     chan struct{}
	quitOnce sync.Once

	// logs decides which warnings about dropped packets are logged.
	logs *logBudget
}

// Deps are what a Server is built from.
type Deps struct {
	Auth Authenticator
	// Accounting records Accounting-Requests read on the accounting
	// sockets.
	Accounting Accounter
	Source     TableSource
	Logger     *slog.Logger
	Metrics    *Metrics // NewMetrics(nil) when nil
	Config     Config
	Now        func() time.Time
}

// NewServer makes a Server and loads the client table once.
func NewServer(ctx context.Context, d Deps) (*Server, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	cfg := d.Config.withDefaults()
	s := &Server{auth: d.Auth, acct: d.Accounting, acctSem: make(chan struct{}, acctInFlight), source: d.Source, log: d.Logger, metrics: d.Metrics, cfg: cfg, now: d.Now,
		cache: newReplyCache(cfg.ReplyCacheTTL), held: newHeldRequests(), eap: newEAPSessions(), warnedMA: map[string]bool{}, sem: make(chan struct{}, cfg.MaxInFlight),
		jobs: make(chan job, maxIdleWorkers), quit: make(chan struct{}), logs: newLogBudget(cfg.UnknownLogPeriod, cfg.LogPerReason),
		reloadNow: make(chan struct{}, 1)}
	if err := s.reload(ctx, true); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) reload(ctx context.Context, force bool) error {
	v, err := s.source.Version(ctx)
	if err != nil {
		return fmt.Errorf("radius: client table: %w", err)
	}
	if !force && v == s.version {
		return nil
	}
	t, err := s.source.Load(ctx)
	if err != nil {
		return fmt.Errorf("radius: client table: %w", err)
	}
	s.table.Store(t)
	s.version = v
	s.metrics.Clients.Set(float64(t.Len()))
	for _, name := range t.NotRequiringMA() {
		if !s.warnedMA[name] {
			s.warnedMA[name] = true
			s.log.Warn("radius: client does not require Message-Authenticator: its Access-Requests can be forged (BlastRADIUS, CVE-2024-3596); once radmfa_radius_requests_without_message_authenticator_total shows it sends one, require it",
				"client", name)
		}
	}
	if !force {
		s.log.Info("radius: client table reloaded", "clients", t.Len())
	}
	return nil
}

// Reload makes Serve load the client table now rather than at its next
// check (an administrator's SIGHUP).
func (s *Server) Reload() {
	select {
	case s.reloadNow <- struct{}{}:
	default: // one is pending already
	}
}

// readBuffer is the socket receive buffer Listen asks for.
const readBuffer = 8 << 20

// Listen opens the UDP sockets; Serve then answers on them.
func Listen(addrs []string) ([]*net.UDPConn, error) {
	var conns []*net.UDPConn
	for _, a := range addrs {
		ua, err := net.ResolveUDPAddr("udp", a)
		if err == nil {
			var c *net.UDPConn
			if c, err = net.ListenUDP("udp", ua); err == nil {
				// A login storm (or a burst of push triggers) must queue in
				// the kernel, not be dropped: ask for a large buffer (the
				// kernel caps it at net.core.rmem_max).
				c.SetReadBuffer(readBuffer)
				countKernelDrops(c)
				conns = append(conns, c)
				continue
			}
		}
		for _, c := range conns {
			c.Close()
		}
		return nil, fmt.Errorf("radius: listen %s: %w", a, err)
	}
	return conns, nil
}

// Serve answers authentication on conns and accounting on acct until ctx
// ends, then stops reading, waits up to ShutdownTimeout for requests in
// flight to be answered, and closes the sockets.
func (s *Server) Serve(ctx context.Context, conns []*net.UDPConn, acct ...*net.UDPConn) error {
	var loops sync.WaitGroup
	for _, c := range conns {
		w := newBatchConn(c, func(err error) { s.drop(DropSendFailed, "err", err) })
		loops.Go(func() { s.readLoop(c, w, s.HandlePacket) })
	}
	for _, c := range acct {
		w := newBatchConn(c, func(err error) { s.drop(DropSendFailed, "err", err) })
		loops.Go(func() { s.readLoop(c, w, s.HandleAccounting) })
	}
	conns = append(conns[:len(conns):len(conns)], acct...)
	tick := time.NewTicker(s.cfg.ReloadEvery)
	defer tick.Stop()
	// While the store is out of reach, the failed checks are logged once
	// a minute, and once when they succeed again.
	var failing int
	var loggedAt time.Time
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			err := s.reload(ctx, false)
			switch now := s.now(); {
			case err != nil && ctx.Err() == nil:
				if failing++; failing == 1 || now.Sub(loggedAt) >= time.Minute {
					s.log.Error("radius: reload failed; serving the client table read last", "failed_checks", failing, "err", err)
					loggedAt = now
				}
			case err == nil && failing > 0:
				s.log.Info("radius: reload works again", "failed_checks", failing)
				failing = 0
			}
			s.cache.sweep(s.now())
		case <-s.reloadNow:
			if err := s.reload(ctx, true); err != nil && ctx.Err() == nil {
				s.log.Error("radius: reload", "err", err)
			} else if err == nil {
				s.log.Info("radius: client table reloaded on request", "clients", s.table.Load().Len())
			}
		}
	}
	// Stop reading; replies can still be written on the sockets.
	for _, c := range conns {
		c.SetReadDeadline(time.Unix(1, 0))
	}
	loops.Wait()
	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(s.cfg.ShutdownTimeout):
		s.log.Warn("radius: shutdown timeout; requests still in flight get no reply")
	}
	for _, c := range conns {
		c.Close()
	}
	s.quitOnce.Do(func() { close(s.quit) })
	return nil
}

// readBatch is how many datagrams one read takes from the socket: under
// load one recvmmsg takes the whole burst.
const readBatch = 32

// readLoop reads datagrams from c in batches and handles each in turn;
// replies go out through w.
func (s *Server) readLoop(c *net.UDPConn, w *batchConn, handle func(PacketConn, []byte, netip.AddrPort)) {
	d := newDatagrams(c)
	bufs := make([][]byte, readBatch)
	for i := range bufs {
		// One byte more than a packet may have, so a longer one shows.
		bufs[i] = make([]byte, radius.MaxPacketLength+1)
	}
	ns := make([]int, readBatch)
	srcs := make([]netip.AddrPort, readBatch)
	var kernelDrops uint64
	for {
		n, err := d.read(bufs, ns, srcs)
		if kd := d.kernelDrops(); kd > kernelDrops {
			s.metrics.Drops.WithLabelValues(DropKernel).Add(float64(kd - kernelDrops))
			kernelDrops = kd
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			s.log.Warn("radius: read", "err", err)
			continue
		}
		for i := range n {
			if srcs[i].IsValid() {
				handle(w, bufs[i][:ns[i]], srcs[i])
			}
		}
	}
}

// PacketConn is where replies go.
type PacketConn interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

func (s *Server) drop(reason string, args ...any) {
	s.metrics.Drops.WithLabelValues(reason).Inc()
	if len(args) > 0 {
		s.log.Debug("radius: drop", append([]any{"reason", reason}, args...)...)
	}
}

// HandlePacket processes one datagram read from conn. It never panics on
// any input; the packet's bytes are copied before anything keeps them.
func (s *Server) HandlePacket(conn PacketConn, b []byte, src netip.AddrPort) {
	if client := s.datagramClient(b, src, "packet"); client != nil {
		s.handleAccess(conn, b, src, client, false)
	}
}

// datagramClient is the client a datagram of a plausible size comes from;
// nil when it is dropped (counted, and logged at a limited rate).
func (s *Server) datagramClient(b []byte, src netip.AddrPort, what string) *Client {
	if len(b) < 20 || len(b) > radius.MaxPacketLength {
		s.drop(DropMalformed, "src", src, "len", len(b))
		return nil
	}
	client := s.table.Load().Lookup(src.Addr())
	if client == nil {
		s.drop(DropUnknownClient)
		if ok, held := s.logs.allow(DropUnknownClient, src.Addr().String(), s.now()); ok {
			s.log.Warn("radius: "+what+" from unknown client dropped (add it with `radmfa client add`)", "src", src.Addr(), "held_back", held)
		}
	}
	return client
}

// handleAccess processes one packet of client's. Over TLS (RFC 6614) the
// connection authenticates every packet, so Message-Authenticator is not
// required (and Proxy-State without it is no forgery).
func (s *Server) handleAccess(conn PacketConn, b []byte, src netip.AddrPort, client *Client, overTLS bool) {
	data := make([]byte, len(b))
	copy(data, b)
	pkt, err := radius.Parse(data, client.Secret)
	if err != nil {
		s.drop(DropMalformed, "client", client.Name, "err", err)
		return
	}
	s.debugPacket("in", src, client.Name, pkt)
	switch pkt.Code {
	case radius.CodeAccessRequest:
		s.metrics.Requests.WithLabelValues("access_request").Inc()
	case radius.CodeStatusServer:
		s.metrics.Requests.WithLabelValues("status_server").Inc()
	case radius.CodeAccountingRequest:
		s.metrics.Requests.WithLabelValues("accounting_request").Inc()
		s.drop(DropWrongPort, "client", client.Name, "src", src)
		return
	default:
		s.metrics.Requests.WithLabelValues("other").Inc()
		s.drop(DropUnsupportedCode, "client", client.Name, "code", pkt.Code)
		return
	}
	mac := client.mac()
	present, err := verifyRequestMA(data, mac)
	client.putMAC(mac)
	if err != nil {
		s.drop(DropBadMA, "client", client.Name, "src", src)
		if ok, held := s.logs.allow(DropBadMA, client.Name, s.now()); ok {
			s.log.Warn("radius: bad Message-Authenticator (wrong shared secret?)", "client", client.Name, "src", src, "held_back", held)
		}
		return
	}
	_, hasEAP := pkt.Lookup(attrEAPMessage)
	if !present && !overTLS && (client.RequireMA || pkt.Code == radius.CodeStatusServer || hasEAP) {
		// RFC 3579 3.3: EAP-Message without Message-Authenticator is
		// discarded, whatever the client's setting.
		s.drop(DropMissingMA, "client", client.Name, "src", src)
		return
	}
	if !present && !overTLS {
		s.metrics.WithoutMA.WithLabelValues(client.Name).Inc()
		if _, ok := pkt.Lookup(33); ok { // Proxy-State
			// A forged reply's way in (BlastRADIUS): Proxy-State with no
			// Message-Authenticator to bind the request.
			s.drop(DropProxyStateNoMA, "client", client.Name, "src", src)
			if ok, held := s.logs.allow(DropProxyStateNoMA, client.Name, s.now()); ok {
				s.log.Warn("radius: request with Proxy-State but no Message-Authenticator dropped (BlastRADIUS); make the NAS or proxy send Message-Authenticator",
					"client", client.Name, "src", src, "held_back", held)
			}
			return
		}
	}
	if pkt.Code == radius.CodeStatusServer {
		// RFC 5997: a server that is alive answers with Access-Accept.
		s.send(conn, client, src, newReply(pkt, radius.CodeAccessAccept), nil, "status_server")
		return
	}

	key, ok := s.admit(conn, src, client, pkt, s.sem)
	if !ok {
		return
	}
	s.metrics.InFlight.Inc()
	s.dispatch(job{conn: conn, src: src, client: *client, pkt: pkt, key: key})
}

// admit starts work on a request: a retransmission of one in flight is
// dropped (noted, for a held one), one of an answered request is answered
// from the reply cache, and a new one takes a slot of sem, or is dropped
// when there is none. ok means the caller serves the request, counted in
// s.wg, and gives the slot back.
func (s *Server) admit(conn PacketConn, src netip.AddrPort, client *Client, pkt *radius.Packet, sem chan struct{}) (dupKey, bool) {
	key := newDupKey(src, pkt.Identifier, pkt.Authenticator)
	switch state, cached := s.cache.begin(key, s.now()); state {
	case dupInFlight:
		s.metrics.Duplicates.WithLabelValues("in_flight").Inc()
		s.held.retransmitted(key, s.now())
		return key, false
	case dupAnswered:
		s.metrics.Duplicates.WithLabelValues("answered").Inc()
		if _, err := conn.WriteToUDPAddrPort(cached, src); err != nil {
			s.drop(DropSendFailed, "err", err)
		}
		return key, false
	}
	select {
	case sem <- struct{}{}:
	default:
		s.cache.abort(key)
		s.drop(DropOverloaded, "client", client.Name)
		return key, false
	}
	s.wg.Add(1)
	return key, true
}

// job is an Access-Request that holds an evaluation slot.
type job struct {
	conn   PacketConn
	src    netip.AddrPort
	client Client
	pkt    *radius.Packet
	key    dupKey
}

// maxIdleWorkers bounds the request goroutines kept for reuse.
const maxIdleWorkers = 64

// dispatch runs j on an idle request goroutine, or a new one. A request's
// stack grows to tens of KiB (auth, store, reply); a new goroutine starts
// small and copies its stack as it grows, which was 5% of the server's CPU
// (runtime.newstack and copystack in a --procs 1 profile). A reused one
// keeps its stack between requests.
//
// An idle worker is reserved by taking one off the idle count, and the job
// goes into jobs, buffered for every idle worker there can be: a worker
// that has counted itself idle but not yet reached its receive still gets
// it, and any idle worker may take any job.
func (s *Server) dispatch(j job) {
	for {
		n := s.idle.Load()
		if n <= 0 {
			s.spawned.Add(1)
			go s.work(j)
			return
		}
		if s.idle.CompareAndSwap(n, n-1) {
			s.jobs <- j
			return
		}
	}
}

// work runs j, then waits for more until there are enough idle workers or
// the server stops.
func (s *Server) work(j job) {
	for {
		s.run(j)
		if s.idle.Add(1) > maxIdleWorkers {
			s.idle.Add(-1)
			return
		}
		select {
		case j = <-s.jobs: // reserved by dispatch, which took it off idle
		case <-s.quit:
			s.idle.Add(-1)
			return
		}
	}
}

// run serves one request and gives its slot back.
func (s *Server) run(j job) {
	held := false
	// release frees the evaluation slot; a request held for a push
	// answer frees it early, so pending pushes do not starve OTP logins.
	release := func() {
		if !held {
			held = true
			<-s.sem
			s.metrics.InFlight.Dec()
		}
	}
	defer func() {
		release()
		s.wg.Done()
	}()
	s.serveAccess(j, release)
}

func (s *Server) serveAccess(j job, release func()) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	client := j.client
	req := s.request(client, j.pkt)
	req.RequestKey = j.key.requestKey()
	req.AnswerBy = client.AnswerBy(start)
	var round *eapRound
	if msg, ok, err := eapMessage(j.pkt); ok {
		var done bool
		if round, done = s.eapStep(j, &client, &req, msg, err); done {
			return
		}
	}
	res := s.auth.Authenticate(ctx, req)
	if res.Wait != nil {
		release()
		s.metrics.Held.Inc()
		s.held.hold(j.key, s.now())
		hctx, hcancel := context.WithTimeout(context.Background(), s.cfg.HoldTimeout)
		hctx = auth.WithNASGiveUp(hctx, func() (time.Time, bool) { return s.held.giveUp(j.key) })
		res = res.Wait(hctx)
		hcancel()
		s.held.release(j.key)
		s.metrics.Held.Dec()
	}
	s.answer(j.conn, j.src, &client, j.pkt, j.key, req, res, start, round)
}

// eapStep turns an Access-Request's EAP packet into the login auth
// decides (req), or answers it itself (done): an EAP-Identity is answered
// with an EAP-Request/GTC in an Access-Challenge. The answer to req is
// wrapped in EAP for round.
func (s *Server) eapStep(j job, client *Client, req *auth.Request, msg eapPacket, err error) (round *eapRound, done bool) {
	round = &eapRound{respID: msg.id}
	req.Password = ""
	switch {
	case err != nil:
		req.Method = "eap-malformed"
		return round, false
	case msg.code != eapResponse:
		req.Method = fmt.Sprintf("eap-code%d", msg.code)
		return round, false
	case msg.typ == eapTypeIdentity:
		// A conversation starts: offer GTC.
		sess := eapSession{client: client.Name, identity: string(msg.data), id: msg.id + 1}
		reply := newReply(j.pkt, radius.CodeAccessChallenge)
		state, ok := s.eap.put(sess, s.now())
		if !ok {
			reply = newReply(j.pkt, radius.CodeAccessReject)
			addEAP(reply, eapPacket{code: eapFailure, id: msg.id})
			s.log.Warn("radius: too many EAP conversations open; refusing new ones", "client", client.Name)
		} else {
			rfc2865.State_Set(reply, state)
			addEAP(reply, eapPacket{code: eapRequest, id: sess.id, typ: eapTypeGTC, data: []byte(s.cfg.EAPPrompt)})
		}
		s.debugPacket("out", j.src, client.Name, reply)
		s.send(j.conn, client, j.src, reply, &j.key, strings.ToLower(strings.TrimPrefix(reply.Code.String(), "Access-")))
		return round, true
	}
	sess, ok := s.eap.take(req.State, s.now())
	if ok && sess.client == client.Name {
		round.session = sess
		req.State = sess.authState
		if req.User == "" {
			req.User = sess.identity
		}
	}
	switch msg.typ {
	case eapTypeGTC:
		if !ok || sess.client != client.Name || msg.id != sess.id {
			// auth refuses the State it does not know (unknown_state).
			req.Method = ""
			if len(req.State) == 0 {
				req.State = []byte(eapStatePrefix + "unknown")
			}
			return round, false
		}
		req.Method = ""
		req.Password = string(msg.data)
	case eapTypeNak:
		// The peer will not do GTC; it names what it would do.
		wants := make([]string, 0, len(msg.data))
		for _, t := range msg.data {
			wants = append(wants, eapTypeName(t))
		}
		req.Method = "eap-nak(wants " + strings.Join(wants, ",") + ")"
	default:
		req.Method = "eap-" + eapTypeName(msg.typ)
	}
	return round, false
}

// request is the login an Access-Request asks for. The server decides
// nothing itself: a request without a user name, or with CHAP, MS-CHAP or
// EAP instead of a PAP password, goes to auth like any other, which
// refuses and records it.
func (s *Server) request(client Client, pkt *radius.Packet) auth.Request {
	req := auth.Request{
		User:             rfc2865.UserName_GetString(pkt),
		Actor:            client.actorName(),
		Client:           client.Name,
		NASIdentifier:    rfc2865.NASIdentifier_GetString(pkt),
		CallingStationID: rfc2865.CallingStationID_GetString(pkt),
		State:            rfc2865.State_Get(pkt),
		NumberMatching:   client.NumberMatching,
		UserVerification: client.UserVerification,
		FirstFactor:      client.FirstFactor,
	}
	if !client.ShowsChallenges() {
		// A number to match is shown in an Access-Challenge this NAS
		// would take for a refusal.
		req.NumberMatching = "off"
		req.NoChallenges = true
	}
	if _, ok := pkt.Lookup(rfc2865.NASPort_Type); ok {
		req.NASPort = strconv.FormatUint(uint64(rfc2865.NASPort_Get(pkt)), 10)
	}
	if ip := rfc2865.NASIPAddress_Get(pkt); ip != nil {
		req.NASIPAddress = ip.String()
	}
	if m := otherAuthMethod(pkt); m != "" {
		req.Method = m
		return req
	}
	// No password at all (radtest and some NASes omit an empty one): the
	// empty password, the push trigger.
	req.Password, _ = rfc2865.UserPassword_LookupString(pkt)
	return req
}

// answer sends the reply to a decided Access-Request.
func (s *Server) answer(conn PacketConn, src netip.AddrPort, client *Client, pkt *radius.Packet, key dupKey, req auth.Request, res auth.Result, start time.Time, round *eapRound) {
	s.metrics.Decisions.WithLabelValues(res.Decision.String(), res.Reason).Inc()
	var reply *radius.Packet
	switch res.Decision {
	case auth.Accept:
		reply = newReply(pkt, radius.CodeAccessAccept)
		for _, a := range s.table.Load().GroupAttrs(res.User.Group) {
			reply.Attributes.Add(a.Type, a.Value)
		}
		for _, a := range client.Attrs {
			reply.Attributes.Add(a.Type, a.Value)
		}
	case auth.Challenge:
		reply = newReply(pkt, radius.CodeAccessChallenge)
		if len(res.State) > 0 {
			rfc2865.State_Set(reply, res.State)
		}
	default:
		reply = newReply(pkt, radius.CodeAccessReject)
	}
	if res.ReplyMessage != "" {
		rfc2865.ReplyMessage_SetString(reply, res.ReplyMessage)
	}
	if round != nil && !s.wrapEAP(reply, round, res.State, res.ReplyMessage) {
		reply = newReply(pkt, radius.CodeAccessReject)
		addEAP(reply, eapPacket{code: eapFailure, id: round.respID})
	}
	s.debugPacket("out", src, client.Name, reply)
	s.send(conn, client, src, reply, &key, res.Decision.String())
	took := time.Since(start)
	s.metrics.Latency.Observe(took.Seconds())
	// One line per decision, as FreeRADIUS's "Login OK" / "Login
	// incorrect": what an administrator looks for first. Never the
	// password; the reason is for the log, the NAS gets none.
	if s.log.Enabled(context.Background(), slog.LevelInfo) { // its arguments allocate even when it is off
		s.log.Info("radius: login", "decision", res.Decision.String(), "reason", res.Reason, "user", req.User,
			"client", client.Name, "nas_ip", req.NASIPAddress, "calling_station", req.CallingStationID,
			"serial", res.Serial, "took", took.Round(time.Microsecond))
	}
}

// otherAuthMethod names the authentication method (CHAP, EAP, MS-CHAP) a
// request without User-Password carries instead, which cannot carry an OTP
// we can check; "" for a PAP request or one with no method at all.
func otherAuthMethod(pkt *radius.Packet) string {
	if _, ok := pkt.Lookup(rfc2865.UserPassword_Type); ok {
		return ""
	}
	if _, ok := pkt.Lookup(rfc2865.CHAPPassword_Type); ok {
		return auth.MethodCHAP
	}
	if _, ok := pkt.Lookup(79); ok { // EAP-Message
		return auth.MethodEAP
	}
	for _, a := range pkt.Attributes {
		if a.Type == rfc2865.VendorSpecific_Type && len(a.Attribute) >= 4 &&
			a.Attribute[0] == 0 && a.Attribute[1] == 0 && a.Attribute[2] == 0x01 && a.Attribute[3] == 0x37 { // Microsoft (311)
			return auth.MethodMSCHAP
		}
	}
	return ""
}

// send signs and sends a reply, caching it for retransmissions when key is set.
func (s *Server) send(conn PacketConn, client *Client, src netip.AddrPort, reply *radius.Packet, key *dupKey, label string) {
	mac := client.mac()
	b, err := encodeReply(reply, mac)
	client.putMAC(mac)
	if err != nil {
		s.log.Error("radius: encode reply", "err", err)
		if key != nil {
			s.cache.abort(*key)
		}
		s.drop(DropSendFailed)
		return
	}
	if key != nil {
		s.cache.finish(*key, b, s.now())
	}
	if _, err := conn.WriteToUDPAddrPort(b, src); err != nil {
		s.drop(DropSendFailed, "err", err)
		return
	}
	s.metrics.Responses.WithLabelValues(label).Inc()
}
