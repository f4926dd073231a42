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
	q := `SELECT id, at, actor, action, user, serial, client, result, detail FROM audit WHERE at >= ?`
	args := []any{f.Since.UnixMilli()}
	if f.Since.IsZero() {
		args[0] = int64(0)
	}
	if f.User != "" {
		q += ` AND user = ? COLLATE NOCASE`
		args = append(args, f.User)
	}
	if f.Serial != "" {
		q += ` AND serial = ?`
		args = append(args, f.Serial)
	}
	if f.Action != "" {
		q += ` AND action = ?`
		args = append(args, f.Action)
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
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
