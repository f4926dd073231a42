package radius

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// flakySource fails its version checks from the second to the fails+1th,
// then calls done.
type flakySource struct {
	staticSource
	mu    sync.Mutex
	calls int
	fails int
	done  func()
}

func (f *flakySource) Version(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch {
	case f.calls == 1:
		return 1, nil
	case f.calls <= f.fails+1:
		return 0, errors.New("database unreachable")
	case f.calls == f.fails+3:
		f.done()
	}
	return 1, nil
}

// TestReloadFailuresLoggedOnce: a store out of reach fails every reload
// check; that is logged once a minute and once when it works again, not
// at every check.
func TestReloadFailuresLoggedOnce(t *testing.T) {
	var buf syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &flakySource{staticSource: staticSource{NewTable(nil, nil)}, fails: 50, done: cancel}
	now := time.Unix(1_700_000_000, 0)
	srv, err := NewServer(ctx, Deps{Auth: rejectAll{}, Source: src, Logger: slog.New(slog.NewTextHandler(&buf, nil)),
		Now: func() time.Time { return now }, Config: Config{ReloadEvery: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ctx, nil); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "reload failed"); n != 1 {
		t.Fatalf("%d lines for 50 failed checks within a minute, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "reload works again") || !strings.Contains(out, "failed_checks=50") {
		t.Fatalf("no line when the checks worked again:\n%s", out)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
