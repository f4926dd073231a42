package auth

import (
	"log/slog"
	"sync"
	"time"
)

// errLog logs the store's failures of logins: while the database is out
// of reach every login fails alike, and a line each would flood the log.
// It logs at most errLines lines per errPeriod; the next line after a
// quiet spell says how many were held back.
type errLog struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	start time.Time
	lines int
	held  int
}

const (
	errLines  = 10
	errPeriod = 10 * time.Second
)

// Error logs msg with args unless the budget of the period is spent.
func (l *errLog) Error(msg string, args ...any) {
	now := l.now()
	l.mu.Lock()
	if now.Sub(l.start) >= errPeriod {
		l.start, l.lines = now, 0
	}
	if l.lines >= errLines {
		l.held++
		l.mu.Unlock()
		return
	}
	l.lines++
	held := l.held
	l.held = 0
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "held_back", held)
	}
	l.log.Error(msg, args...)
}
