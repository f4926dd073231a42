package sqlite

import (
	"context"
	"database/sql"
	"fmt"

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
	var out []store.AuditEvent
	for rows.Next() {
		e, err := sqlrow.ScanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store: audit: %w", err)
		}
		out = append(out, e)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}
