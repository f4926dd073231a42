package push

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Web Push (RFC 8030) with message encryption (RFC 8291, aes128gcm of
// RFC 8188) and VAPID (RFC 8292), from the standard library's crypto: the
// protocol is small and fully specified, and a dependency would hold the
// server's signing key for no gain.

// WebPushPrefix marks a device's push address as a Web Push subscription
// (the JSON of a WebPushSubscription follows) rather than an APNs token.
const WebPushPrefix = "webpush:"

// WebPushSubscription is a browser's push subscription
// (PushSubscription.toJSON(): keys in unpadded base64url).
type WebPushSubscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256DH string `json:"p256dh"` // the browser's P-256 key, uncompressed
		Auth   string `json:"auth"`   // 16 random bytes
	} `json:"keys"`
}

// DefaultPushServices are the hosts (and their subdomains) of the
// browsers' push services a subscription may point at: the server sends
// requests to a subscription's endpoint, so an arbitrary one would let a
// device make it send requests into its own network.
var DefaultPushServices = []string{"fcm.googleapis.com", "push.services.mozilla.com", "web.push.apple.com", "notify.windows.com"}

// parse checks a subscription and returns its keys.
func (s WebPushSubscription) parse(services []string) (u *url.URL, p256dh, auth []byte, err error) {
	u, err = url.Parse(s.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(s.Endpoint) > 2048 || u.User != nil {
		return nil, nil, nil, errors.New("the endpoint is not an https URL")
	}
	if !allowedService(u, services) {
		return nil, nil, nil, fmt.Errorf("the endpoint's host %s is no known push service", u.Hostname())
	}
	if p256dh, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(s.Keys.P256DH, "=")); err != nil || len(p256dh) != 65 {
		return nil, nil, nil, errors.New("p256dh is not a P-256 point")
	}
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return nil, nil, nil, errors.New("p256dh is not a P-256 point")
	}
	if auth, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(s.Keys.Auth, "=")); err != nil || len(auth) != 16 {
		return nil, nil, nil, errors.New("auth is not 16 bytes")
	}
	return u, p256dh, auth, nil
}

func allowedService(u *url.URL, services []string) bool {
	host := strings.ToLower(u.Hostname())
	for _, s := range services {
		s = strings.ToLower(s)
		if h, port, err := net.SplitHostPort(s); err == nil {
			// host:port: exactly that (a push service of one's own).
			if host == h && u.Port() == port {
				return true
			}
			continue
		}
		if host == s || strings.HasSuffix(host, "."+s) {
			return true
		}
	}
	return false
}

// WebPushAddress is the push address a device stores for a subscription,
// checked against the allowed push services.
func WebPushAddress(s WebPushSubscription, services []string) (string, error) {
	if _, _, _, err := s.parse(services); err != nil {
		return "", fmt.Errorf("push: web push subscription: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	return WebPushPrefix + string(b), nil
}

// VAPIDKey is the server's VAPID key pair (RFC 8292): browsers bind a
// subscription to its public key, and every push request is signed with it.
type VAPIDKey struct {
	priv *ecdsa.PrivateKey
}

// LoadOrCreateVAPIDKey reads the key pair from file (PEM, 0600), making
// it first when the file does not exist.
func LoadOrCreateVAPIDKey(file string) (*VAPIDKey, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("push: VAPID key: %w", err)
		}
		if err := pem.Encode(f, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}); err != nil {
			f.Close()
			return nil, fmt.Errorf("push: VAPID key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("push: VAPID key: %w", err)
		}
		return &VAPIDKey{priv: k}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("push: VAPID key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("push: VAPID key %s: no PEM block", file)
	}
	k, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("push: VAPID key %s: not a P-256 key", file)
	}
	return &VAPIDKey{priv: k}, nil
}

// Public is the public key as browsers take it (applicationServerKey):
// the uncompressed point in unpadded base64url.
func (k *VAPIDKey) Public() string {
	pub, _ := k.priv.PublicKey.ECDH()
	return base64.RawURLEncoding.EncodeToString(pub.Bytes())
}

// jwt is a VAPID JWT (ES256) for the push service at aud.
func (k *VAPIDKey) jwt(aud, sub string, exp time.Time) (string, error) {
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"aud": aud, "exp": exp.Unix(), "sub": sub})
	signing := enc.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`)) + "." + enc.EncodeToString(claims)
	h := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), nil
}

// WebPushConfig configures the Web Push provider.
type WebPushConfig struct {
	Key *VAPIDKey
	// Subject is the VAPID contact: a mailto: or https: URL.
	Subject string
	// Services are the allowed push service hosts (DefaultPushServices
	// when empty).
	Services []string
	// Client sends the requests (tests give one trusting their CA).
	Client *http.Client
	// Backoff is the first retry delay (default 250ms), doubling up to 5s.
	Backoff time.Duration
	Now     func() time.Time
}

// WebPush delivers notifications to browsers' push services.
type WebPush struct {
	cfg WebPushConfig
	log *slog.Logger
}

// NewWebPush makes a Web Push provider.
func NewWebPush(cfg WebPushConfig, log *slog.Logger) (*WebPush, error) {
	if cfg.Key == nil {
		return nil, errors.New("push: web push needs a VAPID key")
	}
	if !strings.HasPrefix(cfg.Subject, "mailto:") && !strings.HasPrefix(cfg.Subject, "https://") {
		return nil, fmt.Errorf("push: VAPID subject %q: want a mailto: address or an https URL", cfg.Subject)
	}
	if len(cfg.Services) == 0 {
		cfg.Services = DefaultPushServices
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 250 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &WebPush{cfg: cfg, log: log}, nil
}

// Services are the push services subscriptions may point at.
func (w *WebPush) Services() []string { return w.cfg.Services }

// webPushMessage is what the service worker receives: the request id and
// a generic title, never the login's details (the app fetches those over
// the device API).
type webPushMessage struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

// Notify encrypts n for the subscription in its DeviceToken and sends it,
// retrying 429, 5xx and transport errors with backoff until ctx ends. 404
// and 410 mean the subscription is gone (ErrDeviceGone).
func (w *WebPush) Notify(ctx context.Context, n Notification) error {
	var sub WebPushSubscription
	if err := json.Unmarshal([]byte(strings.TrimPrefix(n.DeviceToken, WebPushPrefix)), &sub); err != nil {
		return fmt.Errorf("%w: web push subscription unreadable", ErrDeviceGone)
	}
	u, p256dh, auth, err := sub.parse(w.cfg.Services)
	if err != nil {
		return fmt.Errorf("%w: web push subscription: %v", ErrDeviceGone, err)
	}
	msg, _ := json.Marshal(webPushMessage{ID: n.ID, Title: n.Title, Body: n.Body})
	body, err := EncryptWebPush(msg, p256dh, auth)
	if err != nil {
		return fmt.Errorf("push: web push: %w", err)
	}
	now := w.cfg.Now()
	aud := u.Scheme + "://" + u.Host
	ttl := int(n.Expires.Sub(now).Seconds())
	ttl = max(ttl, 0)
	delay := w.cfg.Backoff
	for attempt := 1; ; attempt++ {
		jwt, err := w.cfg.Key.jwt(aud, w.cfg.Subject, now.Add(12*time.Hour))
		if err != nil {
			return fmt.Errorf("push: VAPID: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("push: web push: %w", err)
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Encoding", "aes128gcm")
		req.Header.Set("TTL", fmt.Sprint(ttl))
		req.Header.Set("Urgency", "high")
		req.Header.Set("Topic", n.ID[:min(len(n.ID), 32)])
		req.Header.Set("Authorization", "vapid t="+jwt+", k="+w.cfg.Key.Public())
		resp, err := w.cfg.Client.Do(req)
		retry := false
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			switch {
			case resp.StatusCode >= 200 && resp.StatusCode < 300:
				return nil
			case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
				return fmt.Errorf("%w: push service %d", ErrDeviceGone, resp.StatusCode)
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
				retry = true
				err = fmt.Errorf("push service %d", resp.StatusCode)
			default:
				return fmt.Errorf("push: the push service refused the notification: %d", resp.StatusCode)
			}
		} else {
			retry = true
		}
		if !retry {
			return err
		}
		w.log.Debug("push: web push attempt failed; retrying", "id", n.ID, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("push: web push: gave up after %d attempts: %w", attempt, err)
		case <-n.Done:
			return fmt.Errorf("push: web push: request answered before delivery: %w", err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
		now = w.cfg.Now()
	}
}

// EncryptWebPush encrypts a push message for a subscription's keys (RFC
// 8291): one aes128gcm record (RFC 8188) under a key agreed by ECDH with
// a new key of the server's and the subscription's auth secret.
func EncryptWebPush(plaintext, uaPublic, authSecret []byte) ([]byte, error) {
	ua, err := ecdh.P256().NewPublicKey(uaPublic)
	if err != nil {
		return nil, err
	}
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return encryptWebPush(plaintext, ua, as, authSecret, salt)
}

func encryptWebPush(plaintext []byte, ua *ecdh.PublicKey, as *ecdh.PrivateKey, authSecret, salt []byte) ([]byte, error) {
	shared, err := as.ECDH(ua)
	if err != nil {
		return nil, err
	}
	asPublic := as.PublicKey().Bytes()
	keyInfo := append(append([]byte("WebPush: info\x00"), ua.Bytes()...), asPublic...)
	ikm, err := hkdf.Key(sha256.New, shared, authSecret, string(keyInfo), 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	const recordSize = 4096
	if len(plaintext)+1+16 > recordSize {
		return nil, errors.New("message too long for one record")
	}
	padded := append(append([]byte(nil), plaintext...), 2) // the last record's delimiter
	header := make([]byte, 16+4+1+len(asPublic))
	copy(header, salt)
	binary.BigEndian.PutUint32(header[16:], recordSize)
	header[20] = byte(len(asPublic))
	copy(header[21:], asPublic)
	return gcm.Seal(header, nonce, padded, nil), nil
}

// DecryptWebPush undoes EncryptWebPush with the subscription's private key
// and auth secret, as a browser does (tests, and the fake push service).
func DecryptWebPush(body []byte, ua *ecdh.PrivateKey, authSecret []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, idlen := body[:16], int(body[20])
	if len(body) < 21+idlen {
		return nil, errors.New("short body")
	}
	as, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, err
	}
	shared, err := ua.ECDH(as)
	if err != nil {
		return nil, err
	}
	keyInfo := append(append([]byte("WebPush: info\x00"), ua.PublicKey().Bytes()...), as.Bytes()...)
	ikm, err := hkdf.Key(sha256.New, shared, authSecret, string(keyInfo), 32)
	if err != nil {
		return nil, err
	}
	prk, _ := hkdf.Extract(sha256.New, ikm, salt)
	cek, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	pt, err := gcm.Open(nil, nonce, body[21+idlen:], nil)
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(pt, 2)
	if i < 0 || len(bytes.TrimRight(pt[i+1:], "\x00")) != 0 {
		return nil, errors.New("no record delimiter")
	}
	return pt[:i], nil
}

// VerifyVAPID checks a VAPID Authorization header for the push service at
// aud at now (tests, and the fake push service): the JWT's ES256
// signature with the k= key, its audience and its expiry. It returns the
// public key.
func VerifyVAPID(header, aud string, now time.Time) (string, error) {
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return "", errors.New("not a vapid authorization")
	}
	var tok, key string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			tok = v
		case "k":
			key = v
		}
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || key == "" {
		return "", errors.New("malformed vapid authorization")
	}
	enc := base64.RawURLEncoding
	pubBytes, err := enc.DecodeString(key)
	if err != nil {
		return "", err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pubBytes)
	if err != nil {
		return "", err
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return "", errors.New("bad signature encoding")
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return "", errors.New("bad signature")
	}
	claimsJSON, err := enc.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(claimsJSON, &claims); err != nil {
		return "", err
	}
	if claims.Aud != aud || claims.Exp <= now.Unix() || claims.Exp > now.Add(24*time.Hour).Unix() || claims.Sub == "" {
		return "", fmt.Errorf("claims %+v not for %s at %s", claims, aud, now)
	}
	return key, nil
}

// Providers routes each notification to the provider of its device's push
// address: Web Push for a subscription, APNs for a device token.
type Providers struct {
	APNs    Provider // nil: APNs devices poll
	WebPush Provider // nil: web apps poll
}

// Notify sends n through the provider its device address names.
func (p Providers) Notify(ctx context.Context, n Notification) error {
	prov := p.APNs
	if strings.HasPrefix(n.DeviceToken, WebPushPrefix) {
		prov = p.WebPush
	}
	if prov == nil {
		return ErrNoProvider
	}
	return prov.Notify(ctx, n)
}

// ErrNoProvider: no provider delivers to this kind of device; it polls.
var ErrNoProvider = errors.New("push: no provider for this device")
