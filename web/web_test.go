package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/sqlite"
	"github.com/radmfa/radmfa/web"
)

func newService(t *testing.T) (*auth.Service, store.Store) {
	t.Helper()
	dir := t.TempDir()
	key, err := store.CreateKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(sqlite.Options{Path: filepath.Join(dir, "radmfa.db"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateUser(context.Background(), "test", store.User{Name: "erin"}); err != nil {
		t.Fatal(err)
	}
	return auth.New(auth.Deps{Store: st}), st
}

func post(t *testing.T, h http.Handler, body string) (*httptest.ResponseRecorder, map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", web.PathSelfEnroll, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.7:5555"
	h.ServeHTTP(rec, req)
	var m map[string]string
	json.Unmarshal(rec.Body.Bytes(), &m)
	return rec, m
}

// The self-enrollment page redeems the activation code once: the QR code
// and key of a token that then logs in; a second time, a wrong code, and a
// hardware or unknown serial are refused alike.
func TestSelfEnrollment(t *testing.T) {
	svc, st := newService(t)
	ctx := context.Background()
	en, err := svc.EnrollSelf(ctx, "test", auth.SelfEnrollRequest{User: "erin", Params: otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 30}})
	if err != nil {
		t.Fatal(err)
	}
	if en.Token.Seed != nil || en.Token.State != store.StateAssigned {
		t.Fatalf("token before redemption: seed %v, state %s", en.Token.Seed, en.Token.State)
	}
	var refusals []string
	h := web.New(web.Deps{Enroller: svc, Refused: func(r string) { refusals = append(refusals, r) }}).Handler()

	rec, m := post(t, h, `{"serial":"`+en.Token.Serial+`","code":"WRONGCODE123"}`)
	if rec.Code != http.StatusForbidden || !strings.Contains(m["error"], "wrong, used or expired") {
		t.Fatalf("wrong code: %d %v", rec.Code, m)
	}
	// Typed in lower case with spaces and dashes: the same code.
	typed := strings.ToLower(en.Code[:4] + " " + en.Code[4:8] + "-" + en.Code[8:])
	rec, m = post(t, h, `{"serial":"`+en.Token.Serial+`","code":"`+typed+`"}`)
	if rec.Code != http.StatusOK || !strings.HasPrefix(m["otpauth_uri"], "otpauth://totp/") || !strings.HasPrefix(m["qr"], "data:image/png;base64,") ||
		m["user"] != "erin" || len(strings.ReplaceAll(m["secret"], " ", "")) < 16 {
		t.Fatalf("right code: %d %v", rec.Code, m)
	}
	for _, h := range []string{"Content-Security-Policy", "Cache-Control", "Referrer-Policy", "X-Frame-Options"} {
		if rec.Header().Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	// The token logs in with the code of the secret shown.
	tok, _ := st.Token(ctx, en.Token.Serial)
	code := otp.Code(tok.Seed, uint64(otp.Step(time.Now().Unix(), 30)), otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 30})
	if r := svc.Authenticate(ctx, auth.Request{User: "erin", Password: code}); r.Decision != auth.Accept {
		t.Fatalf("login with the enrolled token: %s/%s", r.Decision, r.Reason)
	}
	if !strings.Contains(m["otpauth_uri"], strings.ReplaceAll(m["secret"], " ", "")) {
		t.Fatal("the key shown is not the URI's secret")
	}
	rec, _ = post(t, h, `{"serial":"`+en.Token.Serial+`","code":"`+en.Code+`"}`)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("the code a second time: %d", rec.Code)
	}
	for name, body := range map[string]string{
		"unknown serial": `{"serial":"RMT-000","code":"ABCDEFGH1234"}`,
		"no code":        `{"serial":"RMT-000"}`,
		"extra field":    `{"serial":"RMT-000","code":"x","admin":true}`,
		"not JSON":       `serial=1`,
	} {
		if rec, _ := post(t, h, body); rec.Code != http.StatusForbidden && rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d", name, rec.Code)
		}
	}
	if len(refusals) < 5 {
		t.Fatalf("refusals counted: %v", refusals)
	}
}

// Wrong codes from one address are limited before they are looked at.
func TestSelfEnrollmentWrongCodesLimited(t *testing.T) {
	svc, _ := newService(t)
	h := web.New(web.Deps{Enroller: svc}).Handler()
	var last int
	for range 12 {
		rec, _ := post(t, h, `{"serial":"RMT-1","code":"ABCDEFGH1234"}`)
		last = rec.Code
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("after 12 wrong codes: %d", last)
	}
}

func TestEnrollPageServed(t *testing.T) {
	svc, _ := newService(t)
	h := web.New(web.Deps{Enroller: svc}).Handler()
	for path, want := range map[string]string{"/enroll?serial=RMT-1": "activation code", "/static/enroll.js": "/v1/self-enroll", "/static/style.css": "font-family"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(want)) {
			t.Errorf("GET %s: %d", path, rec.Code)
		}
	}
}
