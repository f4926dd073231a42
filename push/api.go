package push

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/radmfa/radmfa/internal/keyed"

	"github.com/radmfa/radmfa/store"
)

// APIStore is what the device API needs of the store.
type APIStore interface {
	Activate(ctx context.Context, by, serial string, codeHash []byte, now time.Time, maxAttempts int, seed []byte, d store.Device) (store.Token, error)
	Device(ctx context.Context, serial string) (store.Device, error)
	UpdateDevice(ctx context.Context, by, serial, action string, fn func(*store.Device) error) (store.Device, error)
	Audit(ctx context.Context, e store.AuditEvent) error
	AuditEvents(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
}

// APIDeps are what the device API is built from.
type APIDeps struct {
	Store   APIStore
	Manager *Manager
	Now     func() time.Time
	Logger  *slog.Logger
	Issuer  string
	// MaxActivationAttempts wrong codes void an activation (default 5).
	MaxActivationAttempts int
	// ClockSkew is how far a signed request's time may be from ours (default 2m).
	ClockSkew time.Duration
	// Refused counts refused device requests by reason (may be nil).
	Refused func(reason string)
	// WebPush, when set, is the Web Push provider: its VAPID key is
	// served to web apps, and subscriptions must point at its services.
	WebPush *WebPush
	// UserVerifier checks the device owner's WebAuthn registrations and
	// approvals; nil: a request that wants user verification cannot be
	// approved.
	UserVerifier *UserVerifier
}

// API is the device HTTPS API.
type API struct {
	d APIDeps
	// Refused requests are audited at most auditPerSerial times a minute
	// per serial and auditPerSource per source address: an unsigned
	// request for a known serial cannot fill the audit log.
	auditSerial, auditSource *keyed.Limiter
	// Refused enrollments (wrong, expired or used activation codes) from
	// one source address: activationsPerSource a quarter of an hour, then
	// that address is refused before its code is looked at.
	activations *keyed.Limiter
	nonces      *nonces
	// dummyKey is verified against for a serial nobody enrolled, so that
	// the answer and its time are those of a bad signature.
	dummyKey []byte
	// pages, when set, serves every other path (the user pages).
	pages http.Handler
}

// Mount serves h (the user pages of package web) beside the API, on the
// same listener: every path the API does not have. Call it before
// Handler or Server.
func (a *API) Mount(h http.Handler) { a.pages = h }

// The API's limits on what unauthenticated requests can cost.
const (
	auditPerSerial       = 5
	auditPerSource       = 20
	activationsPerSource = 10
	limiterSlots         = 1 << 14
	maxNonces            = 1 << 18
)

// API paths.
const (
	PathEnroll  = "/v1/enroll"
	PathPending = "/v1/pending"
	PathAnswer  = "/v1/answer"
	PathHistory = "/v1/history"
	PathDevice  = "/v1/device"
	// PathWebPushKey serves the VAPID public key web apps subscribe with.
	PathWebPushKey = "/v1/webpush-key"
	// PathWebAuthnRegister begins, and PathWebAuthnFinish completes, the
	// registration of the device owner's WebAuthn credential (signed).
	PathWebAuthnRegister = "/v1/webauthn/register"
	PathWebAuthnFinish   = "/v1/webauthn/register/finish"
)

// maxBody bounds every request body.
const maxBody = 16 << 10

// NewAPI makes the device API.
func NewAPI(d APIDeps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.MaxActivationAttempts <= 0 {
		d.MaxActivationAttempts = 5
	}
	if d.ClockSkew <= 0 {
		d.ClockSkew = 2 * time.Minute
	}
	if d.Issuer == "" {
		d.Issuer = "radmfa"
	}
	dummy, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("push: dummy key: %v", err)) // the system's randomness failed
	}
	dummyPub, err := dummy.PublicKey.Bytes()
	if err != nil {
		panic(fmt.Sprintf("push: dummy key: %v", err))
	}
	return &API{d: d, dummyKey: dummyPub,
		auditSerial: keyed.New(limiterSlots, time.Minute, auditPerSerial),
		auditSource: keyed.New(limiterSlots, time.Minute, auditPerSource),
		activations: keyed.New(limiterSlots, 15*time.Minute, activationsPerSource),
		nonces:      newNonces(maxNonces)}
}

// Handler routes the API.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathEnroll, a.enroll)
	mux.HandleFunc("POST "+PathPending, a.signed(a.pending))
	mux.HandleFunc("POST "+PathAnswer, a.signed(a.answer))
	mux.HandleFunc("POST "+PathHistory, a.signed(a.history))
	mux.HandleFunc("POST "+PathDevice, a.signed(a.updateDevice))
	mux.HandleFunc("POST "+PathWebAuthnRegister, a.signed(a.webauthnRegister))
	mux.HandleFunc("POST "+PathWebAuthnFinish, a.signed(a.webauthnFinish))
	mux.HandleFunc("GET "+PathWebPushKey, func(w http.ResponseWriter, r *http.Request) {
		if a.d.WebPush == nil {
			a.refuse(w, http.StatusNotFound, "no_webpush", "web push is off on this server")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"public_key": a.d.WebPush.cfg.Key.Public()})
	})
	if a.pages != nil {
		mux.Handle("/", a.pages)
	}
	return mux
}

// Server returns an HTTPS server for the API with conservative limits.
func (a *API) Server(addr string, cert tls.Certificate) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           a.Handler(),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(a.d.Logger.Handler(), slog.LevelDebug),
	}
}

func (a *API) refuse(w http.ResponseWriter, status int, reason, msg string) {
	if a.d.Refused != nil {
		a.d.Refused(reason)
	}
	writeJSON(w, status, ErrorResponse{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
}

// printable checks a device-supplied label: short, no control characters.
func printable(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func validInfo(d DeviceInfo) bool {
	return printable(d.OS, 64) && printable(d.OSVersion, 32) && printable(d.Model, 64) && printable(d.AppVersion, 32)
}

// validAPNsToken: APNs device tokens are hex (32 bytes today; allow up to 100).
func validAPNsToken(s string) bool {
	if s == "" {
		return true
	}
	b, err := hex.DecodeString(s)
	return err == nil && len(b) >= 8 && len(b) <= 100
}

// pushAddress is the device's push address from an APNs token or a web
// push subscription (at most one); ok is false when the request was
// refused.
func (a *API) pushAddress(w http.ResponseWriter, apnsToken string, sub *WebPushSubscription) (string, bool) {
	if sub == nil {
		return apnsToken, true
	}
	if apnsToken != "" {
		a.refuse(w, http.StatusBadRequest, "malformed", "an APNs token or a web push subscription, not both")
		return "", false
	}
	if a.d.WebPush == nil {
		a.refuse(w, http.StatusBadRequest, "no_webpush", "web push is off on this server")
		return "", false
	}
	addr, err := WebPushAddress(*sub, a.d.WebPush.Services())
	if err != nil {
		a.refuse(w, http.StatusBadRequest, "bad_subscription", err.Error())
		return "", false
	}
	return addr, true
}

func (a *API) enroll(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		a.refuse(w, http.StatusRequestEntityTooLarge, "too_large", "request too large")
		return
	}
	var req EnrollRequest
	if err := decodeStrict(body, &req); err != nil {
		a.refuse(w, http.StatusBadRequest, "malformed", "malformed request")
		return
	}
	if req.Serial == "" || !printable(req.Serial, 64) || req.Code == "" || len(req.Code) > 64 ||
		!validInfo(req.Device) || !validAPNsToken(req.APNsToken) {
		a.refuse(w, http.StatusBadRequest, "malformed", "malformed request")
		return
	}
	if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), req.SignPublic); err != nil {
		a.refuse(w, http.StatusBadRequest, "malformed", "sign_public is not a P-256 public key")
		return
	}
	pushAddr, ok := a.pushAddress(w, req.APNsToken, req.WebPush)
	if !ok {
		return
	}
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		a.refuse(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	serverPub := priv.PublicKey().Bytes()
	seed, err := DeriveSeed(priv, req.ECDHPublic, req.Code, req.Serial, req.ECDHPublic, serverPub)
	if err != nil {
		a.refuse(w, http.StatusBadRequest, "malformed", "ecdh_public is not a P-256 public key")
		return
	}
	now := a.d.Now()
	if a.activations.Over(sourceAddr(r), now) {
		a.refuse(w, http.StatusTooManyRequests, "activation_rate", "too many wrong activation codes from this address; try again later")
		return
	}
	tok, err := a.d.Store.Activate(r.Context(), "device:"+sourceAddr(r), req.Serial, HashCode(req.Code), now, a.d.MaxActivationAttempts, seed, store.Device{
		PublicKey: req.SignPublic, APNsToken: pushAddr, OS: req.Device.OS, OSVersion: req.Device.OSVersion, Model: req.Device.Model,
		AppVersion: req.Device.AppVersion, Notifications: req.Device.Notifications})
	if errors.Is(err, store.ErrActivation) {
		a.activations.Allow(sourceAddr(r), now) // a wrong guess from this source
		a.d.Logger.Info("push: enrollment refused", "serial", req.Serial, "remote", r.RemoteAddr)
		a.refuse(w, http.StatusForbidden, "activation", "activation code invalid or expired")
		return
	}
	if err != nil {
		a.d.Logger.Error("push: enrollment", "serial", req.Serial, "err", err)
		a.refuse(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	a.d.Logger.Info("push: device enrolled", "serial", req.Serial, "user", tok.User, "os", req.Device.OS)
	writeJSON(w, http.StatusOK, EnrollResponse{Serial: tok.Serial, User: tok.User, Issuer: a.d.Issuer, ECDHPublic: serverPub,
		Algorithm: tok.Algorithm, Digits: tok.Digits, Period: tok.Period})
}

type signedHandler func(w http.ResponseWriter, r *http.Request, d store.Device, body []byte)

// signed authenticates a device request: known usable push token, time
// within the skew, signature by the device key over path and body.
func (a *API) signed(next signedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r)
		if err != nil {
			a.refuse(w, http.StatusRequestEntityTooLarge, "too_large", "request too large")
			return
		}
		var s Signed
		// Lenient here: the handler decodes the whole body strictly.
		if err := json.Unmarshal(body, &s); err != nil || s.Serial == "" || !printable(s.Serial, 64) {
			a.refuse(w, http.StatusBadRequest, "malformed", "malformed request")
			return
		}
		// Nothing is said about the serial before the signature verifies:
		// an unknown serial, a missing and a bad signature get the same
		// answer, after the same work.
		d, err := a.d.Store.Device(r.Context(), s.Serial)
		known := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			a.d.Logger.Error("push: device", "serial", s.Serial, "err", err)
			a.refuse(w, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		key := d.PublicKey
		if !known {
			key = a.dummyKey
		}
		sig, err := base64.StdEncoding.DecodeString(r.Header.Get(SignatureHeader))
		if err != nil || len(sig) == 0 {
			sig = nil
		}
		if !Verify(key, r.URL.Path, body, sig) || !known {
			reason := "bad_signature"
			switch {
			case !known:
				reason = "unknown_device"
			case sig == nil:
				reason = "unsigned"
			}
			a.refuse(w, http.StatusUnauthorized, reason, "authentication failed")
			if known {
				a.auditUnproven(r, s.Serial, map[string]string{"unsigned": "unsigned request", "bad_signature": "bad signature"}[reason])
			}
			return
		}
		if !d.TokenState.Usable() {
			a.refuse(w, http.StatusForbidden, "token_unusable", "token revoked")
			a.auditRefusal(r, s.Serial, "token not usable")
			return
		}
		now := a.d.Now()
		if skew := now.Sub(time.UnixMilli(s.Time)); skew > a.d.ClockSkew || skew < -a.d.ClockSkew {
			a.refuse(w, http.StatusUnauthorized, "clock_skew", "request time too far from the server's clock")
			a.auditRefusal(r, s.Serial, fmt.Sprintf("request time off by %s", skew.Round(time.Second)))
			return
		}
		if len(s.Nonce) < 16 || !printable(s.Nonce, 64) {
			a.refuse(w, http.StatusBadRequest, "malformed", "nonce required")
			return
		}
		switch a.nonces.add(s.Serial, s.Nonce, time.UnixMilli(s.Time).Add(a.d.ClockSkew), now) {
		case nonceSeen:
			a.refuse(w, http.StatusConflict, "replayed", "request already used")
			a.auditUnproven(r, s.Serial, "replayed request")
			return
		case nonceFull:
			a.refuse(w, http.StatusServiceUnavailable, "busy", "too many requests; try again")
			return
		}
		if now.Sub(d.LastSeen) > time.Minute {
			if _, err := a.d.Store.UpdateDevice(r.Context(), "device", d.Serial, "", func(d *store.Device) error {
				d.LastSeen = now
				return nil
			}); err != nil {
				a.d.Logger.Warn("push: device last seen", "serial", d.Serial, "err", err)
			}
		}
		next(w, r, d, body)
	}
}

// auditUnproven audits a refused request whose sender is not proven (no
// or a bad signature, a replay of a signed request), within the budgets
// per serial and per source address: such requests cost an attacker
// nothing, and each is counted in the metrics anyway.
func (a *API) auditUnproven(r *http.Request, serial, why string) {
	now := a.d.Now()
	// Both budgets are charged, so that neither one serial nor one source
	// can use up the other's.
	bySerial, bySource := a.auditSerial.Allow(serial, now), a.auditSource.Allow(sourceAddr(r), now)
	if bySerial && bySource {
		a.auditRefusal(r, serial, why)
	}
}

// auditRefusal audits a refused device request.
func (a *API) auditRefusal(r *http.Request, serial, why string) {
	action := "device.request"
	if r.URL.Path == PathAnswer {
		action = "push.answer"
	}
	err := a.d.Store.Audit(r.Context(), store.AuditEvent{Actor: "device", Action: action, Serial: serial, Result: "refused",
		Detail: fmt.Sprintf("%s (from %s)", why, r.RemoteAddr)})
	if err != nil {
		a.d.Logger.Error("push: audit", "err", err)
	}
}

func (a *API) pending(w http.ResponseWriter, r *http.Request, d store.Device, body []byte) {
	var req Signed
	if err := decodeStrict(body, &req); err != nil {
		a.refuse(w, http.StatusBadRequest, "malformed", "malformed request")
		return
	}
	reqs, err := a.d.Manager.Pending(r.Context(), d.Serial)
	if err != nil {
		a.d.Logger.Error("push: pending requests", "serial", d.Serial, "err", err)
		a.refuse(w, http.StatusServiceUnavailable, "unavailable", "try again later")
		return
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Created.Before(reqs[j].Created) })
	out := PendingResponse{Requests: []PendingRequest{}}
	for _, p := range reqs {
		out.Requests = append(out.Requests, PendingRequest{ID: p.ID, User: p.Login.User, Client: p.Login.Client,
			NASIdentifier: p.Login.NASIdentifier, NASIPAddress: p.Login.NASIPAddress, CallingStation: p.Login.CallingStation, Location: p.Login.Location, UserVerification: p.Login.RequireUV,
			Created: p.Created.UnixMilli(), Expires: p.Expires.UnixMilli(), Numbers: p.Choices})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) answer(w http.ResponseWriter, r *http.Request, d store.Device, body []byte) {
	var req AnswerRequest
	if err := decodeStrict(body, &req); err != nil || req.ID == "" || len(req.ID) > 64 {
		a.refuse(w, http.StatusBadRequest, "malformed", "malformed request")
		return
	}
	var newCred []byte
	o, err := a.d.Manager.AnswerChecked(r.Context(), d.Serial, req.ID, req.Decision, req.Number, func(pr *Request) error {
		if !pr.Login.RequireUV {
			return nil
		}
		if a.d.UserVerifier == nil {
			return fmt.Errorf("%w: not available on this server", ErrUserVerification)
		}
		var err error
		newCred, err = a.d.UserVerifier.VerifyApproval(d, pr, req.Decision, req.Number, req.Assertion)
		return err
	})
	if err == nil && newCred != nil {
		// The signature count moved on: a cloned authenticator shows.
		if _, uerr := a.d.Store.UpdateDevice(r.Context(), "device", d.Serial, "", func(d *store.Device) error {
			d.WebAuthn = newCred
			return nil
		}); uerr != nil {
			a.d.Logger.Error("push: WebAuthn signature count", "serial", d.Serial, "err", uerr)
		}
	}
	if err != nil {
		status, reason := http.StatusConflict, "answered"
		switch {
		case errors.Is(err, ErrUserVerification):
			status, reason = http.StatusForbidden, "user_verification"
		case errors.Is(err, ErrUnknownRequest), errors.Is(err, ErrForeign):
			// The same answer for both: a device learns nothing of others' requests.
			status, reason = http.StatusNotFound, "unknown_request"
			if errors.Is(err, ErrForeign) {
				reason = "foreign_request"
			}
		case errors.Is(err, ErrLate):
			status, reason = http.StatusGone, "late"
		case errors.Is(err, ErrBadDecision):
			status, reason = http.StatusBadRequest, "malformed"
		case errors.Is(err, ErrUnavailable):
			a.d.Logger.Error("push: answer", "serial", d.Serial, "err", err)
			a.refuse(w, http.StatusServiceUnavailable, "unavailable", "try again later")
			return
		}
		msg := err.Error()
		if reason == "foreign_request" {
			msg = ErrUnknownRequest.Error()
		}
		a.refuse(w, status, reason, strings.TrimPrefix(msg, "push: "))
		a.auditRefusal(r, d.Serial, fmt.Sprintf("%s: id=%s decision=%s", reason, req.ID, req.Decision))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": o.String()})
}

// WebAuthnFinish completes a registration: the credential as
// PublicKeyCredential.toJSON() gives it.
type WebAuthnFinish struct {
	Signed
	Credential json.RawMessage `json:"credential"`
}

func (a *API) webauthnRegister(w http.ResponseWriter, r *http.Request, d store.Device, body []byte) {
	var req Signed
	if err := decodeStrict(body, &req); err != nil {
		a.refuse(w, http.StatusBadRequest, "malformed", "malformed request")
		return
	}
	if a.d.UserVerifier == nil {
		a.refuse(w, http.StatusNotFound, "no_user_verification", "user verification is off on this server")
		return
	}
	opts, err := a.d.UserVerifier.BeginRegistration(d)
	if err != nil {
		a.d.Logger.Error("push: WebAuthn registration", "serial", d.Serial, "err", err)
		a.refuse(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	writeJSON(w, http.StatusOK, opts)
}

func (a *API) webauthnFinish(w http.ResponseWriter, r *http.Request, d store.Device, body []byte) {
	var req WebAuthnFinish
	if err := decodeStrict(body, &req); err != nil || len(req.Credential) == 0 {
		a.refuse(w, http.StatusBadRequest, "malformed", "malformed request")
		return
	}
	if a.d.UserVerifier == nil {
		a.refuse(w, http.StatusNotFound, "no_user_verification", "user verification is off on this server")
		return
	}
	cred, err := a.d.UserVerifier.FinishRegistration(d, req.Credential)
	if err != nil {
		a.refuse(w, http.StatusBadRequest, "bad_registration", strings.TrimPrefix(err.Error(), "push: "))
		a.auditRefusal(r, d.Serial, "webauthn registration: "+err.Error())
		return
	}
	if _, err := a.d.Store.UpdateDevice(r.Context(), "device", d.Serial, "device.webauthn", func(d *store.Device) error {
		d.WebAuthn = cred
		return nil
	}); err != nil {
		a.d.Logger.Error("push: WebAuthn registration", "serial", d.Serial, "err", err)
		a.refuse(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": "registered"})
}

func (a *API) history(w http.ResponseWriter, r *http.Request, d store.Device, body []byte) {
	var req Signed
	if err := decodeStrict(body, &req); err != nil {
		a.refuse(w, http.StatusBadRequest, "malformed", "malformed request")
		return
	}
	ev, err := a.d.Store.AuditEvents(r.Context(), store.AuditFilter{Serial: d.Serial, Action: "push.answer", Limit: 100})
	if err != nil {
		a.d.Logger.Error("push: history", "serial", d.Serial, "err", err)
		a.refuse(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	out := HistoryResponse{Entries: []HistoryEntry{}}
	for _, e := range ev {
		details := e.Detail
		if e.Client != "" {
			details = "client=" + e.Client + " " + details
		}
		out.Entries = append(out.Entries, HistoryEntry{Time: e.At.UnixMilli(), Result: e.Result, Details: details})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) updateDevice(w http.ResponseWriter, r *http.Request, d store.Device, body []byte) {
	var req DeviceUpdate
	if err := decodeStrict(body, &req); err != nil || !validInfo(req.Device) || (req.APNsToken != nil && !validAPNsToken(*req.APNsToken)) {
		a.refuse(w, http.StatusBadRequest, "malformed", "malformed request")
		return
	}
	var newAddr *string
	if req.APNsToken != nil || req.WebPush != nil {
		tok := ""
		if req.APNsToken != nil {
			tok = *req.APNsToken
		}
		addr, ok := a.pushAddress(w, tok, req.WebPush)
		if !ok {
			return
		}
		newAddr = &addr
	}
	now := a.d.Now()
	nd, err := a.d.Store.UpdateDevice(r.Context(), "device", d.Serial, "device.update", func(d *store.Device) error {
		if newAddr != nil {
			d.APNsToken, d.APNsInvalid = *newAddr, false
		}
		d.OS, d.OSVersion, d.Model = req.Device.OS, req.Device.OSVersion, req.Device.Model
		d.AppVersion, d.Notifications = req.Device.AppVersion, req.Device.Notifications
		d.LastSeen = now
		return nil
	})
	if err != nil {
		a.d.Logger.Error("push: device update", "serial", d.Serial, "err", err)
		a.refuse(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"push_state": nd.PushState()})
}

// sourceAddr is the request's source IP address, without the port.
func sourceAddr(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().String()
	}
	return r.RemoteAddr
}
