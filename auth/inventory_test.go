package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/store"
)

// Tokens are refused outside their validity (PSKC dates, temporary
// replacements).
func TestTokenValidity(t *testing.T) {
	tests := []struct {
		name        string
		from, until time.Duration // relative to now; 0: no bound
		want        string
	}{
		{"no bounds", 0, 0, auth.ReasonOK},
		{"inside", -time.Hour, time.Hour, auth.ReasonOK},
		{"expired", 0, -time.Second, auth.ReasonExpired},
		{"not yet valid", time.Hour, 0, auth.ReasonExpired},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, auth.Config{})
			e.user("val")
			now := e.clock.Now()
			tok := store.Token{Serial: "V" + string(rune('0'+i)), User: "val", Type: "hotp", Origin: store.OriginHardware,
				State: store.StateAssigned, Algorithm: "SHA1", Digits: 6, Seed: []byte("12345678901234567890")}
			if tc.from != 0 {
				tok.ValidFrom = now.Add(tc.from)
			}
			if tc.until != 0 {
				tok.ValidUntil = now.Add(tc.until)
			}
			created, err := e.store.CreateToken(context.Background(), "test", tok)
			if err != nil {
				t.Fatal(err)
			}
			created.Seed = tok.Seed
			if r := e.login("val", e.code(created, 0)); r.Reason != tc.want {
				t.Fatalf("reason %s, want %s", r.Reason, tc.want)
			}
		})
	}
}
