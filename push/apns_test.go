package push_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
)

const (
	teamID = "TEAM123456"
	keyID  = "KEY1234567"
	topic  = "org.radmfa.authenticator"
)

// fakeAPNs is an HTTP/2 TLS server that checks requests as APNs does and
// answers from a script of status codes.
type fakeAPNs struct {
	srv  *httptest.Server
	pub  *ecdsa.PublicKey
	mu   sync.Mutex
	seen []string // "token status" per request
	errs []string
	// answer picks the status for the n-th request to a device token.
	answer func(token string, n int) (int, string)
	count  map[string]int
}

func newFakeAPNs(t *testing.T, pub *ecdsa.PublicKey, answer func(string, int) (int, string)) *fakeAPNs {
	f := &fakeAPNs{pub: pub, answer: answer, count: map[string]int{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPNs) fail(format string, a ...any) {
	f.mu.Lock()
	f.errs = append(f.errs, fmt.Sprintf(format, a...))
	f.mu.Unlock()
}

func (f *fakeAPNs) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		f.fail("protocol %s, want HTTP/2", r.Proto)
	}
	tok, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if r.Method != http.MethodPost || !ok || tok == "" {
		f.fail("request %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if got := r.Header.Get("apns-topic"); got != topic {
		f.fail("apns-topic %q", got)
	}
	if got := r.Header.Get("apns-push-type"); got != "alert" {
		f.fail("apns-push-type %q", got)
	}
	if err := f.checkJWT(r.Header.Get("authorization")); err != nil {
		f.fail("JWT: %v", err)
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"reason":"InvalidProviderToken"}`)
		return
	}
	var body struct {
		APS map[string]any `json:"aps"`
		RID string         `json:"rid"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil || body.RID == "" || body.APS["alert"] == nil {
		f.fail("payload %s", b)
	}
	if strings.Contains(string(b), "seed") || strings.Contains(string(b), "203.0.113") {
		f.fail("payload carries login details: %s", b)
	}
	f.mu.Lock()
	f.count[tok]++
	n := f.count[tok]
	f.mu.Unlock()
	status, reason := f.answer(tok, n)
	f.mu.Lock()
	f.seen = append(f.seen, fmt.Sprintf("%s %d", tok, status))
	f.mu.Unlock()
	w.Header().Set("apns-id", "00000000-0000-0000-0000-000000000001")
	w.WriteHeader(status)
	if reason != "" {
		fmt.Fprintf(w, `{"reason":%q}`, reason)
	}
}

// checkJWT verifies the provider token: ES256, our key id and team.
func (f *fakeAPNs) checkJWT(h string) error {
	jwt, ok := strings.CutPrefix(h, "bearer ")
	if !ok {
		return fmt.Errorf("authorization %q is not a bearer token", h)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("not a JWS")
	}
	var hdr struct{ Alg, Kid string }
	var claims struct {
		Iss string
		Iat int64
	}
	for i, v := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return err
		}
	}
	if hdr.Alg != "ES256" || hdr.Kid != keyID || claims.Iss != teamID || time.Since(time.Unix(claims.Iat, 0)) > time.Hour {
		return fmt.Errorf("header %+v claims %+v", hdr, claims)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("signature: %v (%d bytes)", err, len(sig))
	}
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(f.pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("bad ES256 signature")
	}
	return nil
}

// waitFor waits until a notification for tok was answered.
func (f *fakeAPNs) waitFor(t *testing.T, tok string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		f.mu.Lock()
		n := f.count[tok]
		f.mu.Unlock()
		if n > 0 {
			return
		}
	}
	t.Fatalf("no notification for %s", tok)
}

func (f *fakeAPNs) check(t *testing.T) []string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.errs {
		t.Error(e)
	}
	return append([]string(nil), f.seen...)
}

func newAPNsProvider(t *testing.T, f *fakeAPNs, key *ecdsa.PrivateKey) *push.APNs {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p8 := filepath.Join(t.TempDir(), "AuthKey.p8")
	if err := os.WriteFile(p8, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	p, err := push.NewAPNs(push.APNsConfig{KeyFile: p8, KeyID: keyID, TeamID: teamID, Topic: topic, Sandbox: true,
		Host: f.srv.URL, TLS: &tls.Config{RootCAs: pool}, Backoff: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAPNsProvider(t *testing.T) {
	tests := []struct {
		name    string
		answers []int // status of the 1st, 2nd, ... attempt
		reason  string
		wantErr error // nil: delivered
		tries   int
	}{
		{"delivered", []int{200}, "", nil, 1},
		{"unregistered device", []int{410}, "Unregistered", push.ErrDeviceGone, 1},
		{"bad device token", []int{400}, "BadDeviceToken", push.ErrDeviceGone, 1},
		{"other 400 is not retried", []int{400}, "BadTopic", errors.New("any"), 1},
		{"500 is retried", []int{500, 500, 200}, "InternalServerError", nil, 3},
		{"429 is retried", []int{429, 200}, "TooManyRequests", nil, 2},
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPNs(t, &key.PublicKey, func(_ string, n int) (int, string) {
				s := tc.answers[min(n, len(tc.answers))-1]
				if s == 200 {
					return s, ""
				}
				return s, tc.reason
			})
			p := newAPNsProvider(t, f, key)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := p.Notify(ctx, push.Notification{DeviceToken: "a1b2c3d4", ID: "req-1", Title: "Login request", Body: "Tap",
				Expires: time.Now().Add(time.Minute)})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Notify: %v", err)
			case tc.wantErr != nil && err == nil:
				t.Fatal("Notify succeeded, want an error")
			case errors.Is(tc.wantErr, push.ErrDeviceGone) != errors.Is(err, push.ErrDeviceGone):
				t.Fatalf("Notify: %v, want ErrDeviceGone=%v", err, errors.Is(tc.wantErr, push.ErrDeviceGone))
			}
			if seen := f.check(t); len(seen) != tc.tries {
				t.Fatalf("attempts %v, want %d", seen, tc.tries)
			}
		})
	}
}

func TestAPNsRetriesStopAtTheRequestsEnd(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f := newFakeAPNs(t, &key.PublicKey, func(string, int) (int, string) { return 503, "ServiceUnavailable" })
	p := newAPNsProvider(t, f, key)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Notify(ctx, push.Notification{DeviceToken: "a1b2c3d4", ID: "x"}); err == nil {
		t.Fatal("Notify succeeded against a failing APNs")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Notify kept retrying past its deadline")
	}
	if n := len(f.check(t)); n < 2 {
		t.Fatalf("attempts %d, want retries", n)
	}
}

// TestUnregisteredDeviceIsMarked: the manager marks a device whose token
// APNs refuses (410), and the push can still be answered by polling.
func TestUnregisteredDeviceIsMarked(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f := newFakeAPNs(t, &key.PublicKey, func(tok string, _ int) (int, string) {
		if tok == "deadbeefdeadbeef" {
			return 410, "Unregistered"
		}
		return 200, ""
	})
	p := newAPNsProvider(t, f, key)
	e := newEnv(t, push.Config{}, p)
	ctx := context.Background()
	for _, tc := range []struct{ user, serial, tok, state string }{
		{"kim", "RMP-20", "deadbeefdeadbeef", store.PushDisabled},
		{"lee", "RMP-21", "cafebabecafebabe", store.PushEnabled},
	} {
		c, err := push.Enroll(ctx, e.pushToken(t, tc.user, tc.serial), push.DeviceInfo{OS: "iOS", Notifications: true}, tc.tok)
		if err != nil {
			t.Fatal(err)
		}
		c.Now = e.clk.Now
		r := e.start(t, tc.user, tc.serial, push.Login{Client: "vpn"})
		f.waitFor(t, tc.tok) // answered after the notification arrived
		if _, err := c.Answer(ctx, r.ID, push.DecisionApprove, 0); err != nil {
			t.Fatal(err)
		}
	}
	e.mgr.Close() // notifications finished
	for _, tc := range []struct{ serial, state string }{{"RMP-20", store.PushDisabled}, {"RMP-21", store.PushEnabled}} {
		d, err := e.st.Device(ctx, tc.serial)
		if err != nil || d.PushState() != tc.state {
			t.Errorf("%s: push state %q (invalid=%v), want %q", tc.serial, d.PushState(), d.APNsInvalid, tc.state)
		}
	}
	f.check(t)
}
