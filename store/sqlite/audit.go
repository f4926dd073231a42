package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// Audit records one event.
func (s *Store) Audit(ctx context.Context, e store.AuditEvent) error {
	return s.enqueue(ctx, writeOp{fn: func(tx *sql.Tx) error { return s.audit(tx, e) }})
}

// AuditEvents returns matching audit rows, oldest first; with a Limit, the
// newest Limit rows.
func (s *Store) AuditEvents(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q, args := sqlrow.AuditQuery(sqlrow.Dialect{Param: func(n int) string { return fmt.Sprintf("?%d", n) }, UserCol: "user",
		UserEq: func(col, p string) string { return col + " = " + p + " COLLATE NOCASE" }}, f)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.ScanAudit)
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	slices.Reverse(out) // oldest first
	return out, nil
}

// PruneAudit deletes the audit rows before a time, with a row saying so.
func (s *Store) PruneAudit(ctx context.Context, by string, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM audit WHERE at < ?`, before.UnixMilli())
		if err != nil {
			return fmt.Errorf("store: audit prune: %w", err)
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil
		}
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "audit.prune", Result: "ok",
			Detail: fmt.Sprintf("deleted=%d before=%s", n, before.UTC().Format(time.RFC3339))})
	})
	return n, err
}
