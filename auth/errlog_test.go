package auth

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestErrLogHoldsBackAFlood(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var buf bytes.Buffer
	l := &errLog{log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return now }}
	for range 1000 {
		l.Error("auth: commit", "user", "alice")
	}
	if n := strings.Count(buf.String(), "\n"); n != errLines {
		t.Fatalf("%d lines for 1000 failures in one period, want %d", n, errLines)
	}
	now = now.Add(errPeriod)
	buf.Reset()
	l.Error("auth: commit", "user", "alice")
	if !strings.Contains(buf.String(), "held_back=990") {
		t.Fatalf("the first line of the next period %q does not say how many were held back", buf.String())
	}
}
