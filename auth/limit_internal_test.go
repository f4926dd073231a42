package auth

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/sqlite"
)

// Names that do not exist take no bucket of the failure limiter: an
// attacker inventing names cannot grow the server's memory with them.
func TestInventedNamesTakeNoBucket(t *testing.T) {
	dir := t.TempDir()
	key, err := store.CreateKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(sqlite.Options{Path: filepath.Join(dir, "radmfa.db"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Unix(1_750_000_000, 0)
	svc := New(Deps{Store: st, Now: func() time.Time { return now }})
	if _, err := st.CreateUser(context.Background(), "t", store.User{Name: "real"}); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		svc.Authenticate(context.Background(), Request{User: fmt.Sprintf("invented-%d", i), Password: "123456"})
	}
	svc.Authenticate(context.Background(), Request{User: "real", Password: "123456"})
	svc.limiter.mu.Lock()
	n := len(svc.limiter.buckets)
	svc.limiter.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d limiter buckets after 500 invented names and one real user's failure, want 1", n)
	}
}
