package main

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/otp"
)

// Config is one load run.
type Config struct {
	Target string
	Secret string
	Mode   string // hotp, totp, pap, push
	Users  int
	// FirstUser is the number of the first user (userFIRST..): two load
	// tools driving two instances at once use users of their own.
	FirstUser int
	Requests  int           // stop after this many (0: only Duration)
	Duration  time.Duration // stop after this long (0: only Requests)
	Parallel  int
	// Rate sends this many requests per second in all, each on schedule
	// whether or not earlier ones were answered (an open loop, as logins
	// arrive in a storm), with at most Parallel in flight; 0 sends the next
	// request when a reply frees a place (a closed loop). Batched engine only.
	Rate float64
	// Sockets spreads the requests in flight over this many sockets, each
	// driven by one goroutine sending and reading in batches; 0 gives
	// every request in flight a socket and goroutine of its own (always so
	// for push and RetryEvery).
	Sockets     int
	Timeout     time.Duration
	Retransmit  int           // copies of each request sent back to back
	RetryEvery  time.Duration // resend an unanswered request this often, as a NAS does (0: never)
	ReuseCodes  bool          // totp: reuse the current code (servers without replay protection)
	Password    string
	MA          bool
	AllowRemote bool
	StateFile   string // hotp: next counter of every user, kept across runs
	Now         func() time.Time

	// Push mode: the device API (or the data dir the server announced it
	// in), how long the in-process phones wait before approving, and where
	// to read the server's metrics and memory.
	DataDir      string
	DeviceAPI    string
	DevicePin    string
	ApproveAfter time.Duration
	// ApproveSpread spreads the approvals uniformly over this much more.
	ApproveSpread time.Duration
	MetricsURL    string
	ServerPID     int
}

// Report is what a run measured.
type Report struct {
	Target     string  `json:"target"`
	Mode       string  `json:"mode"`
	Users      int     `json:"users"`
	Parallel   int     `json:"parallel"`
	Requests   int     `json:"requests"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"requests_per_second"`
	Accepts    int     `json:"accepts"`
	Rejects    int     `json:"rejects"`
	Challenges int     `json:"challenges"`
	Timeouts   int     `json:"timeouts"`
	P50ms      float64 `json:"p50_ms"`
	P90ms      float64 `json:"p90_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`

	// Rate mode: the rate asked for, and how late requests were sent
	// against it (the in-flight limit was reached, or the load tool itself
	// fell behind).
	Rate      float64 `json:"rate,omitempty"`
	BehindP99 float64 `json:"behind_schedule_p99_ms,omitempty"`
	BehindMax float64 `json:"behind_schedule_max_ms,omitempty"`

	// Push mode and server probes (-1 / 0 when not measured).
	PushesSent         float64 `json:"pushes_sent"`
	ApproveToAcceptP50 float64 `json:"approve_to_accept_p50_ms,omitempty"`
	ApproveToAcceptP99 float64 `json:"approve_to_accept_p99_ms,omitempty"`
	PeakPending        float64 `json:"peak_pending_pushes,omitempty"`
	BaseRSSMiB         float64 `json:"server_base_rss_mib,omitempty"`
	PeakRSSMiB         float64 `json:"server_rss_at_peak_mib,omitempty"`
	RSSPerPendingKiB   float64 `json:"server_rss_per_pending_kib,omitempty"`
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "send Access-Requests and report throughput and latency",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "target", Value: "127.0.0.1:1812", Usage: "RADIUS server"},
			&cli.StringFlag{Name: "secret", Value: "testing123", Usage: "shared secret"},
			&cli.StringFlag{Name: "mode", Value: "hotp", Usage: "hotp (fresh counters), totp (each user once per step), pap (fixed password), push (empty password; in-process phones approve)"},
			&cli.IntFlag{Name: "users", Value: 1000, Usage: "users user0000..user(N-1) with radmfa-load seed's seeds"},
			&cli.IntFlag{Name: "first-user", Usage: "start at this user: userFIRST..user(FIRST+N-1)"},
			&cli.IntFlag{Name: "requests", Aliases: []string{"n"}, Value: 10000, Usage: "requests to send (0: run for --duration)"},
			&cli.DurationFlag{Name: "duration", Usage: "run at most this long"},
			&cli.IntFlag{Name: "parallel", Aliases: []string{"p"}, Value: 32, Usage: "requests in flight (with --rate: at most)"},
			&cli.Float64Flag{Name: "rate", Usage: "send this many requests per second in all, each on schedule whether or not earlier ones were answered (open loop); 0: send the next when a reply comes (closed loop)"},
			&cli.IntFlag{Name: "sockets", Value: 1, Usage: "sockets the requests in flight are spread over, each sending and reading in batches (sendmmsg/recvmmsg); 0: a socket and goroutine per request in flight (push and --retry-every always work so)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "wait this long for a reply"},
			&cli.IntFlag{Name: "retransmit", Value: 1, Usage: "send every request this many times (a retransmission storm)"},
			&cli.DurationFlag{Name: "retry-every", Usage: "resend an unanswered request this often until --timeout, as a NAS does"},
			&cli.BoolFlag{Name: "reuse-codes", Usage: "totp: reuse the current code (for servers without replay protection)"},
			&cli.StringFlag{Name: "password", Usage: "pap: the password (default anchor-pw-I, as ../shared/bench sets up)"},
			&cli.BoolFlag{Name: "message-authenticator", Value: true, Usage: "send Message-Authenticator"},
			&cli.StringFlag{Name: "state-file", Usage: "hotp: file keeping each user's next counter across runs"},
			&cli.BoolFlag{Name: "allow-remote", Usage: "allow a target that is not on the loopback network"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.StringFlag{Name: "data-dir", Usage: "push: the server's data dir (device API URL and pin); seed --type push users there"},
			&cli.StringFlag{Name: "device-api", Usage: "push: device API URL (default: from --data-dir)"},
			&cli.StringFlag{Name: "device-pin", Usage: "push: device API certificate pin (default: from --data-dir)"},
			&cli.DurationFlag{Name: "approve-after", Usage: "push: phones approve this long after the trigger"},
			&cli.DurationFlag{Name: "approve-spread", Usage: "push: and up to this much later, at random (spreads the approvals)"},
			&cli.StringFlag{Name: "metrics-url", Usage: "server /metrics URL: pushes sent, pending pushes"},
			&cli.IntFlag{Name: "server-pid", Usage: "server process id: resident memory (Linux /proc)"},
		},
		Action: func(c *cli.Context) error {
			cfg := Config{Target: c.String("target"), Secret: c.String("secret"), Mode: c.String("mode"),
				Users: c.Int("users"), FirstUser: c.Int("first-user"), Requests: c.Int("requests"), Duration: c.Duration("duration"),
				Parallel: c.Int("parallel"), Rate: c.Float64("rate"), Sockets: c.Int("sockets"), Timeout: c.Duration("timeout"), Retransmit: c.Int("retransmit"), RetryEvery: c.Duration("retry-every"),
				ReuseCodes: c.Bool("reuse-codes"), Password: c.String("password"), MA: c.Bool("message-authenticator"),
				AllowRemote: c.Bool("allow-remote"), StateFile: c.String("state-file"), DataDir: c.String("data-dir"),
				DeviceAPI: c.String("device-api"), DevicePin: c.String("device-pin"), ApproveAfter: c.Duration("approve-after"), ApproveSpread: c.Duration("approve-spread"),
				MetricsURL: c.String("metrics-url"), ServerPID: c.Int("server-pid")}
			rep, err := Run(c.Context, cfg)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return json.NewEncoder(os.Stdout).Encode(rep)
			}
			rep.Print(os.Stdout)
			return nil
		},
	}
}

// Print writes the report as text.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "target %s mode %s users %d parallel %d\n", r.Target, r.Mode, r.Users, r.Parallel)
	fmt.Fprintf(w, "requests %d in %.2fs: %.0f req/s\n", r.Requests, r.Seconds, r.PerSecond)
	fmt.Fprintf(w, "accept %d reject %d challenge %d timeout %d\n", r.Accepts, r.Rejects, r.Challenges, r.Timeouts)
	fmt.Fprintf(w, "latency p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms\n", r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	if r.Rate > 0 {
		fmt.Fprintf(w, "rate %.0f req/s asked; sent behind schedule p99 %.2fms max %.2fms\n", r.Rate, r.BehindP99, r.BehindMax)
	}
	if r.PushesSent >= 0 {
		fmt.Fprintf(w, "pushes sent %.0f\n", r.PushesSent)
	}
	if r.Mode == "push" {
		fmt.Fprintf(w, "approve-to-accept p50 %.2fms p99 %.2fms\n", r.ApproveToAcceptP50, r.ApproveToAcceptP99)
	}
	if r.PeakPending > 0 {
		fmt.Fprintf(w, "peak pending pushes %.0f; server RSS %.1f MiB before, %.1f MiB at the peak: %.1f KiB per pending push\n",
			r.PeakPending, r.BaseRSSMiB, r.PeakRSSMiB, r.RSSPerPendingKiB)
	}
}

func (c *Config) check() error {
	switch c.Mode {
	case "hotp", "totp", "pap", "push":
	default:
		return fmt.Errorf("--mode %q: want hotp, totp, pap or push", c.Mode)
	}
	if c.Users <= 0 || c.Parallel <= 0 || c.Retransmit <= 0 || c.Timeout <= 0 {
		return errors.New("--users, --parallel, --retransmit and --timeout must be positive")
	}
	if c.Sockets < 0 || c.FirstUser < 0 {
		return errors.New("--sockets and --first-user must not be negative")
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return errors.New("--rate must be a number of requests per second, not negative (0: closed loop)")
	}
	if c.Rate > 0 && !c.batched() {
		return errors.New("--rate needs the batched engine: --sockets 1 or more, not with push or --retry-every")
	}
	if c.batched() {
		c.Sockets = min(c.Sockets, c.Parallel)
		if (c.Parallel+c.Sockets-1)/c.Sockets > maxPerSocket {
			return fmt.Errorf("--parallel %d over --sockets %d: at most %d in flight per socket (its Identifiers)", c.Parallel, c.Sockets, maxPerSocket)
		}
	}
	if c.Requests <= 0 && c.Duration <= 0 {
		return errors.New("give --requests or --duration: a run must be bounded")
	}
	if c.Duration > time.Hour {
		return errors.New("--duration is at most 1h")
	}
	if c.Duration <= 0 {
		c.Duration = maxRun // a count-bounded run is time-bounded too
	}
	if (c.Mode == "hotp" || c.Mode == "push") && c.Parallel > c.Users {
		return fmt.Errorf("%s: --parallel must not exceed --users (one request per user in flight)", c.Mode)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	host, _, err := net.SplitHostPort(c.Target)
	if err != nil {
		return fmt.Errorf("--target %q: %w", c.Target, err)
	}
	if !c.AllowRemote {
		ips, err := net.LookupIP(host)
		if err != nil {
			return fmt.Errorf("--target %q: %w", c.Target, err)
		}
		for _, ip := range ips {
			if !ip.IsLoopback() {
				return fmt.Errorf("--target %s is not on the loopback network; add --allow-remote to load a lab server", c.Target)
			}
		}
	}
	return nil
}

// batched reports whether the run uses the batched engine.
func (c *Config) batched() bool {
	return c.Sockets > 0 && c.Mode != "push" && c.RetryEvery == 0
}

// maxRun bounds a run given only a request count.
const maxRun = 10 * time.Minute

// deadServer is how many timeouts with no reply at all end a run early.
const deadServer = 64

// errNoReply ends a run that got no reply to deadServer requests.
func errNoReply(cfg Config) error {
	return fmt.Errorf("no reply from %s to %d requests: is the server running, and is the secret right?", cfg.Target, deadServer)
}

// population hands out users so that each is used by one request at a time
// and, for TOTP, at most once per step.
type population struct {
	cfg      Config
	free     chan int
	mu       sync.Mutex
	counters []uint64
	lastStep []int64
	// seeds holds user u's seed at [u*sha1.Size:], derived before the
	// timed run (OTP modes); the caller's coder computes the codes.
	seeds []byte
}

func newPopulation(cfg Config) (*population, error) {
	p := &population{cfg: cfg, free: make(chan int, cfg.Users), counters: make([]uint64, cfg.Users), lastStep: make([]int64, cfg.Users)}
	for i := range cfg.Users {
		p.free <- i
	}
	if cfg.Mode == "hotp" || cfg.Mode == "totp" {
		p.seeds = make([]byte, 0, cfg.Users*sha1.Size)
		for i := range cfg.Users {
			p.seeds = append(p.seeds, AnchorSeed(cfg.FirstUser+i)...)
		}
	}
	if cfg.StateFile != "" {
		b, err := os.ReadFile(cfg.StateFile)
		if err == nil {
			var m map[string]uint64
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, fmt.Errorf("--state-file: %w", err)
			}
			for i := range p.counters {
				p.counters[i] = m[UserName(p.cfg.FirstUser+i)]
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--state-file: %w", err)
		}
	}
	return p, nil
}

func (p *population) save() error {
	if p.cfg.StateFile == "" {
		return nil
	}
	m := make(map[string]uint64, len(p.counters))
	for i, c := range p.counters {
		m[UserName(p.cfg.FirstUser+i)] = c
	}
	b, _ := json.Marshal(m)
	return os.WriteFile(p.cfg.StateFile, b, 0o600)
}

// take returns a user and the password to send, the code computed with the
// caller's c; done must be called after.
func (p *population) take(ctx context.Context, c *coder) (user int, password string, err error) {
	for {
		select {
		case u := <-p.free:
			switch p.cfg.Mode {
			case "push":
				return u, "", nil
			case "pap":
				pw := p.cfg.Password
				if pw == "" {
					pw = fmt.Sprintf("anchor-pw-%d", u)
				}
				return u, pw, nil
			case "hotp":
				p.mu.Lock()
				n := p.counters[u]
				p.counters[u]++ // whatever the answer, this code is spent
				p.mu.Unlock()
				return u, c.at(p.seed(u), n), nil
			default:
				step := otp.Step(p.cfg.Now().Unix(), 30)
				p.mu.Lock()
				used := p.lastStep[u] >= step
				if !used || p.cfg.ReuseCodes {
					p.lastStep[u] = step
				}
				p.mu.Unlock()
				if used && !p.cfg.ReuseCodes {
					p.free <- u
					// Every user may have logged in this step: wait a little.
					select {
					case <-time.After(time.Millisecond):
					case <-ctx.Done():
						return 0, "", ctx.Err()
					}
					continue
				}
				return u, c.at(p.seed(u), uint64(step)), nil
			}
		case <-ctx.Done():
			return 0, "", ctx.Err()
		}
	}
}

func (p *population) done(u int) { p.free <- u }

// seed is user u's seed (OTP modes).
func (p *population) seed(u int) []byte { return p.seeds[u*sha1.Size : (u+1)*sha1.Size] }

type outcome struct {
	code    radius.Code // 0: timeout
	latency time.Duration
	// approved: from the phone's answer to the Access-Accept (push mode).
	approved time.Duration
	// behind: how much later than its schedule the request was sent (--rate).
	behind time.Duration
}

// Run performs one load run.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.check(); err != nil {
		return Report{}, err
	}
	pop, err := newPopulation(cfg)
	if err != nil {
		return Report{}, err
	}
	raddr, err := net.ResolveUDPAddr("udp", cfg.Target)
	if err != nil {
		return Report{}, err
	}
	var ph *phones
	if cfg.Mode == "push" {
		if ph, err = newPhones(cfg); err != nil {
			return Report{}, err
		}
	}
	probe := serverProbe{pid: cfg.ServerPID, metrics: cfg.MetricsURL}
	pushesBefore := probe.metric(`radmfa_push_requests_total{result="started"}`)
	baseRSS := probe.rss()
	pk := &peak{}
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	if cfg.Mode == "push" && (probe.pid > 0 || probe.metrics != "") {
		go probe.watch(probeCtx, pk)
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var n counters
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	var results [][]outcome
	var wg sync.WaitGroup
	errCh := make(chan error, max(cfg.Parallel, cfg.Sockets))
	start := time.Now()
	if cfg.batched() {
		// A goroutine per socket is all the work there is: leave the other
		// CPUs to the server under test (unless GOMAXPROCS says otherwise).
		if os.Getenv("GOMAXPROCS") == "" && cfg.Sockets < runtime.GOMAXPROCS(0) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Sockets))
		}
		results = make([][]outcome, cfg.Sockets)
		for i := range cfg.Sockets {
			c, bc, err := dialBatch(raddr)
			if err != nil {
				return Report{}, err
			}
			// Spread the requests in flight over the sockets.
			depth := cfg.Parallel / cfg.Sockets
			if i < cfg.Parallel%cfg.Sockets {
				depth++
			}
			w := &batchWorker{cfg: cfg, pop: pop, conn: bc, depth: depth, n: &n, abort: abort}
			if cfg.Rate > 0 {
				w.pace = &pacer{start: start, rate: cfg.Rate / float64(cfg.Sockets)}
			}
			wg.Go(func() {
				defer c.Close()
				if err := w.run(ctx); err != nil {
					errCh <- err
				}
				results[i] = w.out
			})
		}
	} else {
		results = make([][]outcome, cfg.Parallel)
		for w := range cfg.Parallel {
			conn, err := net.DialUDP("udp", nil, raddr)
			if err != nil {
				return Report{}, err
			}
			wg.Go(func() {
				defer conn.Close()
				buf := make([]byte, radius.MaxPacketLength)
				c := newCoder()
				var id byte
				for ctx.Err() == nil {
					if cfg.Requests > 0 && n.sent.Add(1) > int64(cfg.Requests) {
						return
					}
					u, pw, err := pop.take(ctx, c)
					if err != nil {
						return
					}
					id++
					var answered chan time.Time
					if ph != nil {
						answered = make(chan time.Time, 1)
						go func() { answered <- ph.approve(ctx, u) }()
					}
					o, err := exchange(conn, buf, cfg, id, UserName(cfg.FirstUser+u), pw)
					if answered != nil {
						end := time.Now()
						if at := <-answered; !at.IsZero() && o.code == radius.CodeAccessAccept {
							o.approved = end.Sub(at)
						}
					}
					pop.done(u)
					if err != nil {
						errCh <- err
						return
					}
					results[w] = append(results[w], o)
					if o.code != 0 {
						n.replies.Add(1)
					} else if n.timeouts.Add(1) >= deadServer && n.replies.Load() == 0 {
						abort(errNoReply(cfg))
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errCh)
	if err := <-errCh; err != nil {
		return Report{}, err
	}
	if err := context.Cause(ctx); err != nil && n.replies.Load() == 0 && n.timeouts.Load() >= deadServer {
		return Report{}, err
	}
	if err := pop.save(); err != nil {
		return Report{}, err
	}
	stopProbe()
	rep := report(cfg, slices.Concat(results...), elapsed)
	rep.PushesSent = -1
	if after := probe.metric(`radmfa_push_requests_total{result="started"}`); after >= 0 && pushesBefore >= 0 {
		rep.PushesSent = after - pushesBefore
	}
	pk.mu.Lock()
	if pk.pending > 0 {
		rep.PeakPending = pk.pending
		rep.BaseRSSMiB, rep.PeakRSSMiB = float64(baseRSS)/(1<<20), float64(pk.rss)/(1<<20)
		if baseRSS > 0 {
			rep.RSSPerPendingKiB = float64(pk.rss-baseRSS) / 1024 / pk.pending
		}
	}
	pk.mu.Unlock()
	return rep, nil
}

// buildRequest encodes an Access-Request, signed with a
// Message-Authenticator when cfg.MA.
func buildRequest(cfg Config, id byte, user, pw string) ([]byte, error) {
	secret := []byte(cfg.Secret)
	p := radius.New(radius.CodeAccessRequest, secret)
	p.Identifier = id
	rfc2865.UserName_SetString(p, user)
	rfc2865.UserPassword_SetString(p, pw)
	rfc2865.NASIdentifier_SetString(p, "radmfa-load")
	if cfg.MA {
		p.Attributes.Add(80, make(radius.Attribute, 16))
	}
	req, err := p.Encode()
	if err != nil {
		return nil, err
	}
	if cfg.MA {
		m := hmac.New(md5.New, secret)
		m.Write(req)
		copy(req[len(req)-16:], m.Sum(nil))
	}
	return req, nil
}

// exchange sends one request (Retransmit times) and waits for its reply.
func exchange(conn *net.UDPConn, buf []byte, cfg Config, id byte, user, pw string) (outcome, error) {
	secret := []byte(cfg.Secret)
	req, err := buildRequest(cfg, id, user, pw)
	if err != nil {
		return outcome{}, err
	}
	start := time.Now()
	for range cfg.Retransmit {
		if _, err := conn.Write(req); err != nil {
			return outcome{}, err
		}
	}
	deadline := start.Add(cfg.Timeout)
	retry := deadline
	if cfg.RetryEvery > 0 {
		retry = start.Add(cfg.RetryEvery)
	}
	for {
		if retry.Before(deadline) {
			conn.SetReadDeadline(retry)
		} else {
			conn.SetReadDeadline(deadline)
		}
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && retry.Before(deadline) {
				if _, err := conn.Write(req); err != nil {
					return outcome{}, err
				}
				retry = retry.Add(cfg.RetryEvery)
				continue
			}
			if errors.As(err, &ne) && ne.Timeout() {
				return outcome{latency: cfg.Timeout}, nil
			}
			// ICMP port unreachable and the like: count as no answer.
			if time.Now().Before(deadline) {
				continue
			}
			return outcome{latency: cfg.Timeout}, nil
		}
		// Replies to earlier requests (late or duplicated) are skipped.
		if n < 20 || buf[1] != id || !radius.IsAuthenticResponse(buf[:n], req, secret) {
			continue
		}
		return outcome{code: radius.Code(buf[0]), latency: time.Since(start)}, nil
	}
}

func report(cfg Config, all []outcome, elapsed time.Duration) Report {
	r := Report{Target: cfg.Target, Mode: cfg.Mode, Users: cfg.Users, Parallel: cfg.Parallel, Requests: len(all),
		Seconds: elapsed.Seconds(), Rate: cfg.Rate}
	if elapsed > 0 {
		r.PerSecond = float64(len(all)) / elapsed.Seconds()
	}
	lat := make([]time.Duration, 0, len(all))
	for _, o := range all {
		switch o.code {
		case radius.CodeAccessAccept:
			r.Accepts++
		case radius.CodeAccessReject:
			r.Rejects++
		case radius.CodeAccessChallenge:
			r.Challenges++
		default:
			r.Timeouts++
			continue
		}
		lat = append(lat, o.latency)
	}
	r.P50ms, r.P90ms, r.P99ms, r.MaxMs = percentile(lat, .50), percentile(lat, .90), percentile(lat, .99), percentile(lat, 1)
	var appr []time.Duration
	for _, o := range all {
		if o.approved > 0 {
			appr = append(appr, o.approved)
		}
	}
	r.ApproveToAcceptP50, r.ApproveToAcceptP99 = percentile(appr, .50), percentile(appr, .99)
	if cfg.Rate > 0 {
		behind := make([]time.Duration, len(all))
		for i, o := range all {
			behind[i] = o.behind
		}
		r.BehindP99, r.BehindMax = percentile(behind, .99), percentile(behind, 1)
	}
	return r
}

// percentile of durations in milliseconds (sorts d).
func percentile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[int(q*float64(len(d)-1))]) / float64(time.Millisecond)
}
