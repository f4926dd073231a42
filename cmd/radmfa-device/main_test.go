package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/internal/cliargs"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/sqlite"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	err := cliargs.Run(context.Background(), app, append([]string{"radmfa-device"}, args...))
	return out.String(), err
}

// TestReferenceDevice drives the commands against a real device API.
func TestReferenceDevice(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(sqlite.Options{Path: filepath.Join(dir, "radmfa.db"), Key: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	mgr := push.NewManager(push.Deps{Store: st, Config: push.Config{NumberMatching: true}})
	srv := httptest.NewUnstartedServer(push.NewAPI(push.APIDeps{Store: st, Manager: mgr}).Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	if _, err := st.CreateUser(ctx, "t", store.User{Name: "zoe"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(ctx, "t", store.Token{Serial: "RMP-1", User: "zoe", Type: "push", Origin: store.OriginSoft,
		State: store.StateAssigned, Algorithm: "SHA1", Digits: 6, Period: 30}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetActivation(ctx, "t", store.Activation{Serial: "RMP-1", CodeHash: push.HashCode("ABCDEFGH"), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	uri := push.Enrollment{URL: srv.URL, Serial: "RMP-1", Code: "ABCDEFGH", Pin: push.Pin(srv.Certificate()), User: "zoe"}.URI()
	state := filepath.Join(dir, "phone.json")

	if _, err := run(t, "--state", state, "pending"); err == nil {
		t.Fatal("pending before enrollment succeeded")
	}
	if out, err := run(t, "--state", state, "enroll", "--os", "iOS", "--model", "iPhone15,2", uri); err != nil || !strings.Contains(out, "enrolled token RMP-1 for zoe") {
		t.Fatalf("enroll: %q, %v", out, err)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := run(t, "--state", state, "enroll", uri); err == nil {
		t.Fatal("enrolling over an existing state succeeded")
	}

	// otp prints the token's TOTP code.
	tok, _ := st.Token(ctx, "RMP-1")
	want := otp.Code(tok.Seed, uint64(otp.Step(1_800_000_000, 30)), otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 30})
	if out, err := run(t, "--state", state, "otp", "--time", "1800000000"); err != nil || strings.TrimSpace(out) != want {
		t.Fatalf("otp = %q, %v; want %s", out, err, want)
	}

	d, _ := st.Device(ctx, "RMP-1")
	r, _, err := mgr.Start(ctx, push.Login{User: "zoe", Client: "vpn", CallingStation: "203.0.113.9"}, d)
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "--state", state, "pending", "--json")
	var pend []push.PendingRequest
	if err != nil || json.Unmarshal([]byte(out), &pend) != nil || len(pend) != 1 || pend[0].ID != r.ID || len(pend[0].Numbers) != 3 {
		t.Fatalf("pending --json = %q, %v", out, err)
	}
	if out, err := run(t, "--state", state, "pending"); err != nil || !strings.Contains(out, "203.0.113.9") {
		t.Fatalf("pending = %q, %v", out, err)
	}
	if out, err := run(t, "--state", state, "approve", r.ID, "--number", strconv.Itoa(r.Number)); err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("approve = %q, %v", out, err)
	}
	if _, err := run(t, "--state", state, "deny", r.ID); err == nil {
		t.Fatal("a second answer succeeded")
	}
	r2, _, err := mgr.Start(ctx, push.Login{User: "zoe", Client: "vpn", CallingStation: "203.0.113.9"}, d)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "--state", state, "deny", "--fraud", r2.ID); err != nil || !strings.Contains(out, "fraud") {
		t.Fatalf("deny --fraud = %q, %v", out, err)
	}
	out, err = run(t, "--state", state, "history")
	if err != nil || !strings.Contains(out, "approved") || !strings.Contains(out, "fraud") {
		t.Fatalf("history = %q, %v", out, err)
	}
}
