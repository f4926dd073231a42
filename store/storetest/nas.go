package storetest

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
)

func testUpdateClient(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := store.Client{Name: "fw", Prefix: netip.MustParsePrefix("10.0.0.1/32"), Secret: []byte("old"), RequireMessageAuthenticator: true, NASType: "fortigate"}
	if _, err := s.CreateClient(ctx, by, c); err != nil {
		t.Fatal(err)
	}
	v0, _ := s.ClientsVersion(ctx)
	got, err := s.UpdateClient(ctx, by, "fw", func(c *store.Client) error {
		c.NASTimeout, c.NASRetries = 2*time.Second, 2
		c.UserVerification = "on"
		c.Secret = []byte("new")
		c.Name = "renamed" // ignored
		return nil
	})
	if err != nil || got.Name != "fw" || got.NASTimeout != 2*time.Second {
		t.Fatalf("UpdateClient = %+v, %v", got, err)
	}
	read, err := s.Client(ctx, "fw")
	if err != nil || string(read.Secret) != "new" || read.NASTimeout != 2*time.Second || read.NASRetries != 2 || read.UserVerification != "on" ||
		read.NASType != "fortigate" || !read.RequireMessageAuthenticator || !read.CreatedAt.Equal(got.CreatedAt) {
		t.Fatalf("Client after update = %+v, %v", read, err)
	}
	if v1, _ := s.ClientsVersion(ctx); v1 == v0 {
		t.Fatal("ClientsVersion did not change on update")
	}
	ev, _ := s.AuditEvents(ctx, store.AuditFilter{Action: "client.set"})
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "nas_timeout=2s") || !strings.Contains(ev[0].Detail, "secret=changed") ||
		strings.Contains(ev[0].Detail, "new") {
		t.Fatalf("client.set audit = %+v", ev)
	}
	for name, fn := range map[string]func(*store.Client) error{
		"timeout too long":      func(c *store.Client) error { c.NASTimeout = time.Hour; return nil },
		"negative retries":      func(c *store.Client) error { c.NASRetries = -1; return nil },
		"bad user verification": func(c *store.Client) error { c.UserVerification = "maybe"; return nil },
		"no secret":             func(c *store.Client) error { c.Secret = nil; return nil },
	} {
		if _, err := s.UpdateClient(ctx, by, "fw", fn); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	boom := errors.New("boom")
	if _, err := s.UpdateClient(ctx, by, "fw", func(c *store.Client) error { c.NASRetries = 9; return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn's error: %v", err)
	}
	if read, _ := s.Client(ctx, "fw"); read.NASRetries != 2 {
		t.Fatalf("a failed update wrote: %+v", read)
	}
	if _, err := s.UpdateClient(ctx, by, "nope", func(*store.Client) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
}

func testRadSecClient(t *testing.T, s store.Store) {
	ctx := context.Background()
	fp := "sha256:" + strings.Repeat("ab", 32)
	if _, err := s.CreateClient(ctx, by, store.Client{Name: "rs", Secret: []byte("radsec"), CertCN: "nas1.example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateClient(ctx, by, store.Client{Name: "rs2", Secret: []byte("radsec"), CertFingerprint: fp,
		Prefix: netip.MustParsePrefix("192.0.2.0/24")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateClient(ctx, by, store.Client{Name: "bad", Secret: []byte("radsec"), CertFingerprint: "sha256:XY"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad fingerprint: %v", err)
	}
	all, err := s.Clients(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Clients = %+v, %v", all, err)
	}
	if c := all[0]; !c.RadSec() || c.CertCN != "nas1.example.com" || c.Prefix.IsValid() {
		t.Fatalf("rs = %+v", c)
	}
	if c := all[1]; !c.RadSec() || c.CertFingerprint != fp || c.Prefix.String() != "192.0.2.0/24" {
		t.Fatalf("rs2 = %+v", c)
	}
}

func testAccounting(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	rec := func(r store.AcctRecord) {
		t.Helper()
		if r.Client == "" {
			r.Client, r.NAS = "vpn", "10.0.0.1"
		}
		if err := s.RecordAccounting(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// alice: Start, Interim, Stop, in order.
	rec(store.AcctRecord{At: t0, Status: store.AcctStart, SessionID: "A1", User: "alice", FramedIP: "10.8.0.2", CallingStation: "203.0.113.7"})
	rec(store.AcctRecord{At: t0.Add(60 * time.Second), Status: store.AcctInterim, SessionID: "A1", User: "alice", SessionTime: 60, InOctets: 1000, OutOctets: 2000})
	active, err := s.Sessions(ctx, store.SessionFilter{Active: true})
	if err != nil || len(active) != 1 || active[0].User != "alice" || active[0].InOctets != 1000 || !active[0].Active() ||
		active[0].FramedIP != "10.8.0.2" || !active[0].Start.Equal(t0) || active[0].Duration != time.Minute {
		t.Fatalf("active after interim = %+v, %v", active, err)
	}
	rec(store.AcctRecord{At: t0.Add(90 * time.Second), Status: store.AcctStop, SessionID: "A1", User: "alice", SessionTime: 90,
		InOctets: 1500, OutOctets: 1 << 33, TerminateCause: "User-Request"})
	// A retransmitted Interim after the Stop changes nothing.
	rec(store.AcctRecord{At: t0.Add(60 * time.Second), Status: store.AcctInterim, SessionID: "A1", User: "alice", SessionTime: 60, InOctets: 1000})
	// bob: an Interim whose Start was missed; then a session of the same
	// id on another NAS is another session.
	rec(store.AcctRecord{At: t0.Add(120 * time.Second), Status: store.AcctInterim, SessionID: "B1", User: "bob", SessionTime: 100})
	rec(store.AcctRecord{At: t0.Add(130 * time.Second), Status: store.AcctStart, Client: "vpn", NAS: "other", SessionID: "B1", User: "Bob"})

	if active, _ := s.Sessions(ctx, store.SessionFilter{Active: true}); len(active) != 2 {
		t.Fatalf("active = %+v", active)
	}
	alice, err := s.Sessions(ctx, store.SessionFilter{User: "ALICE"})
	if err != nil || len(alice) != 1 {
		t.Fatalf("alice's sessions = %+v, %v", alice, err)
	}
	if a := alice[0]; a.Active() || !a.Stop.Equal(t0.Add(90*time.Second)) || a.Duration != 90*time.Second ||
		a.InOctets != 1500 || a.OutOctets != 1<<33 || a.TerminateCause != "User-Request" || a.CallingStation != "203.0.113.7" {
		t.Fatalf("alice's session = %+v", a)
	}
	bob, _ := s.Sessions(ctx, store.SessionFilter{User: "bob"})
	if len(bob) != 2 || bob[0].NAS != "other" || !bob[1].Start.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("bob's sessions = %+v", bob)
	}
	latest, _ := s.Sessions(ctx, store.SessionFilter{Latest: true})
	if len(latest) != 2 || latest[0].NAS != "other" || latest[1].User != "alice" {
		t.Fatalf("latest per user = %+v", latest)
	}
	for name, r := range map[string]store.AcctRecord{
		"no session id": {At: t0, Status: store.AcctStart, Client: "vpn", NAS: "n"},
		"bad status":    {At: t0, Status: "pause", Client: "vpn", NAS: "n", SessionID: "x"},
		"negative time": {At: t0, Status: store.AcctStop, Client: "vpn", NAS: "n", SessionID: "x", SessionTime: -5},
	} {
		if err := s.RecordAccounting(ctx, r); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func testAccountingNASRestart(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	for _, r := range []store.AcctRecord{
		{At: t0, Status: store.AcctStart, Client: "vpn", NAS: "n1", SessionID: "1", User: "a"},
		{At: t0, Status: store.AcctStart, Client: "vpn", NAS: "n1", SessionID: "2", User: "b"},
		{At: t0, Status: store.AcctStart, Client: "vpn", NAS: "n2", SessionID: "3", User: "c"},
		{At: t0.Add(time.Hour), Status: store.AcctOn, Client: "vpn", NAS: "n1"},
	} {
		if err := s.RecordAccounting(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	active, _ := s.Sessions(ctx, store.SessionFilter{Active: true})
	if len(active) != 1 || active[0].User != "c" {
		t.Fatalf("active after n1 restarted = %+v", active)
	}
	a, _ := s.Sessions(ctx, store.SessionFilter{User: "a"})
	if len(a) != 1 || a[0].TerminateCause != "NAS-Reboot" || a[0].Duration != time.Hour {
		t.Fatalf("a's session = %+v", a)
	}
}
