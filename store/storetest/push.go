package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
)

func hashCode(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

func pushToken(t *testing.T, s store.Store, serial, user string) {
	t.Helper()
	tok := store.Token{Serial: serial, User: user, Type: "push", State: store.StateAssigned, Algorithm: "SHA1", Digits: 6, Period: 30,
		Origin: store.OriginSoft}
	if _, err := s.CreateToken(context.Background(), by, tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
}

func testPushActivation(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	pushToken(t, s, "P1", "alice")
	mustToken(t, s, store.Token{Serial: "H1", User: "alice", Origin: store.OriginHardware})
	now := time.Unix(1_800_000_000, 0)
	seed := []byte("derived-seed-0123456")
	dev := store.Device{PublicKey: []byte{4, 1, 2, 3}, APNsToken: "abcd", OS: "iOS 18.1", Model: "iPhone15,2", AppVersion: "1.0", Notifications: true}

	if err := s.SetActivation(ctx, by, store.Activation{Serial: "H1", CodeHash: hashCode("x"), ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("activation of a hardware HOTP token: err = %v, want ErrInvalid", err)
	}
	if err := s.SetActivation(ctx, by, store.Activation{Serial: "nope", CodeHash: hashCode("x"), ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("activation of a missing token: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Activate(ctx, "device:192.0.2.1", "P1", hashCode("first"), now, 3, seed, dev); !errors.Is(err, store.ErrActivation) {
		t.Fatalf("Activate with no activation pending: err = %v, want ErrActivation", err)
	}
	if err := s.SetActivation(ctx, by, store.Activation{Serial: "P1", CodeHash: hashCode("first"), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Issuing again voids the first code.
	if err := s.SetActivation(ctx, by, store.Activation{Serial: "P1", CodeHash: hashCode("second"), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Activate(ctx, "device:192.0.2.1", "P1", hashCode("first"), now, 3, seed, dev); !errors.Is(err, store.ErrActivation) {
		t.Fatalf("Activate with the replaced code: err = %v, want ErrActivation", err)
	}
	if _, err := s.Activate(ctx, "device:192.0.2.1", "P1", hashCode("second"), now.Add(time.Hour), 3, seed, dev); !errors.Is(err, store.ErrActivation) {
		t.Fatalf("Activate at expiry: err = %v, want ErrActivation", err)
	}
	if _, err := s.Activate(ctx, "device:192.0.2.1", "P1", hashCode("second"), now, 3, seed, dev); !errors.Is(err, store.ErrActivation) {
		t.Fatalf("expired activation must be gone: err = %v", err)
	}
	if _, err := s.Device(ctx, "P1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("device after refused activations: err = %v, want ErrNotFound", err)
	}

	// Wrong codes count; at the limit the activation is void.
	if err := s.SetActivation(ctx, by, store.Activation{Serial: "P1", CodeHash: hashCode("third"), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Activate(ctx, "device:192.0.2.1", "P1", hashCode("guess"), now, 3, seed, dev); !errors.Is(err, store.ErrActivation) {
			t.Fatalf("guess %d: err = %v", i, err)
		}
	}
	if _, err := s.Activate(ctx, "device:192.0.2.1", "P1", hashCode("third"), now, 3, seed, dev); !errors.Is(err, store.ErrActivation) {
		t.Fatalf("right code after too many guesses: err = %v, want ErrActivation", err)
	}
	ev, err := s.AuditEvents(ctx, store.AuditFilter{Serial: "P1", Action: "token.activate"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 8 {
		t.Fatalf("audited refusals = %d, want 8: %+v", len(ev), ev)
	}
	voided := 0
	for _, e := range ev {
		if e.Result != "refused" || e.Actor != "device:192.0.2.1" {
			t.Errorf("audit %+v: want result refused by device:192.0.2.1", e)
		}
		if strings.Contains(e.Detail, "activation void") {
			voided++
		}
	}
	if voided != 1 {
		t.Errorf("%d audit rows say the activation was voided, want 1", voided)
	}

	if err := s.SetActivation(ctx, by, store.Activation{Serial: "P1", CodeHash: hashCode("fourth"), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Activate(ctx, "device:192.0.2.1", "P1", hashCode("fourth"), now, 3, seed, dev)
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if tok.User != "alice" || tok.Type != "push" {
		t.Fatalf("activated token = %+v", tok)
	}
	if _, err := s.Activate(ctx, "device:192.0.2.1", "P1", hashCode("fourth"), now, 3, seed, dev); !errors.Is(err, store.ErrActivation) {
		t.Fatalf("second use of an activation code: err = %v, want ErrActivation", err)
	}
	got, err := s.Token(ctx, "P1")
	if err != nil || !bytes.Equal(got.Seed, seed) {
		t.Fatalf("seed after activation = %q, %v", got.Seed, err)
	}
	d, err := s.Device(ctx, "P1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.PublicKey, dev.PublicKey) || d.OS != dev.OS || d.Model != dev.Model || d.User != "alice" ||
		d.PushState() != store.PushEnabled || !d.Notifiable() || !d.EnrolledAt.Equal(now) {
		t.Fatalf("device = %+v", d)
	}
}

func testPushDevices(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "bob")
	pushToken(t, s, "P2", "bob")
	pushToken(t, s, "P3", "bob") // never activated
	now := time.Unix(1_800_000_000, 0)
	if err := s.SetActivation(ctx, by, store.Activation{Serial: "P2", CodeHash: hashCode("c"), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Activate(ctx, "device:192.0.2.1", "P2", hashCode("c"), now, 5, []byte("seed-seed-seed-seed!"),
		store.Device{PublicKey: []byte{4, 9}, APNsToken: "tok", OS: "Android 15", Model: "Pixel 9", Notifications: true}); err != nil {
		t.Fatal(err)
	}
	devs, err := s.UserDevices(ctx, "BOB")
	if err != nil || len(devs) != 1 || devs[0].Serial != "P2" {
		t.Fatalf("UserDevices = %+v, %v; want P2 only", devs, err)
	}
	d, err := s.UpdateDevice(ctx, "apns", "P2", "device.apns-invalid", func(d *store.Device) error {
		d.APNsInvalid = true
		return nil
	})
	if err != nil || d.PushState() != store.PushDisabled || d.Notifiable() {
		t.Fatalf("after APNs invalidation: %+v, %v", d, err)
	}
	if d, _ := s.Device(ctx, "P2"); !d.APNsInvalid {
		t.Fatal("APNs invalidation not stored")
	}
	if (store.Device{}).PushState() != store.PushNotApplicable {
		t.Fatal("no device must be Not Applicable")
	}
	if (store.Device{PublicKey: []byte{4}}).PushState() != store.PushDisabled {
		t.Fatal("notifications not allowed must be Disabled")
	}
	if _, err := s.UpdateDevice(ctx, by, "P3", "", func(*store.Device) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateDevice without device: %v", err)
	}

	// Revoked tokens' devices are not offered for push.
	if _, err := s.UpdateToken(ctx, by, "P2", "token.revoke", func(t *store.Token) error { t.State = store.StateRevoked; return nil }); err != nil {
		t.Fatal(err)
	}
	if devs, _ := s.UserDevices(ctx, "bob"); len(devs) != 0 {
		t.Fatalf("UserDevices after revoke = %+v", devs)
	}
	// Destroying the seed (token return) destroys the phone binding too.
	if _, err := s.UpdateToken(ctx, by, "P2", "token.return", func(t *store.Token) error {
		t.State, t.User, t.Seed = store.StateInventory, "", nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Device(ctx, "P2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("device after the seed was destroyed: %v", err)
	}
	if taken, err := s.ExistingSerials(ctx, []string{"P2", "P3", "nope"}); err != nil || len(taken) != 2 {
		t.Fatalf("ExistingSerials = %v, %v", taken, err)
	}
	// Deleting the token deletes the device.
	if err := s.DeleteToken(ctx, by, "P2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, "P2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token after delete: %v", err)
	}

	until := now.Add(time.Hour)
	if err := s.SetPushLock(ctx, by, "bob", until, "fraud"); err != nil {
		t.Fatal(err)
	}
	u, _ := s.User(ctx, "bob")
	if !u.PushLocked(now) || u.PushLocked(until) {
		t.Fatalf("push lock = %d", u.PushLockedUntil)
	}
	if _, ut, err := s.UserTokens(ctx, "bob"); err != nil || len(ut) != 1 {
		t.Fatalf("UserTokens: %v %v", ut, err)
	}
	if err := s.SetPushLock(ctx, by, "bob", time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, "bob"); u.PushLocked(now) {
		t.Fatal("push lock not cleared")
	}
	if err := s.SetPushLock(ctx, by, "nobody", until, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetPushLock unknown user: %v", err)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	if v, err := s.Setting(ctx, "push.public_url"); err != nil || v != "" {
		t.Fatalf("unset setting = %q, %v", v, err)
	}
	for _, v := range []string{"https://a.example:8443", "https://b.example"} {
		if err := s.SetSetting(ctx, "push.public_url", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Setting(ctx, "push.public_url"); err != nil || got != v {
			t.Fatalf("setting = %q, %v; want %q", got, err, v)
		}
	}
	for _, tc := range []struct {
		name, nm string
		ok       bool
	}{{"on", "on", true}, {"off", "off", true}, {"default", "", true}, {"bad", "yes", false}} {
		c, err := s.CreateClient(ctx, by, store.Client{Name: "nas-" + tc.name, Prefix: netip.MustParsePrefix("10.0.0.0/8"),
			Secret: []byte("s"), NumberMatching: tc.nm})
		if !tc.ok {
			if !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Client(ctx, c.Name)
		if err != nil || got.NumberMatching != tc.nm {
			t.Errorf("%s: NumberMatching = %q, %v", tc.name, got.NumberMatching, err)
		}
	}
}

// A soft TOTP/HOTP token enrolled by email takes an activation code too:
// the self-enrollment page redeems it once, and the seed is stored then;
// a hardware token takes none, and a device is only for push tokens.
func testSoftActivation(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "sam")
	now := time.Unix(1_800_000_000, 0)
	if _, err := s.CreateToken(ctx, by, store.Token{Serial: "S1", User: "sam", Type: "totp", Origin: store.OriginSoft,
		State: store.StateAssigned, Algorithm: "SHA1", Digits: 6, Period: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, by, store.Token{Serial: "HW1", User: "sam", Type: "totp", Origin: store.OriginHardware,
		State: store.StateAssigned, Algorithm: "SHA1", Digits: 6, Period: 30, Seed: []byte("vendor-seed-01234567")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetActivation(ctx, by, store.Activation{Serial: "HW1", CodeHash: hashCode("x"), ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("activation of a hardware token: %v, want ErrInvalid", err)
	}
	if err := s.SetActivation(ctx, by, store.Activation{Serial: "S1", CodeHash: hashCode("code"), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	seed := []byte("fresh-seed-012345678")
	if _, err := s.Activate(ctx, "web:192.0.2.1", "S1", hashCode("code"), now, 3, seed, store.Device{PublicKey: []byte{4, 1}}); !errors.Is(err, store.ErrActivation) {
		t.Fatalf("a device for a TOTP token: %v, want ErrActivation", err)
	}
	tok, err := s.Activate(ctx, "web:192.0.2.1", "S1", hashCode("code"), now, 3, seed, store.Device{})
	if err != nil || string(tok.Seed) != string(seed) {
		t.Fatalf("Activate(S1) = %+v, %v", tok, err)
	}
	if got, _ := s.Token(ctx, "S1"); string(got.Seed) != string(seed) {
		t.Fatalf("stored seed %q", got.Seed)
	}
	if _, err := s.Activate(ctx, "web:192.0.2.1", "S1", hashCode("code"), now, 3, []byte("another-seed-0123456"), store.Device{}); !errors.Is(err, store.ErrActivation) {
		t.Fatalf("the code a second time: %v, want ErrActivation", err)
	}
	if got, _ := s.Token(ctx, "S1"); string(got.Seed) != string(seed) {
		t.Fatal("a refused activation changed the seed")
	}
	if _, err := s.Device(ctx, "S1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a TOTP token got a device: %v", err)
	}
}

// A device keeps its owner's WebAuthn credential, which UpdateDevice
// replaces (a new signature count).
func testDeviceWebAuthn(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "wes")
	pushToken(t, s, "PW1", "wes")
	now := time.Unix(1_800_000_000, 0)
	if err := s.SetActivation(ctx, by, store.Activation{Serial: "PW1", CodeHash: hashCode("c"), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Activate(ctx, "device", "PW1", hashCode("c"), now, 3, []byte("seed-seed-seed-seed!"), store.Device{PublicKey: []byte{4, 9}}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Device(ctx, "PW1"); err != nil || d.WebAuthn != nil {
		t.Fatalf("a new device: %+v, %v", d, err)
	}
	for _, cred := range []string{`{"id":"AQI","signCount":1}`, `{"id":"AQI","signCount":2}`} {
		if _, err := s.UpdateDevice(ctx, "device", "PW1", "device.webauthn", func(d *store.Device) error {
			d.WebAuthn = []byte(cred)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if d, err := s.Device(ctx, "PW1"); err != nil || string(d.WebAuthn) != cred || string(d.PublicKey) != string([]byte{4, 9}) {
			t.Fatalf("after storing %s: %+v, %v", cred, d, err)
		}
	}
}
