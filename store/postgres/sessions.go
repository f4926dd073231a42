package postgres

import (
	"context"
	"fmt"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// RecordAccounting records an accounting record in its session, in one
// statement.
func (s *Store) RecordAccounting(ctx context.Context, r store.AcctRecord) error {
	if r.At.IsZero() {
		r.At = s.now()
	}
	if err := sqlrow.CheckAcct(r); err != nil {
		return err
	}
	var err error
	if r.Status == store.AcctOn || r.Status == store.AcctOff {
		_, err = s.pool.Exec(ctx, sqlrow.SessionsEnd, r.Client, r.NAS, r.At.Unix(), sqlrow.EndCause(r.Status))
	} else {
		_, err = s.pool.Exec(ctx, sqlrow.SessionUpsert, sqlrow.SessionArgs(r)...)
	}
	if err != nil {
		return fmt.Errorf("store: accounting: %w", err)
	}
	return nil
}

// Sessions lists sessions, newest first.
func (s *Store) Sessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
	q, args := sqlrow.SessionQuery(f)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.ScanSession)
	if err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	return out, nil
}
