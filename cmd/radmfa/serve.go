package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/dictionaries"
	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/radius"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/cache"
	"github.com/radmfa/radmfa/store/postgres"
	"github.com/radmfa/radmfa/web"
)

const (
	devClient      = "dev-loopback"
	devSecret      = "testing123"
	devRadiusAddr  = "127.0.0.1:1812"
	devMetricsAddr = "127.0.0.1:9812"
	// devPushTimeout fits radtest's wait (3 tries, 5 s apart) with room
	// for the reply.
	devPushTimeout = 12 * time.Second
)

func serveFlags() []cli.Flag {
	return append([]cli.Flag{
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "acct-addr", Usage: "UDP address to answer RADIUS accounting on, repeatable; `off` answers none (default the first --radius-addr's host, port 1813; a free port when that one's port is 0)", EnvVars: []string{"RADMFA_ACCT_ADDR"}}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "radius-addr", Usage: "UDP address to answer RADIUS on, repeatable (default :1812; 127.0.0.1:1812 with --dev)", EnvVars: []string{"RADMFA_RADIUS_ADDR"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "metrics-addr", Usage: "HTTP address for /metrics (off by default; 127.0.0.1:9812 with --dev)", EnvVars: []string{"RADMFA_METRICS_ADDR"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "dev", Usage: "development mode: loopback addresses, a loopback client with secret testing123 if none exist", EnvVars: []string{"RADMFA_DEV"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-in-flight", Value: 1024, Usage: "Access-Requests evaluated at once; more are dropped (the NAS retries)", EnvVars: []string{"RADMFA_MAX_IN_FLIGHT"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "request-timeout", Value: 30 * time.Second, Usage: "deadline of one evaluation", EnvVars: []string{"RADMFA_REQUEST_TIMEOUT"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "reply-cache-ttl", Value: 30 * time.Second, Usage: "how long replies are kept to answer retransmissions", EnvVars: []string{"RADMFA_REPLY_CACHE_TTL"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "debug-packets", Usage: "log every RADIUS request and reply, decoded (passwords hidden), at info: for setting up a NAS", EnvVars: []string{"RADMFA_DEBUG_PACKETS"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "reload-every", Value: 2 * time.Second, Usage: "how often client changes are picked up", EnvVars: []string{"RADMFA_RELOAD_EVERY"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "shutdown-timeout", Value: 10 * time.Second, Usage: "how long shutdown waits for requests in flight", EnvVars: []string{"RADMFA_SHUTDOWN_TIMEOUT"}}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "dictionary", Usage: "extra FreeRADIUS dictionary file for reply attributes", EnvVars: []string{"RADMFA_DICTIONARY"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "procs", Usage: "CPUs that run radmfa's Go code at once (GOMAXPROCS; 0: all). 1 is fastest where radmfa shares a small machine with other busy processes (README, Performance)", EnvVars: []string{"RADMFA_PROCS"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "gc-headroom", Value: 64, Usage: "MiB the heap may grow between garbage collections at least (more if GOGC's proportion of the live heap is larger); 0: GOGC alone", EnvVars: []string{"RADMFA_GC_HEADROOM"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "pprof", Usage: "also serve /debug/pprof on --metrics-addr (profiling; keep it on loopback)", EnvVars: []string{"RADMFA_PPROF"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "synchronous", Value: "FULL", Usage: "SQLite synchronous: FULL (every answered login is on disk: survives a power loss) or NORMAL (survives a crash of radmfa; a power loss can lose the last logins, and so let their codes be used again)", EnvVars: []string{"RADMFA_SYNCHRONOUS"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "pin-hashes", Value: runtime.NumCPU(), Usage: "PIN checks (argon2id, 19 MiB each) computed at once; a login that finds none free within 200ms is refused (overloaded)", EnvVars: []string{"RADMFA_PIN_HASHES"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "cache-users", Value: 100000, Usage: "users whose tokens are kept in memory, so that their logins need no database read (0: none)", EnvVars: []string{"RADMFA_CACHE_USERS"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "failure-burst", Value: 10, Usage: "failed logins a user may have before they are rate limited", EnvVars: []string{"RADMFA_FAILURE_BURST"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "failure-every", Value: 6 * time.Second, Usage: "then one more failed login per this", EnvVars: []string{"RADMFA_FAILURE_EVERY"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "resubmit-window", Value: 10 * time.Second, Usage: "how long an accepted login answers the same login (client, user, Calling-Station-Id or NAS-Port, password) sent again as a new request, as OpenVPN's plugin does: accept:resubmitted instead of a replay (0: off)", EnvVars: []string{"RADMFA_RESUBMIT_WINDOW"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "eap-prompt", Value: "Passcode:", Usage: "the EAP-GTC prompt that asks for the password (PIN and code, or empty for push)", EnvVars: []string{"RADMFA_EAP_PROMPT"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "audit-syslog", Usage: "also send every audit row to syslog as a JSON line: local, udp://HOST:514 or tcp://HOST:514 (facility auth; with several instances, in one)", EnvVars: []string{"RADMFA_AUDIT_SYSLOG"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "audit-keep", Usage: "delete audit rows older than this (400d, 90d; checked hourly); default: keep everything", EnvVars: []string{"RADMFA_AUDIT_KEEP"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "directory-sync-every", Value: 15 * time.Minute, Usage: "how often users are synced from the directories (radmfa directory add); 0: only by radmfa directory sync", EnvVars: []string{"RADMFA_DIRECTORY_SYNC_EVERY"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "radsec-addr", Usage: "TCP address to answer RadSec (RADIUS over TLS, RFC 6614) on, e.g. :2083 (default off)", EnvVars: []string{"RADMFA_RADSEC_ADDR"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "radsec-cert", Usage: "RadSec: the server's certificate (PEM, with its chain)", EnvVars: []string{"RADMFA_RADSEC_CERT"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "radsec-key", Usage: "RadSec: the server certificate's private key (PEM)", EnvVars: []string{"RADMFA_RADSEC_KEY"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "radsec-ca", Usage: "RadSec: the CA certificates (PEM) that issued the NAS certificates; only those connect", EnvVars: []string{"RADMFA_RADSEC_CA"}}),
	}, append(pushServeFlags(), otpRuleFlags()...)...)
}

func serveCommand() *cli.Command {
	flags := serveFlags()
	return &cli.Command{
		Name:   "serve",
		Usage:  "run the RADIUS server",
		Flags:  flags,
		Before: loadConfig(flags),
		Action: serve,
	}
}

// storeSource builds the radius client table from the store.
type storeSource struct {
	store store.Store
	dict  *radius.Dictionary
	log   *slog.Logger
}

func (s storeSource) Version(ctx context.Context) (int64, error) { return s.store.ClientsVersion(ctx) }

func (s storeSource) Load(ctx context.Context) (*radius.Table, error) {
	cls, err := s.store.Clients(ctx)
	if err != nil {
		return nil, err
	}
	attrs, err := s.store.ReplyAttrs(ctx)
	if err != nil {
		return nil, err
	}
	groups := map[string][]radius.Attr{}
	byClient := map[string][]radius.Attr{}
	for _, a := range attrs {
		enc, err := s.dict.Encode(a.Attr, a.Value)
		if err != nil {
			s.log.Error("serve: reply attribute skipped", "id", a.ID, "err", err)
			continue
		}
		if a.Scope == "group" {
			groups[a.Target] = append(groups[a.Target], enc)
		} else {
			byClient[a.Target] = append(byClient[a.Target], enc)
		}
	}
	out := make([]radius.Client, 0, len(cls))
	for _, c := range cls {
		out = append(out, radius.Client{Name: c.Name, Prefix: c.Prefix, Secret: c.Secret,
			RequireMA: c.RequireMessageAuthenticator, NASType: c.NASType, NumberMatching: c.NumberMatching,
			NASTimeout: c.NASTimeout, NASRetries: c.NASRetries, CertCN: c.CertCN, CertFingerprint: c.CertFingerprint,
			UserVerification: c.UserVerification, FirstFactor: c.FirstFactor,
			Attrs: byClient[c.Name]})
	}
	return radius.NewTable(out, groups), nil
}

// listenRadSec opens the RadSec listener when --radsec-addr is set, with
// its TLS configuration from --radsec-cert, --radsec-key and --radsec-ca.
func listenRadSec(c *cli.Context) (net.Listener, *tls.Config, error) {
	addr := c.String("radsec-addr")
	if addr == "" {
		for _, f := range []string{"radsec-cert", "radsec-key", "radsec-ca"} {
			if c.String(f) != "" {
				return nil, nil, fmt.Errorf("--%s without --radsec-addr: give the address to answer RadSec on (:2083)", f)
			}
		}
		return nil, nil, nil
	}
	for _, f := range []string{"radsec-cert", "radsec-key", "radsec-ca"} {
		if c.String(f) == "" {
			return nil, nil, fmt.Errorf("--radsec-addr needs --radsec-cert, --radsec-key and --radsec-ca (the CA of the NAS certificates)")
		}
	}
	cert, err := tls.LoadX509KeyPair(c.String("radsec-cert"), c.String("radsec-key"))
	if err != nil {
		return nil, nil, fmt.Errorf("--radsec-cert/--radsec-key: %w", err)
	}
	pem, err := os.ReadFile(c.String("radsec-ca"))
	if err != nil {
		return nil, nil, fmt.Errorf("--radsec-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("--radsec-ca %s: no PEM certificate in it", c.String("radsec-ca"))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("radsec: %w", err)
	}
	return ln, radius.RadSecTLS(cert, pool), nil
}

// accountingAddrs are the accounting addresses for --acct-addr flag, given
// the authentication addresses auth: by default the first one's host, port
// 1813 (RFC 2866), or a free port when that one asks for a free port.
func accountingAddrs(auth, flag []string) ([]string, error) {
	if len(flag) == 1 && flag[0] == "off" {
		return nil, nil
	}
	if len(flag) > 0 {
		for _, a := range flag {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("--acct-addr %q: want host:port or off", a)
			}
		}
		return flag, nil
	}
	host, port, err := net.SplitHostPort(auth[0])
	if err != nil {
		return nil, fmt.Errorf("--radius-addr %q: want host:port", auth[0])
	}
	if port != "0" {
		port = "1813"
	}
	return []string{net.JoinHostPort(host, port)}, nil
}

func serve(c *cli.Context) error {
	if c.NArg() != 0 {
		return fmt.Errorf("usage: radmfa serve [flags]")
	}
	log, level, err := leveledLogger(c)
	if err != nil {
		return err
	}
	procs := c.Int("procs")
	if procs < 0 {
		return fmt.Errorf("--procs %d: want 0 (all CPUs) or a number of CPUs", procs)
	}
	if procs > 0 {
		// One P runs every request goroutine on one thread: no wake-ups of
		// idle threads on other CPUs for each packet and each commit.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	}
	headroom := c.Int("gc-headroom")
	if headroom < 0 || headroom > 1<<20 {
		return fmt.Errorf("--gc-headroom %d: want MiB from 0 (off) to 1048576", headroom)
	}
	defer startGCHeadroom(uint64(headroom) << 20)()
	dev := c.Bool("dev")
	addrs := c.StringSlice("radius-addr")
	if len(addrs) == 0 {
		addrs = []string{":1812"}
		if dev {
			addrs = []string{devRadiusAddr}
		}
	}
	acctAddrs, err := accountingAddrs(addrs, c.StringSlice("acct-addr"))
	if err != nil {
		return err
	}
	metricsAddr := c.String("metrics-addr")
	if metricsAddr == "" && dev && !c.IsSet("metrics-addr") {
		metricsAddr = devMetricsAddr
	}
	cfg, err := authConfig(c)
	if err != nil {
		return err
	}
	cfg.FailureBurst, cfg.FailureEvery = c.Int("failure-burst"), c.Duration("failure-every")
	cfg.RequireUserVerification = c.Bool("require-user-verification")
	switch w := c.Duration("resubmit-window"); {
	case w < 0 || w > 5*time.Minute:
		return fmt.Errorf("--resubmit-window %s: want 0 (off) to 5m", w)
	case w == 0:
		cfg.ResubmitWindow = -1
	default:
		cfg.ResubmitWindow = w
	}
	if cfg.FailureBurst <= 0 {
		cfg.FailureBurst = -1 // rate limit off
	}
	dict, err := radius.LoadDictionary(dictionaries.FS, dictionaries.Root, c.StringSlice("dictionary")...)
	if err != nil {
		return err
	}

	if err := checkDataDir(keyDir(c)); err != nil {
		return err
	}
	if db, _ := paths(c); !postgres.IsURL(db) {
		// A restore refuses to replace the database while this runs.
		release, err := holdServing(db)
		if err != nil {
			return err
		}
		defer release()
	}
	backend, err := openStoreWith(c, backendOptions{Synchronous: c.String("synchronous"), Logger: log})
	if err != nil {
		return err
	}
	defer backend.Close()
	if c.Int("cache-users") < 0 {
		return fmt.Errorf("--cache-users %d: want 0 or more", c.Int("cache-users"))
	}
	st := cache.New(backend, cache.Options{Users: c.Int("cache-users")})
	if dev {
		if err := devSetup(c, st); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "radmfa_build_info",
		Help: "Always 1; the labels say which radmfa and which Go built it."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(Version, runtime.Version()).Set(1)
	reg.MustRegister(buildInfo)
	metrics := radius.NewMetrics(reg)
	if col, ok := backend.(prometheus.Collector); ok {
		reg.MustRegister(col)
	}
	var board push.Board
	if pg, ok := backend.(*postgres.Store); ok {
		// Several instances: push requests are shared through the database.
		board = pg.PushBoard()
	}
	ps, err := startPush(c, st, board, log, reg, dev)
	if err != nil {
		return err
	}
	var mgr *push.Manager
	if ps != nil {
		mgr = ps.mgr
		fmt.Fprintf(c.App.Writer, "radmfa: device API on %s (socket %s, certificate pin %s)\n", ps.url, ps.ln.Addr(), ps.pin)
	}
	if c.Int("pin-hashes") < 1 || c.Int("pin-hashes") > 1024 {
		return fmt.Errorf("--pin-hashes %d: want 1 to 1024", c.Int("pin-hashes"))
	}
	hashes := auth.NewHashBudget(c.Int("pin-hashes"))
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "radmfa_auth_pin_hashes_total",
			Help: "PIN hashes computed (real and, for equal timing, dummy ones)."}, func() float64 { return float64(hashes.Hashes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "radmfa_auth_pin_hash_busy_total",
			Help: "Logins refused (overloaded) because no PIN-hash slot freed up in time."}, func() float64 { return float64(hashes.Busy()) }))
	svc := auth.New(auth.Deps{Store: st, Logger: log, Config: cfg, Push: mgr, Hashes: hashes, Directory: dirChecker{st}})
	if ps != nil {
		refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "radmfa_web_refused_total",
			Help: "Self-enrollment page requests refused, by reason."}, []string{"reason"})
		reg.MustRegister(refused)
		ps.api.Mount(web.New(web.Deps{Enroller: svc, Logger: log, PublicURL: ps.url, Refused: func(r string) { refused.WithLabelValues(r).Inc() }}).Handler())
		defer ps.run(log)()
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := radius.NewServer(ctx, radius.Deps{Auth: svc, Accounting: st, Source: storeSource{st, dict, log}, Logger: log, Metrics: metrics,
		Config: radius.Config{MaxInFlight: c.Int("max-in-flight"), RequestTimeout: c.Duration("request-timeout"),
			ReplyCacheTTL: c.Duration("reply-cache-ttl"), ReloadEvery: c.Duration("reload-every"),
			ShutdownTimeout: c.Duration("shutdown-timeout"), DebugPackets: c.Bool("debug-packets"), EAPPrompt: c.String("eap-prompt"), HoldTimeout: c.Duration("push-timeout") + 30*time.Second}})
	if err != nil {
		return err
	}
	conns, err := radius.Listen(addrs)
	if err != nil {
		return err
	}
	acctConns, err := radius.Listen(acctAddrs)
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		return fmt.Errorf("%w (another accounting server there? --acct-addr off answers none)", err)
	}
	radsecLn, radsecTLS, err := listenRadSec(c)
	if err != nil {
		for _, c := range append(conns, acctConns...) {
			c.Close()
		}
		return err
	}
	if radsecLn != nil {
		fmt.Fprintf(c.App.Writer, "radmfa: listening on %s (RadSec, RADIUS over TLS)\n", radsecLn.Addr())
		radsecDone := make(chan struct{})
		go func() {
			defer close(radsecDone)
			srv.ServeRadSec(ctx, radsecLn, radsecTLS)
		}()
		defer func() { <-radsecDone }()
	}
	var httpSrv *http.Server
	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			for _, c := range append(conns, acctConns...) {
				c.Close()
			}
			return fmt.Errorf("metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		if c.Bool("pprof") {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		fmt.Fprintf(c.App.Writer, "radmfa: metrics on http://%s/metrics\n", ln.Addr())
	}
	for _, conn := range conns {
		fmt.Fprintf(c.App.Writer, "radmfa: listening on %s (RADIUS authentication)\n", conn.LocalAddr())
	}
	for _, conn := range acctConns {
		fmt.Fprintf(c.App.Writer, "radmfa: listening on %s (RADIUS accounting)\n", conn.LocalAddr())
	}
	log.Info("serve: started", "version", Version, "radius", addrs, "metrics", metricsAddr, "procs", runtime.GOMAXPROCS(0))
	// Listening on every socket: systemd may start what depends on it.
	sdNotify("READY=1")
	defer sdNotify("STOPPING=1")
	if r, ok := backend.(rotatable); ok {
		// A key rotation (radmfa key rotate) is followed while serving.
		_, keyPath := paths(c)
		keyDone := make(chan struct{})
		go func() { defer close(keyDone); watchKey(ctx, st, r, keyPath, log) }()
		defer func() { <-keyDone }()
	}
	if dest := c.String("audit-syslog"); dest != "" {
		w, err := dialSyslog(dest)
		if err != nil {
			return fmt.Errorf("--audit-syslog: %w", err)
		}
		fwdDone := make(chan struct{})
		go func() { defer close(fwdDone); forwardAudit(ctx, st, w, log) }()
		defer func() { <-fwdDone }()
	}
	if v := c.String("audit-keep"); v != "" {
		keep, err := parseKeep(v)
		if err != nil {
			return fmt.Errorf("--audit-keep: %w", err)
		}
		pruneDone := make(chan struct{})
		go func() { defer close(pruneDone); pruneAudit(ctx, st, keep, log) }()
		defer func() { <-pruneDone }()
	}
	if every := c.Duration("directory-sync-every"); every > 0 {
		syncer := newDirectorySyncer(st, log, max(every, time.Minute), reg)
		syncDone := make(chan struct{})
		go func() { defer close(syncDone); syncer.run(ctx) }()
		defer func() { <-syncDone }()
	}
	defer onHangup(ctx, func() { reload(c, level, srv, log) })()
	err = srv.Serve(ctx, conns, acctConns...)
	if httpSrv != nil {
		shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		httpSrv.Shutdown(shutCtx)
		cancel()
	}
	log.Info("serve: stopped")
	return err
}

// devSetup makes the loopback client `make run` users need and tells them
// what to do next.
func devSetup(c *cli.Context, st store.Store) error {
	cls, err := st.Clients(c.Context)
	if err != nil {
		return err
	}
	if len(cls) == 0 {
		if _, err := st.CreateClient(c.Context, actor(), store.Client{Name: devClient,
			Prefix: netip.MustParsePrefix("127.0.0.1/8"), Secret: []byte(devSecret), NASType: "dev"}); err != nil {
			return friendly(err)
		}
		fmt.Fprintf(c.App.Writer, "radmfa: dev mode: added client %s for 127.0.0.0/8 with secret %s\n", devClient, devSecret)
	}
	w := c.App.Writer
	fmt.Fprintf(w, `radmfa: dev mode. In another terminal:
  ./bin/radmfa --data-dir %[1]s user add alice
  ./bin/radmfa --data-dir %[1]s token enroll alice        # scan the QR code, or:
  oathtool --totp -b SECRET                                 # SECRET from the URI
  radtest alice CODE 127.0.0.1 0 %[2]s
Push (token enroll alice --type push; the phone approves): the push waits %[3]s under --dev,
less than radtest's 15 s:
  radtest alice "" 127.0.0.1 0 %[2]s
To wait longer (--push-timeout), radclient waits as long as you ask:
  echo 'User-Name=alice,User-Password=""' | radclient -t 30 -r 1 127.0.0.1 auth %[2]s
`, c.String("data-dir"), devSecret, devPushTimeout)
	return nil
}

// checkDataDir refuses to serve from a directory that other users could
// read or write (the database holds sealed seeds and the audit log, and
// whoever can replace files there can replace the database), or that
// belongs to another user. A directory that does not exist yet is created
// 0700 when the store opens.
func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("data dir %s has mode %04o; it must not be accessible to group or others (chmod 700 %s)", dir, perm, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("data dir %s belongs to uid %d, not to the user radmfa serve runs as (uid %d); chown it or run as its owner", dir, st.Uid, os.Geteuid())
	}
	return nil
}

// onHangup calls fn at every SIGHUP until ctx ends or the returned func is
// called. Without it a SIGHUP would end the server.
func onHangup(ctx context.Context, fn func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				fn()
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// reload is what a SIGHUP does: the client table (and reply attributes)
// is read again at once, and the log level is taken from the --config
// file, where there is one and it names a level. What else a restart
// would change (addresses, the store) stays as it is.
func reload(c *cli.Context, level *slog.LevelVar, srv *radius.Server, log *slog.Logger) {
	sdNotify("RELOADING=1")
	defer sdNotify("READY=1")
	srv.Reload()
	path := c.String("config")
	if path == "" {
		log.Info("serve: SIGHUP: client table reload requested; no --config file to take a log level from")
		return
	}
	src, err := altsrc.NewYamlSourceFromFile(path)
	if err != nil {
		log.Error("serve: SIGHUP: config not read; the log level stays", "config", path, "err", err)
		return
	}
	name, err := src.String("log-level")
	if err != nil || name == "" {
		log.Info("serve: SIGHUP: client table reload requested; the config names no log-level", "config", path)
		return
	}
	lvl, err := parseLevel(name)
	if err != nil {
		log.Error("serve: SIGHUP: the log level stays", "config", path, "err", err)
		return
	}
	level.Set(lvl)
	log.Log(context.Background(), max(lvl, slog.LevelInfo), "serve: SIGHUP: client table reload requested; log level set", "level", lvl.String())
}
