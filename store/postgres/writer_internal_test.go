package postgres

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/radmfa/radmfa/internal/pgtest"
	"github.com/radmfa/radmfa/store"
)

// TestBatchesCommit: logins of every kind decided at once (accepts,
// duplicate accepts of one code, refusals with charges, bare audit rows)
// are committed in transactions of several, none of which fails, and each
// gets its own outcome.
func TestBatchesCommit(t *testing.T) {
	ctx := context.Background()
	key, err := store.CreateKey(filepath.Join(t.TempDir(), "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Options{URL: pgtest.DB(t), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const users = 30
	states := make([]store.LoginState, users)
	for i := range users {
		name := fmt.Sprintf("u%02d", i)
		if _, err := s.CreateUser(ctx, "t", store.User{Name: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateToken(ctx, "t", store.Token{Serial: "S" + name, User: name, Type: "hotp", Origin: "soft",
			State: store.StateActive, Algorithm: "SHA1", Digits: 6, Seed: []byte("0123456789abcdef0123")}); err != nil {
			t.Fatal(err)
		}
		if states[i], err = s.LoginState(ctx, name, true); err != nil {
			t.Fatal(err)
		}
	}
	limit := store.FailureLimit{Burst: 5, Every: time.Minute}
	for round := range 5 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		accepted := map[int]int{}
		for i := range users {
			st := states[i]
			tok := st.Tokens[0]
			accept := store.AuthCommit{At: time.Now(), Tokens: []store.TokenAuth{{ID: tok.ID, UserID: st.User.ID, Accepted: true,
				Version: tok.Version, Counter: uint64(round + 1), RequestKey: []byte("0123456789abcdef")}},
				Audit: store.AuditEvent{Actor: "t", Action: "auth", User: st.User.Name, Result: "accept:ok"}}
			// Every accept is sent twice at once: one takes.
			for range 2 {
				wg.Go(func() {
					err := s.CommitAuth(ctx, accept)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						accepted[i]++
					case !errors.Is(err, store.ErrConflict):
						t.Errorf("accept: %v", err)
					}
				})
			}
			wg.Go(func() {
				if err := s.CommitAuth(ctx, store.AuthCommit{At: time.Now(), Charge: &store.FailureCharge{UserID: st.User.ID, Limit: limit},
					Tokens: []store.TokenAuth{{ID: tok.ID, Failed: true, LockAfter: 1000}},
					Audit:  store.AuditEvent{Actor: "t", Action: "auth", User: st.User.Name, Result: "reject:bad_code"}}); err != nil {
					t.Errorf("refusal: %v", err)
				}
			})
			wg.Go(func() {
				if err := s.CommitAuth(ctx, store.AuthCommit{At: time.Now(),
					Audit: store.AuditEvent{Actor: "t", Action: "auth", User: "nobody", Result: "reject:unknown_user"}}); err != nil {
					t.Errorf("audit: %v", err)
				}
			})
		}
		wg.Wait()
		for i := range users {
			// A refusal may have moved the version before both accepts:
			// then neither took, and the next round reads again.
			if accepted[i] > 1 {
				t.Fatalf("round %d: user %d accepted %d times", round, i, accepted[i])
			}
			if states[i], err = s.LoginState(ctx, states[i].User.Name, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := testutil.ToFloat64(s.metrics.failures); n != 0 {
		t.Fatalf("%v transactions of logins failed", n)
	}
	if testutil.CollectAndCount(s.metrics.logins) == 0 {
		t.Fatal("no transaction observed")
	}
}
