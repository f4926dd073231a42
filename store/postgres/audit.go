package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// Audit records one event, in one statement.
func (s *Store) Audit(ctx context.Context, e store.AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if _, err := s.pool.Exec(ctx, auditInsert, e.At.UnixMilli(), e.Actor, e.Action, e.User, e.Serial, e.Client, e.Result, e.Detail); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditEvents returns matching audit rows, oldest first; with a Limit, the
// newest Limit rows.
func (s *Store) AuditEvents(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q, args := sqlrow.AuditQuery(sqlrow.Dialect{Param: func(n int) string { return fmt.Sprintf("$%d", n) }, UserCol: "user_name",
		UserEq: func(col, p string) string { return "lower(" + col + ") = lower(" + p + ")" }}, f)
	rows, err := s.pool.Query(ctx, q, args...)
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM audit WHERE at < $1`, before.UnixMilli())
		if err != nil {
			return fmt.Errorf("store: audit prune: %w", err)
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "audit.prune", Result: "ok",
			Detail: fmt.Sprintf("deleted=%d before=%s", n, before.UTC().Format(time.RFC3339))})
	})
	return n, err
}
