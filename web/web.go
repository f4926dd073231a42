// Package web is radmfa's pages for users, served on the device API's
// HTTPS listener and embedded in the binary: the self-enrollment page an
// enrollment email links to. The user enters the single-use activation
// code there, and the page shows the new token's QR code and secret for
// any authenticator app, once.
package web

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/internal/keyed"
	"github.com/radmfa/radmfa/store"
)

//go:embed static
var static embed.FS

// Paths of the pages and their API.
const (
	PathEnroll       = "/enroll"
	PathSelfEnroll   = "/v1/self-enroll"
	staticPrefix     = "/static/"
	maxBody          = 4 << 10
	wrongPerSource   = 10 // wrong codes from one address a quarter of an hour
	limiterSlots     = 1 << 14
	defaultAttempts  = 5
	contentSecPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"manifest-src 'self'; worker-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
	// PathApp is the web authenticator (a PWA) and its service worker's
	// scope.
	PathApp = "/app/"
	// PathEnrollQR is the QR code of an enrollment link, for a desktop
	// browser to hand the enrollment to a phone.
	PathEnrollQR = "/enroll/qr"
)

// Enroller redeems self-enrollments; *auth.Service is one.
type Enroller interface {
	RedeemSelf(ctx context.Context, by, serial, code string, maxAttempts int) (auth.Enrolled, error)
}

// Deps are what the pages are built from.
type Deps struct {
	Enroller Enroller
	Now      func() time.Time
	Logger   *slog.Logger
	// MaxAttempts wrong codes void an activation (default 5).
	MaxAttempts int
	// Refused counts refused requests by reason (may be nil).
	Refused func(reason string)
	// PublicURL is where phones reach these pages (the device API's
	// public URL); enrollment QR codes point there.
	PublicURL string
}

// Pages serves the user pages.
type Pages struct {
	d     Deps
	wrong *keyed.Limiter
}

// New makes the pages.
func New(d Deps) *Pages {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = defaultAttempts
	}
	return &Pages{d: d, wrong: keyed.New(limiterSlots, 15*time.Minute, wrongPerSource)}
}

// Handler routes the pages.
func (p *Pages) Handler() http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	files := http.StripPrefix(staticPrefix, http.FileServerFS(sub))
	mux.Handle("GET "+staticPrefix, secure(files))
	mux.Handle("GET "+PathEnroll, secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := static.ReadFile("static/enroll.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
	})))
	mux.Handle("POST "+PathSelfEnroll, secure(http.HandlerFunc(p.selfEnroll)))
	app, _ := fs.Sub(static, "static/app")
	appFiles := http.StripPrefix(PathApp, http.FileServerFS(app))
	mux.Handle("GET "+PathApp, secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".webmanifest") {
			w.Header().Set("Content-Type", "application/manifest+json")
		}
		appFiles.ServeHTTP(w, r)
	})))
	mux.Handle("GET "+PathEnrollQR, secure(http.HandlerFunc(p.enrollQR)))
	return mux
}

// enrollQR draws the enrollment link of a serial (the page's own address,
// which holds no secret) for a phone to scan.
func (p *Pages) enrollQR(w http.ResponseWriter, r *http.Request) {
	serial := r.URL.Query().Get("serial")
	if serial == "" || len(serial) > 64 || strings.ContainsAny(serial, "/?#&%\x00 ") {
		http.Error(w, "bad serial", http.StatusBadRequest)
		return
	}
	base := strings.TrimSuffix(p.d.PublicURL, "/")
	if base == "" {
		base = "https://" + r.Host
	}
	link := base + PathEnroll + "?serial=" + url.QueryEscape(serial)
	png, err := qrPNG(link)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

// secure sets the headers every page carries: nothing framed, nothing
// loaded from elsewhere, no referrer (the link holds the serial), nothing
// cached.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

// SelfEnrollRequest is what the page posts.
type SelfEnrollRequest struct {
	Serial string `json:"serial"`
	Code   string `json:"code"`
}

// SelfEnrolled is what the page shows, once.
type SelfEnrolled struct {
	Serial string `json:"serial"`
	User   string `json:"user"`
	Type   string `json:"type"`
	URI    string `json:"otpauth_uri"`
	Secret string `json:"secret"` // base32, for typing into an app
	QR     string `json:"qr"`     // a data: URL of the URI's QR code (PNG)
}

type errorJSON struct {
	Error string `json:"error"`
}

func (p *Pages) refuse(w http.ResponseWriter, status int, reason, msg string) {
	if p.d.Refused != nil {
		p.d.Refused(reason)
	}
	writeJSON(w, status, errorJSON{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (p *Pages) selfEnroll(w http.ResponseWriter, r *http.Request) {
	src := sourceAddr(r)
	now := p.d.Now()
	if p.wrong.Over(src, now) {
		p.refuse(w, http.StatusTooManyRequests, "rate_limited", "too many wrong codes from this address; try again later")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var req SelfEnrollRequest
	if err == nil {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		err = dec.Decode(&req)
	}
	if err != nil || req.Serial == "" || req.Code == "" || len(req.Serial) > 64 || len(req.Code) > 64 {
		p.refuse(w, http.StatusBadRequest, "bad_request", "send the serial and the activation code")
		return
	}
	code := strings.ToUpper(strings.Join(strings.Fields(strings.ReplaceAll(req.Code, "-", "")), ""))
	en, err := p.d.Enroller.RedeemSelf(r.Context(), "web:"+src, req.Serial, code, p.d.MaxAttempts)
	if errors.Is(err, store.ErrActivation) {
		p.wrong.Allow(src, now)
		p.refuse(w, http.StatusForbidden, "bad_activation", "this activation code is wrong, used or expired; ask your administrator for a new enrollment")
		return
	}
	if err != nil {
		p.d.Logger.Error("web: self-enrollment", "serial", req.Serial, "err", err)
		p.refuse(w, http.StatusInternalServerError, "internal", "the enrollment failed; try again later")
		return
	}
	png, err := qrPNG(en.URI)
	if err != nil {
		p.d.Logger.Error("web: QR code", "serial", req.Serial, "err", err)
		p.refuse(w, http.StatusInternalServerError, "internal", "the enrollment failed; try again later")
		return
	}
	writeJSON(w, http.StatusOK, SelfEnrolled{Serial: en.Token.Serial, User: en.Token.User, Type: en.Token.Type, URI: en.URI,
		Secret: secretOf(en.URI), QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)})
}

// qrPNG is the QR code of s as a PNG.
func qrPNG(s string) ([]byte, error) {
	c, err := qr.Encode(s, qr.M)
	if err != nil {
		return nil, err
	}
	c.Scale = 6
	return c.PNG(), nil
}

// secretOf is the base32 secret of an otpauth URI, grouped by four for
// typing.
func secretOf(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	s := u.Query().Get("secret")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func sourceAddr(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().String()
	}
	return r.RemoteAddr
}
