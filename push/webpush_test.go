package push

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 8291 Appendix A: the example's keys, salt and message give its
// encrypted body, byte for byte.
func TestWebPushEncryptionRFC8291Vector(t *testing.T) {
	as, err := ecdh.P256().NewPrivateKey(b64(t, "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
	if err != nil {
		t.Fatal(err)
	}
	ua, err := ecdh.P256().NewPrivateKey(b64(t, "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	auth := b64(t, "BTBZMqHH6r4Tts7J_aSIgg")
	got, err := encryptWebPush([]byte("When I grow up, I want to be a watermelon"), ua.PublicKey(), as, auth, b64(t, "DGv6ra1nlYgDCS1FRnbzlw"))
	if err != nil {
		t.Fatal(err)
	}
	want := "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
	if s := base64.RawURLEncoding.EncodeToString(got); s != want {
		t.Fatalf("encrypted:\n%s\nwant\n%s", s, want)
	}
	pt, err := DecryptWebPush(got, ua, auth)
	if err != nil || string(pt) != "When I grow up, I want to be a watermelon" {
		t.Fatalf("decrypted %q, %v", pt, err)
	}
}

// fakePushService is a push service for tests: it checks each request's
// VAPID authorization and decrypts its message with the subscription's
// keys; statuses are answered in turn (then 201).
type fakePushService struct {
	srv      *httptest.Server
	ua       *ecdh.PrivateKey
	auth     []byte
	mu       sync.Mutex
	statuses []int
	got      []webPushMessage
	errs     []error
	headers  []http.Header
}

func newFakePushService(t *testing.T, statuses ...int) *fakePushService {
	t.Helper()
	f := &fakePushService{statuses: statuses, auth: make([]byte, 16)}
	rand.Read(f.auth)
	f.ua, _ = ecdh.P256().GenerateKey(rand.Reader)
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.headers = append(f.headers, r.Header.Clone())
		aud := "https://" + r.Host
		if _, err := VerifyVAPID(r.Header.Get("Authorization"), aud, time.Now()); err != nil {
			f.errs = append(f.errs, err)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		pt, err := DecryptWebPush(body, f.ua, f.auth)
		var m webPushMessage
		if err == nil {
			err = json.Unmarshal(pt, &m)
		}
		if err != nil || r.Header.Get("Content-Encoding") != "aes128gcm" {
			f.errs = append(f.errs, errors.Join(err, errors.New("encoding "+r.Header.Get("Content-Encoding"))))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.got = append(f.got, m)
		if len(f.statuses) > 0 {
			s := f.statuses[0]
			f.statuses = f.statuses[1:]
			w.WriteHeader(s)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePushService) subscription() WebPushSubscription {
	var s WebPushSubscription
	s.Endpoint = f.srv.URL + "/push/abc123"
	s.Keys.P256DH = base64.RawURLEncoding.EncodeToString(f.ua.PublicKey().Bytes())
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(f.auth)
	return s
}

func (f *fakePushService) host() string { u, _ := url.Parse(f.srv.URL); return u.Host }

func TestWebPushNotify(t *testing.T) {
	key, err := LoadOrCreateVAPIDKey(filepath.Join(t.TempDir(), "vapid.key"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		statuses []int
		wantErr  error
		requests int
	}{
		{"delivered", nil, nil, 1},
		{"busy, then delivered", []int{429, 503}, nil, 3},
		{"subscription gone (410)", []int{410}, ErrDeviceGone, 1},
		{"subscription unknown (404)", []int{404}, ErrDeviceGone, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePushService(t, tc.statuses...)
			wp, err := NewWebPush(WebPushConfig{Key: key, Subject: "mailto:mfa@example.com", Services: []string{f.host()},
				Client: f.srv.Client(), Backoff: time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			addr, err := WebPushAddress(f.subscription(), wp.Services())
			if err != nil {
				t.Fatal(err)
			}
			err = Providers{WebPush: wp}.Notify(context.Background(), Notification{DeviceToken: addr, ID: "req-1", Title: "Login request",
				Expires: time.Now().Add(20 * time.Second), Done: make(chan struct{})})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Notify: %v, want %v", err, tc.wantErr)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.errs) != 0 || len(f.got) != tc.requests || f.got[0].ID != "req-1" || f.got[0].Title != "Login request" {
				t.Fatalf("push service: got %+v, errors %v", f.got, f.errs)
			}
			if ttl := f.headers[0].Get("TTL"); ttl == "" || ttl == "0" || f.headers[0].Get("Urgency") != "high" {
				t.Fatalf("headers %v", f.headers[0])
			}
		})
	}
}

func TestWebPushSubscriptionChecks(t *testing.T) {
	f := newFakePushService(t)
	good := f.subscription()
	tests := []struct {
		name   string
		change func(*WebPushSubscription)
		want   string
	}{
		{"a push service not allowed", func(s *WebPushSubscription) {}, "no known push service"},
		{"http", func(s *WebPushSubscription) { s.Endpoint = strings.Replace(s.Endpoint, "https", "http", 1) }, "not an https URL"},
		{"short p256dh", func(s *WebPushSubscription) { s.Keys.P256DH = "AAAA" }, "p256dh"},
		{"short auth", func(s *WebPushSubscription) { s.Keys.Auth = "AAAA" }, "auth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.change(&s)
			services := []string{f.host()}
			if tc.name == "a push service not allowed" {
				services = DefaultPushServices
			}
			if _, err := WebPushAddress(s, services); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	for host, ok := range map[string]bool{"fcm.googleapis.com": true, "updates.push.services.mozilla.com": true,
		"evil-fcm.googleapis.com.attacker.net": false, "web.push.apple.com.evil": false, "169.254.169.254": false} {
		if got := allowedService(&url.URL{Scheme: "https", Host: host}, DefaultPushServices); got != ok {
			t.Errorf("allowedService(%s) = %v", host, got)
		}
	}
}

func TestVAPIDKeyKept(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vapid.key")
	k1, err := LoadOrCreateVAPIDKey(file)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateVAPIDKey(file)
	if err != nil || k2.Public() != k1.Public() || len(b64(t, k1.Public())) != 65 {
		t.Fatalf("the key was not kept: %v", err)
	}
}

// A web app signs with WebCrypto, whose ECDSA signatures are r||s: the
// server takes them as it takes DER ones.
func TestVerifyRawSignature(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := key.PublicKey.Bytes()
	body := []byte(`{"serial":"RMP-1"}`)
	h := sha256.Sum256(SignedMessage(PathPending, body))
	r, s, _ := ecdsa.Sign(rand.Reader, key, h[:])
	raw := make([]byte, 64)
	r.FillBytes(raw[:32])
	s.FillBytes(raw[32:])
	der, _ := Sign(key, PathPending, body)
	for name, tc := range map[string]struct {
		sig  []byte
		path string
		want bool
	}{
		"raw":               {raw, PathPending, true},
		"DER":               {der, PathPending, true},
		"raw, another path": {raw, PathAnswer, false},
		"raw, one bit off":  {append([]byte{raw[0] ^ 1}, raw[1:]...), PathPending, false},
		"63 bytes":          {raw[:63], PathPending, false},
	} {
		if got := Verify(pub, tc.path, body, tc.sig); got != tc.want {
			t.Errorf("%s: Verify = %v", name, got)
		}
	}
}
