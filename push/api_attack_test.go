package push_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
)

// A stranger learns nothing about which serials exist: an unknown serial,
// an unsigned and a mis-signed request for a known one get the same
// answer. Unsigned requests for a known serial are all refused and
// counted, but write at most a few audit rows; a genuine signed request
// works once; a request without a nonce is refused.
func TestDeviceAPIGivesStrangersNothing(t *testing.T) {
	e := newEnv(t, push.Config{}, nil)
	ctx := context.Background()
	dave := e.enroll(t, "dave", "RMP-20")
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), dave.State.SignKey)
	if err != nil {
		t.Fatal(err)
	}
	body := func(serial, nonce string) []byte {
		return fmt.Appendf(nil, `{"serial":%q,"time":%d,"nonce":%q}`, serial, e.clk.Now().UnixMilli(), nonce)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, _ := push.Sign(other, push.PathPending, body("RMP-20", "nonce-forged-0001"))
	unknown, _ := push.Sign(key, push.PathPending, body("RMP-NOBODY", "nonce-unknown-001"))
	answers := map[string]error{
		"unknown serial": dave.Raw(ctx, push.PathPending, body("RMP-NOBODY", "nonce-unknown-001"), unknown),
		"unsigned":       dave.Raw(ctx, push.PathPending, body("RMP-20", "nonce-unsigned-01"), nil),
		"bad signature":  dave.Raw(ctx, push.PathPending, body("RMP-20", "nonce-forged-0001"), forged),
	}
	for name, err := range answers {
		var ae *push.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Message != "authentication failed" {
			t.Errorf("%s: %v, want 401 authentication failed", name, err)
		}
	}

	for i := range 50 {
		if err := dave.Raw(ctx, push.PathPending, body("RMP-20", fmt.Sprintf("nonce-flood-%05d", i)), nil); !push.IsRefused(err, http.StatusUnauthorized) {
			t.Fatalf("unsigned request %d: %v", i, err)
		}
	}
	if n := e.refused("unsigned"); n != 51 {
		t.Fatalf("%d unsigned requests counted, want 51", n)
	}
	ev, err := e.st.AuditEvents(ctx, store.AuditFilter{Serial: "RMP-20", Action: "device.request"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 5 {
		t.Fatalf("%d audit rows for 52 refused unauthenticated requests, want the budget of 5", len(ev))
	}

	genuine := body("RMP-20", "nonce-genuine-001")
	sig, err := push.Sign(key, push.PathPending, genuine)
	if err != nil {
		t.Fatal(err)
	}
	if err := dave.Raw(ctx, push.PathPending, genuine, sig); err != nil {
		t.Fatalf("the genuine request: %v", err)
	}
	if err := dave.Raw(ctx, push.PathPending, genuine, sig); !push.IsRefused(err, http.StatusConflict) {
		t.Fatalf("the genuine request again: %v, want 409", err)
	}
	noNonce := fmt.Appendf(nil, `{"serial":"RMP-20","time":%d}`, e.clk.Now().UnixMilli())
	sig, _ = push.Sign(key, push.PathPending, noNonce)
	if err := dave.Raw(ctx, push.PathPending, noNonce, sig); !push.IsRefused(err, http.StatusBadRequest) {
		t.Fatalf("a signed request without a nonce: %v, want 400", err)
	}
	// The client's own requests carry a new nonce each time.
	for range 3 {
		if _, err := dave.Pending(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// Activation guesses are limited per source address as well as per
// activation (right codes are not), and the activation they void is
// audited with the source.
func TestEnrollGuessesLimitedPerSource(t *testing.T) {
	e := newEnv(t, push.Config{}, nil) // 3 wrong codes void an activation
	ctx := context.Background()
	info := push.DeviceInfo{OS: "Android", Model: "Pixel"}
	// An office enrolling many phones through one address is not limited.
	for i := range 12 {
		if _, err := push.Enroll(ctx, e.pushToken(t, fmt.Sprint("office", i), fmt.Sprint("RMP-OK-", i)), info, ""); err != nil {
			t.Fatalf("enrollment %d from one address: %v", i, err)
		}
	}
	var uris []string
	for i := range 4 {
		uris = append(uris, strings.Replace(e.pushToken(t, fmt.Sprint("u", i), fmt.Sprint("RMP-3", i)), "code=", "code=WRONG", 1))
	}
	for i := range 10 {
		if _, err := push.Enroll(ctx, uris[i%4], info, ""); !push.IsRefused(err, http.StatusForbidden) {
			t.Fatalf("guess %d: %v, want 403", i, err)
		}
	}
	if _, err := push.Enroll(ctx, uris[3], info, ""); !push.IsRefused(err, http.StatusTooManyRequests) {
		t.Fatalf("the 11th guess from one source: %v, want 429", err)
	}
	ev, err := e.st.AuditEvents(ctx, store.AuditFilter{Serial: "RMP-30", Action: "token.activate"})
	if err != nil {
		t.Fatal(err)
	}
	void := 0
	for _, a := range ev {
		if a.Actor != "device:127.0.0.1" {
			t.Errorf("activation audit by %q, want the source device:127.0.0.1", a.Actor)
		}
		if strings.Contains(a.Detail, "activation void") {
			void++
		}
	}
	if void != 1 {
		t.Fatalf("%d audit rows say RMP-30's activation was voided, want 1: %+v", void, ev)
	}
}
