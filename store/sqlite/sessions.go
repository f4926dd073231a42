package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

var (
	sessionUpsert = sqlrow.QuestionParams(sqlrow.SessionUpsert)
	sessionsEnd   = sqlrow.QuestionParams(sqlrow.SessionsEnd)
)

// RecordAccounting records an accounting record in its session, through
// the writer: it shares a transaction and a sync with the logins decided
// meanwhile.
func (s *Store) RecordAccounting(ctx context.Context, r store.AcctRecord) error {
	if r.At.IsZero() {
		r.At = s.now()
	}
	if err := sqlrow.CheckAcct(r); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if r.Status == store.AcctOn || r.Status == store.AcctOff {
			_, err = tx.Exec(sessionsEnd, r.Client, r.NAS, r.At.Unix(), sqlrow.EndCause(r.Status))
		} else {
			_, err = tx.Exec(sessionUpsert, sqlrow.SessionArgs(r)...)
		}
		if err != nil {
			return fmt.Errorf("store: accounting: %w", err)
		}
		return nil
	})
}

// Sessions lists sessions, newest first.
func (s *Store) Sessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
	q, args := sqlrow.SessionQuery(f)
	rows, err := s.rdb.QueryContext(ctx, sqlrow.QuestionParams(q), args...)
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
