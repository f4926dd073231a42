package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/sqlite"
)

// BenchmarkCommitAuth measures durable accepts (compare-and-set + audit
// row) from 32 concurrent logins, as group commit sees them under load.
func BenchmarkCommitAuth(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) { benchCommitAuth(b, sync) })
	}
}

func benchCommitAuth(b *testing.B, synchronous string) {
	dir := b.TempDir()
	key, _ := store.CreateKey(dir + "/master.key")
	s, err := sqlite.Open(sqlite.Options{Path: dir + "/radmfa.db", Key: key, Synchronous: synchronous})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const users, workers = 1024, 32
	var items []store.BulkItem
	for i := range users {
		items = append(items, store.BulkItem{User: &store.User{Name: fmt.Sprintf("u%d", i)},
			Tokens: []store.Token{{Serial: fmt.Sprintf("S%d", i), Type: "hotp", Origin: "soft", State: store.StateActive,
				Algorithm: "SHA1", Digits: 6, Seed: make([]byte, 20)}}})
	}
	if err := s.Bulk(ctx, "b", "seed", items); err != nil {
		b.Fatal(err)
	}
	ups := make([]store.TokenAuth, users)
	for i := range users {
		u, t, err := s.UserTokens(ctx, fmt.Sprintf("u%d", i))
		if err != nil {
			b.Fatal(err)
		}
		ups[i] = store.TokenAuth{ID: t[0].ID, UserID: u.ID, Accepted: true, Version: t[0].Version}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Worker w owns users w, w+32, ...: one login per user at a time.
			for n, i := 0, w; n < b.N/workers+1; n, i = n+1, (i+workers)%users {
				up := ups[i]
				up.Counter++
				err := s.CommitAuth(ctx, store.AuthCommit{At: time.Now(), Tokens: []store.TokenAuth{up},
					Audit: store.AuditEvent{Actor: "radius:bench", Action: "auth", User: "u", Serial: "S", Client: "bench", Result: "accept:ok"}})
				if err != nil {
					b.Error(err)
					return
				}
				up.Version++
				ups[i] = up
			}
		})
	}
	wg.Wait()
}

// BenchmarkLoneCommit measures one login's commit when nothing else is
// being written, as on a quiet server: the writer must not linger for
// writes that are not coming.
func BenchmarkLoneCommit(b *testing.B) {
	dir := b.TempDir()
	key, _ := store.CreateKey(dir + "/master.key")
	s, err := sqlite.Open(sqlite.Options{Path: dir + "/radmfa.db", Key: key, Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ev := store.AuditEvent{Actor: "radius:bench", Action: "auth", User: "u", Client: "bench", Result: "reject:unknown_user"}
	for b.Loop() {
		if err := s.CommitAuth(ctx, store.AuthCommit{At: time.Now(), Audit: ev}); err != nil {
			b.Fatal(err)
		}
	}
}
