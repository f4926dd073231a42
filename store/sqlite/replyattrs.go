package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// AddReplyAttr stores a reply attribute.
func (s *Store) AddReplyAttr(ctx context.Context, by string, a store.ReplyAttr) (store.ReplyAttr, error) {
	if err := sqlrow.CheckReplyAttr(a); err != nil {
		return store.ReplyAttr{}, err
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO reply_attrs(scope, target, attr, value, created_at) VALUES (?, ?, ?, ?, ?)`,
			a.Scope, a.Target, a.Attr, a.Value, s.now().Unix())
		if err != nil {
			return fmt.Errorf("store: reply attribute: %w", err)
		}
		a.ID, _ = res.LastInsertId()
		if err := s.bumpClientsVersion(tx); err != nil {
			return fmt.Errorf("store: reply attribute: %w", err)
		}
		return s.audit(tx, sqlrow.ReplyAttrAudit(by, a))
	})
	return a, err
}

// ReplyAttrs lists all reply attributes in the order they were added.
func (s *Store) ReplyAttrs(ctx context.Context) ([]store.ReplyAttr, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, scope, target, attr, value FROM reply_attrs ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: reply attributes: %w", err)
	}
	defer rows.Close()
	var out []store.ReplyAttr
	for rows.Next() {
		var a store.ReplyAttr
		if err := rows.Scan(&a.ID, &a.Scope, &a.Target, &a.Attr, &a.Value); err != nil {
			return nil, fmt.Errorf("store: reply attributes: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteReplyAttr removes one reply attribute by id.
func (s *Store) DeleteReplyAttr(ctx context.Context, by string, id int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM reply_attrs WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("store: reply attribute %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return clean(fmt.Errorf("store: reply attribute %d: %w", id, store.ErrNotFound))
		}
		if err := s.bumpClientsVersion(tx); err != nil {
			return fmt.Errorf("store: reply attribute: %w", err)
		}
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "reply.remove", Result: "ok", Detail: fmt.Sprintf("id %d", id)})
	})
}
