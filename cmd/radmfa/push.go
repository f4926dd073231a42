package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/radmfa/radmfa/internal/geoip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
)

// Settings the server announces for the CLI beside it.
const (
	settingPublicURL = "push.public_url"
	settingCertPin   = "push.cert_pin"
)

// certPaths returns the device API certificate and key; own is true for
// the self-signed pair in the data dir.
func certPaths(c *cli.Context) (cert, key string, own bool) {
	cert, key = c.String("tls-cert"), c.String("tls-key")
	if cert == "" && key == "" {
		dir := c.String("data-dir")
		return filepath.Join(dir, "device-api.crt"), filepath.Join(dir, "device-api.key"), true
	}
	return cert, key, false
}

// validPublicURL checks a device API URL: https, a host, nothing else.
func validPublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("--public-url %q: want https://host[:port]", s)
	}
	return u, nil
}

// deviceAPIEndpoint finds where phones reach the device API and the pin of
// its certificate: flags first, then what the running server announced,
// then the data dir's own self-signed certificate (made now if missing, so
// the pin is the one the server will use).
func deviceAPIEndpoint(c *cli.Context, st store.Store) (string, string, error) {
	ctx := c.Context
	pub := c.String("public-url")
	if pub == "" {
		var err error
		if pub, err = st.Setting(ctx, settingPublicURL); err != nil {
			return "", "", err
		}
	}
	if pub == "" {
		return "", "", errors.New("the device API's public URL is unknown: start `radmfa serve` with --http-addr (and --public-url) once, or pass --public-url")
	}
	u, err := validPublicURL(pub)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile, own := certPaths(c)
	if !own {
		pin, err := push.CertFilePin(certFile)
		return strings.TrimSuffix(pub, "/"), pin, err
	}
	pin, err := st.Setting(ctx, settingCertPin)
	if err != nil {
		return "", "", err
	}
	if pin == "" {
		if err := push.EnsureCert(certFile, keyFile, []string{u.Hostname()}, time.Now()); err != nil {
			return "", "", err
		}
		if pin, err = push.CertFilePin(certFile); err != nil {
			return "", "", err
		}
	}
	return strings.TrimSuffix(pub, "/"), pin, nil
}

func pushEnrollFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "serial", Usage: "enroll this inventory token (a returned one) anew; push: or issue a new activation for the user's push token (the earlier code stops working)"},
		&cli.DurationFlag{Name: "activation-lifetime", Value: auth.DefaultActivationLifetime, Usage: "push: how long the activation code works"},
		&cli.IntFlag{Name: "activation-length", Value: auth.DefaultActivationLength, Usage: "push: activation code length, 8-32 characters"},
	}
}

func tokenEnrollPush(c *cli.Context, e *env) error {
	for _, f := range []string{"digits", "algorithm", "period"} {
		if c.IsSet(f) {
			return fmt.Errorf("--%s: push tokens are TOTP, SHA1, 6 digits, 30 s", f)
		}
	}
	pin, err := readPIN(c)
	if err != nil {
		return err
	}
	var mail *recipient
	if c.Bool("email") {
		if c.IsSet("serial") {
			return errors.New("--serial and --email: an emailed enrollment makes a new token")
		}
		r, err := enrollmentRecipient(c, e, c.Args().First())
		if err != nil {
			return err
		}
		mail = &r
	}
	pubURL, pin256, err := deviceAPIEndpoint(c, e.store)
	if err != nil {
		return err
	}
	serial := c.String("serial")
	if serial != "" {
		if err := auth.ValidSerial(serial); err != nil {
			return err
		}
	}
	en, err := e.auth.EnrollPush(c.Context, e.by, auth.PushEnrollRequest{User: c.Args().First(), Serial: serial, PIN: pin,
		Lifetime: c.Duration("activation-lifetime"), CodeLength: c.Int("activation-length")})
	if err != nil {
		return friendly(err)
	}
	if mail != nil {
		return sendEnrollment(c, e, mail.m, mail.pubURL, mail.to, en.Token.User, en, auth.TypePush)
	}
	uri := push.Enrollment{URL: pubURL, Serial: en.Token.Serial, Code: en.Code, Pin: pin256, User: en.Token.User,
		Issuer: c.String("issuer")}.URI()
	if c.Bool("json") {
		return writeJSON(c.App.Writer, map[string]string{"serial": en.Token.Serial, "activation_uri": uri,
			"expires": en.Expires.UTC().Format(time.RFC3339)})
	}
	w := c.App.Writer
	fmt.Fprintf(w, "Serial:  %s\nUser:    %s\nType:    push (TOTP, SHA1, 6 digits, 30 s)\nExpires: %s\nURI:     %s\n",
		en.Token.Serial, en.Token.User, en.Expires.UTC().Format(time.RFC3339), uri)
	// There is no app store app yet: say what activates the token today.
	fmt.Fprintln(w, "Activate the push token with this URI on the device that will approve logins (today the reference")
	fmt.Fprintln(w, "authenticator: radmfa-device enroll 'URI'). The activation code in it works once, until it expires.")
	if !c.Bool("no-qr") {
		return drawQR(w, uri)
	}
	return nil
}

// deviceJSON is the device part of `token show`.
type deviceJSON struct {
	Target     string `json:"target"`      // OS and version
	DeviceType string `json:"device_type"` // model
	AppVersion string `json:"app_version,omitempty"`
	PushOTP    string `json:"push_otp"` // Enabled, Disabled, Not Applicable
	Delivery   string `json:"delivery"` // apns, poll, apns (token invalid)
	EnrolledAt string `json:"enrolled_at,omitempty"`
	LastSeen   string `json:"last_seen,omitempty"`
}

func toDeviceJSON(d store.Device) *deviceJSON {
	if d.PublicKey == nil {
		return &deviceJSON{PushOTP: store.PushNotApplicable, Delivery: "-"}
	}
	out := &deviceJSON{Target: strings.TrimSpace(d.OS + " " + d.OSVersion), DeviceType: d.Model, AppVersion: d.AppVersion,
		PushOTP: d.PushState(), Delivery: "poll", EnrolledAt: d.EnrolledAt.Format(time.RFC3339)}
	webPush := strings.HasPrefix(d.APNsToken, push.WebPushPrefix)
	switch {
	case webPush && d.APNsInvalid:
		out.Delivery = "web push (subscription gone: polling)"
	case webPush:
		out.Delivery = "web push"
	case d.APNsToken != "" && d.APNsInvalid:
		out.Delivery = "apns (device token invalid: polling)"
	case d.APNsToken != "":
		out.Delivery = "apns"
	}
	if !d.LastSeen.IsZero() {
		out.LastSeen = d.LastSeen.Format(time.RFC3339)
	}
	return out
}

// tokenDevice returns the device section for a token ("" type: none).
func tokenDevice(ctx context.Context, st store.Store, t store.Token) (*deviceJSON, error) {
	if t.Type != auth.TypePush {
		return nil, nil
	}
	d, err := st.Device(ctx, t.Serial)
	if errors.Is(err, store.ErrNotFound) {
		return toDeviceJSON(store.Device{}), nil
	}
	if err != nil {
		return nil, err
	}
	return toDeviceJSON(d), nil
}

// pushServe is the device API and push manager of a running server.
type pushServe struct {
	mgr      *push.Manager
	api      *push.API
	url, pin string
	ln       net.Listener
	cert     tls.Certificate
}

// pushCertHosts lists the names the self-signed certificate carries.
func pushCertHosts(u *url.URL) []string {
	hosts := []string{u.Hostname()}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	return hosts
}

func pushServeFlags() []cli.Flag {
	return []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "http-addr", Usage: "TCP address of the device API (HTTPS) phones enroll and answer pushes on (off by default; 127.0.0.1:8443 with --dev)", EnvVars: []string{"RADMFA_HTTP_ADDR"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "push-timeout", Value: 25 * time.Second, Usage: "how long a push login waits for the phone (keep it below the NAS timeout x retries)", EnvVars: []string{"RADMFA_PUSH_TIMEOUT"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "number-matching", Usage: "push logins show a number the phone must pick (per client: client add --number-matching)", EnvVars: []string{"RADMFA_NUMBER_MATCHING"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "push-fraud-lock", Value: time.Hour, Usage: "push is refused for a user this long after they report fraud", EnvVars: []string{"RADMFA_PUSH_FRAUD_LOCK"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "push-burst", Value: 3, Usage: "push triggers a user may make at once", EnvVars: []string{"RADMFA_PUSH_BURST"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "push-every", Value: 20 * time.Second, Usage: "then one more push trigger per this", EnvVars: []string{"RADMFA_PUSH_EVERY"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-pending-pushes", Value: 20000, Usage: "requests held for pushes at once, all users: pending pushes and the retries joined to them (at most 4 a push)", EnvVars: []string{"RADMFA_MAX_PENDING_PUSHES"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "push-recheck", Value: time.Second, Usage: "with --db postgres://: how often the pushes held here are re-checked in the database, should a notification of an answer on another instance be lost", EnvVars: []string{"RADMFA_PUSH_RECHECK"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "push-provider", Value: "auto", Usage: "apns, log, none (devices poll) or auto (apns when --apns-key-file is set, log with --dev, else none)", EnvVars: []string{"RADMFA_PUSH_PROVIDER"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "require-user-verification", Usage: "a push approval must carry the phone owner's WebAuthn verification (fingerprint, face, screen lock), registered by the web app at enrollment; per client: client add|set --user-verification", EnvVars: []string{"RADMFA_REQUIRE_USER_VERIFICATION"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "geoip-db", Usage: "a MaxMind-format City database (GeoLite2-City.mmdb): push requests show the city and country of the Calling-Station-Id", EnvVars: []string{"RADMFA_GEOIP_DB"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "webpush", Value: true, Usage: "deliver pushes to web apps through the browsers' push services (Web Push with VAPID; the key pair is kept in DATA-DIR/vapid.key)", EnvVars: []string{"RADMFA_WEBPUSH"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "webpush-subject", Usage: "VAPID contact the push services may reach you at: mailto:ADDRESS or an https URL (default: --public-url)", EnvVars: []string{"RADMFA_WEBPUSH_SUBJECT"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "webpush-ca", Usage: "CA certificates (PEM) to trust for a push service of your own, besides the system's", EnvVars: []string{"RADMFA_WEBPUSH_CA"}}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "webpush-service", Usage: "push service host (and its subdomains) a web app's subscription may point at, repeatable (default the browsers' own: fcm.googleapis.com, push.services.mozilla.com, web.push.apple.com, notify.windows.com)", EnvVars: []string{"RADMFA_WEBPUSH_SERVICE"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "apns-key-file", Usage: "APNs token-auth key (.p8)", EnvVars: []string{"RADMFA_APNS_KEY_FILE"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "apns-key-id", Usage: "APNs key id", EnvVars: []string{"RADMFA_APNS_KEY_ID"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "apns-team-id", Usage: "Apple developer team id", EnvVars: []string{"RADMFA_APNS_TEAM_ID"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "apns-topic", Usage: "the authenticator app's bundle id", EnvVars: []string{"RADMFA_APNS_TOPIC"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "apns-sandbox", Usage: "use the APNs development environment", EnvVars: []string{"RADMFA_APNS_SANDBOX"}}),
	}
}

// pushMetrics registers the push counters.
func pushMetrics(reg prometheus.Registerer) (push.Metrics, func(string)) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "radmfa_push_requests_total",
		Help: "Push triggers: started, joined (a NAS retry, or a failover from another instance), refused_pending, refused_joined, refused_rate, refused_overloaded, refused_unavailable (the shared database could not be reached)."}, []string{"result"})
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "radmfa_push_outcomes_total",
		Help: "How push requests ended."}, []string{"outcome"})
	notes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "radmfa_push_notifications_total",
		Help: "Notifications: sent, failed, device_gone."}, []string{"result"})
	pending := prometheus.NewGauge(prometheus.GaugeOpts{Name: "radmfa_push_pending", Help: "Push requests waiting for the phone."})
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "radmfa_device_api_refused_total",
		Help: "Device API requests refused, by reason."}, []string{"reason"})
	reg.MustRegister(requests, outcomes, notes, pending, refused)
	return push.Metrics{
		Requests:      func(r string) { requests.WithLabelValues(r).Inc() },
		Outcomes:      func(o string) { outcomes.WithLabelValues(o).Inc() },
		Notifications: func(r string) { notes.WithLabelValues(r).Inc() },
		Pending:       pending.Add,
	}, func(r string) { refused.WithLabelValues(r).Inc() }
}

// startPush sets up push logins when the device API is configured: the
// manager, the provider, the HTTPS listener, and the settings the CLI reads.
func startPush(c *cli.Context, st store.Store, board push.Board, log *slog.Logger, reg prometheus.Registerer, dev bool) (*pushServe, error) {
	addr := c.String("http-addr")
	if addr == "" && dev && !c.IsSet("http-addr") {
		addr = "127.0.0.1:8443"
	}
	if addr == "" {
		return nil, nil
	}
	timeout := c.Duration("push-timeout")
	if dev && !c.IsSet("push-timeout") {
		// radtest gives up after 15 s (3 tries, 5 s apart): a push must
		// end before, or an approval at human speed lets nobody in.
		timeout = devPushTimeout
	}
	if timeout < 5*time.Second || timeout > 10*time.Minute {
		return nil, fmt.Errorf("--push-timeout %s: want 5s to 10m", timeout)
	}
	var provider push.Provider
	switch kind := c.String("push-provider"); {
	case kind == "apns" || (kind == "auto" && c.String("apns-key-file") != ""):
		p, err := push.NewAPNs(push.APNsConfig{KeyFile: c.String("apns-key-file"), KeyID: c.String("apns-key-id"),
			TeamID: c.String("apns-team-id"), Topic: c.String("apns-topic"), Sandbox: c.Bool("apns-sandbox")}, log)
		if err != nil {
			return nil, err
		}
		provider = p
	case kind == "log" || (kind == "auto" && dev):
		provider = push.LogProvider{Logger: log}
	case kind == "none" || kind == "auto":
	default:
		return nil, fmt.Errorf("--push-provider %q: want apns, log, none or auto", kind)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("device API: %w", err)
	}
	pub := c.String("public-url")
	if pub == "" {
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			if host, err = os.Hostname(); err != nil {
				host = "localhost"
			}
		}
		pub = "https://" + net.JoinHostPort(host, port)
	}
	u, err := validPublicURL(pub)
	if err != nil {
		ln.Close()
		return nil, err
	}
	certFile, keyFile, own := certPaths(c)
	if own {
		if err := push.EnsureCert(certFile, keyFile, pushCertHosts(u), time.Now()); err != nil {
			ln.Close()
			return nil, err
		}
	}
	cert, pin, err := push.LoadCert(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, err
	}
	pub = strings.TrimSuffix(pub, "/")
	for k, v := range map[string]string{settingPublicURL: pub, settingCertPin: pin} {
		if err := st.SetSetting(c.Context, k, v); err != nil {
			ln.Close()
			return nil, err
		}
	}
	var wp *push.WebPush
	if c.Bool("webpush") {
		key, err := push.LoadOrCreateVAPIDKey(filepath.Join(keyDir(c), "vapid.key"))
		if err != nil {
			ln.Close()
			return nil, err
		}
		subject := c.String("webpush-subject")
		if subject == "" {
			subject = pub
		}
		client, err := webPushClient(c.String("webpush-ca"))
		if err != nil {
			ln.Close()
			return nil, err
		}
		if wp, err = push.NewWebPush(push.WebPushConfig{Key: key, Subject: subject, Services: c.StringSlice("webpush-service"), Client: client}, log); err != nil {
			ln.Close()
			return nil, err
		}
		// Each device gets its notifications from the provider of its
		// kind: APNs for the iOS app's token, Web Push for a web app.
		provider = push.Providers{APNs: provider, WebPush: wp}
	}
	var locate func(string) string
	if f := c.String("geoip-db"); f != "" {
		loc, err := geoip.Open(f)
		if err != nil {
			ln.Close()
			return nil, err
		}
		locate = loc.Locate
	}
	metrics, refused := pushMetrics(reg)
	mgr := push.NewManager(push.Deps{Store: st, Provider: provider, Logger: log, Metrics: metrics, Config: push.Config{
		Timeout: timeout, NumberMatching: c.Bool("number-matching"), FraudLock: c.Duration("push-fraud-lock"),
		TriggerBurst: c.Int("push-burst"), TriggerEvery: c.Duration("push-every"), MaxPending: c.Int("max-pending-pushes"),
		Recheck: c.Duration("push-recheck")},
		Board: board, Locate: locate})
	// WebAuthn needs a domain name as the relying party (not an IP
	// address): without one, approvals that need the owner's verification
	// cannot be given.
	uv, err := push.NewUserVerifier(pub, c.String("issuer"), nil)
	if err != nil {
		if c.Bool("require-user-verification") {
			ln.Close()
			return nil, fmt.Errorf("--require-user-verification: %w (WebAuthn needs --public-url with a domain name)", err)
		}
		log.Info("push: user verification (WebAuthn) unavailable: --public-url needs a domain name", "err", err)
		uv = nil
	}
	api := push.NewAPI(push.APIDeps{Store: st, Manager: mgr, Logger: log, Issuer: c.String("issuer"), Refused: refused, WebPush: wp, UserVerifier: uv})
	return &pushServe{mgr: mgr, api: api, url: pub, pin: pin, ln: ln, cert: cert}, nil
}

// webPushClient is the HTTP client push services are reached with: the
// system's CAs, and those of caFile when set.
func webPushClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--webpush-ca: %w", err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--webpush-ca %s: no PEM certificate in it", caFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}}, nil
}

// run serves the device API until shutdown is called.
func (p *pushServe) run(log *slog.Logger) (shutdown func()) {
	srv := p.api.Server("", p.cert)
	go func() {
		if err := srv.ServeTLS(p.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("device API", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		p.mgr.Close()
	}
}
