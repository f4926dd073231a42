package storetest

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
)

// Rotatable is a backend whose secrets can be sealed again under a new
// master key.
type Rotatable interface {
	store.Store
	Sealer() *store.Sealer
	Reseal(ctx context.Context, by, fingerprint string) (int, error)
}

// RunReseal holds a backend to a key rotation: with the new key staged,
// Reseal seals every seed, client secret, directory bind password and the
// key check again, so that the new key alone opens them all.
func RunReseal(t *testing.T, open func(t *testing.T) Rotatable) {
	s := open(t)
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	mustUser(t, s, "rae")
	mustToken(t, s, store.Token{Serial: "R1", User: "rae", Seed: []byte("seed-of-R1-012345678")})
	if _, err := s.CreateClient(ctx, by, store.Client{Name: "c1", Prefix: netip.MustParsePrefix("10.0.0.0/8"), Secret: []byte("client-secret")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDirectory(ctx, by, store.Directory{Name: "d1", URLs: []string{"ldap://x"}, BindPassword: []byte("bind-pw"),
		BaseDN: "dc=x", LoginAttr: "uid"}); err != nil {
		t.Fatal(err)
	}
	newKey := bytes.Repeat([]byte{7}, store.KeySize)
	if err := s.Sealer().Stage(newKey); err != nil {
		t.Fatal(err)
	}
	n, err := s.Reseal(ctx, by, store.KeyFingerprint(newKey))
	if err != nil || n != 4 {
		t.Fatalf("Reseal = %d, %v; want 4 (a seed, a client secret, a bind password, the key check)", n, err)
	}
	if err := s.Sealer().Only(newKey); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(ctx, "R1")
	if err != nil || string(tok.Seed) != "seed-of-R1-012345678" {
		t.Fatalf("the seed with the new key alone: %v", err)
	}
	cl, err := s.Client(ctx, "c1")
	if err != nil || string(cl.Secret) != "client-secret" {
		t.Fatalf("the client secret with the new key alone: %v", err)
	}
	d, err := s.Directory(ctx, "d1")
	if err != nil || string(d.BindPassword) != "bind-pw" {
		t.Fatalf("the bind password with the new key alone: %v", err)
	}
	ev, _ := s.AuditEvents(ctx, store.AuditFilter{Action: "key.rotate", Since: time.Now().Add(-time.Hour)})
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "resealed=4") {
		t.Fatalf("audit %+v", ev)
	}
}
