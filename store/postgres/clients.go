package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

const clientCols = sqlrow.ClientCols

func (s *Store) scanClient(sc sqlrow.Scanner) (store.Client, error) {
	return sqlrow.ScanClient(sc, s.sealer)
}

// CreateClient adds a RADIUS client.
func (s *Store) CreateClient(ctx context.Context, by string, c store.Client) (store.Client, error) {
	c, sealed, err := sqlrow.NewClient(s.sealer, c, s.now())
	if err != nil {
		return store.Client{}, err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, sqlrow.ClientInsert+` RETURNING id`, append([]any{c.Name}, sqlrow.ClientArgs(c, sealed)...)...).Scan(&c.ID)
		if isUnique(err) {
			return fmt.Errorf("store: client %q: %w", c.Name, store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("store: client %q: %w", c.Name, err)
		}
		if err := bumpVersion(ctx, tx, "clients"); err != nil {
			return fmt.Errorf("store: client %q: %w", c.Name, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "client.add", Client: c.Name, Result: "ok",
			Detail: "cidr=" + c.Prefix.String()})
	})
	if err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// Client returns one client with its secret.
func (s *Store) Client(ctx context.Context, name string) (store.Client, error) {
	c, err := s.scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Client{}, fmt.Errorf("store: client %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("store: %w", err)
	}
	return c, nil
}

// Clients lists all clients with their secrets, by name.
func (s *Store) Clients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: clients: %w", err)
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, s.scanClient)
	if err != nil {
		return nil, fmt.Errorf("store: clients: %w", err)
	}
	return out, nil
}

// UpdateClient changes a client through fn, with an audit row.
func (s *Store) UpdateClient(ctx context.Context, by, name string, fn func(*store.Client) error) (store.Client, error) {
	var out store.Client
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := s.scanClient(tx.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE name = $1 FOR UPDATE`, name))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: client %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		c := old
		c.Secret = append([]byte(nil), old.Secret...)
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.Name, c.CreatedAt = old.ID, old.Name, old.CreatedAt
		c, sealed, err := sqlrow.SealClient(s.sealer, c)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlrow.ClientUpdate, append([]any{c.Name}, sqlrow.ClientArgs(c, sealed)...)...); err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		if err := bumpVersion(ctx, tx, "clients"); err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		out = c
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "client.set", Client: c.Name, Result: "ok",
			Detail: sqlrow.ClientChanges(old, c)})
	})
	if err != nil {
		return store.Client{}, err
	}
	return out, nil
}

// DeleteClient removes a client.
func (s *Store) DeleteClient(ctx context.Context, by, name string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM clients WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: client %q: %w", name, store.ErrNotFound)
		}
		if err := bumpVersion(ctx, tx, "clients"); err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "client.remove", Client: name, Result: "ok"})
	})
}

// ClientsVersion changes whenever a client or reply attribute is added
// or removed, by any instance.
func (s *Store) ClientsVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT v FROM versions WHERE k = 'clients'`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: clients version: %w", err)
	}
	return v, nil
}

// AddReplyAttr stores a reply attribute.
func (s *Store) AddReplyAttr(ctx context.Context, by string, a store.ReplyAttr) (store.ReplyAttr, error) {
	if err := sqlrow.CheckReplyAttr(a); err != nil {
		return store.ReplyAttr{}, err
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO reply_attrs(scope, target, attr, value, created_at) VALUES ($1, $2, $3, $4, $5)
			RETURNING id`, a.Scope, a.Target, a.Attr, a.Value, s.now().Unix()).Scan(&a.ID)
		if err != nil {
			return fmt.Errorf("store: reply attribute: %w", err)
		}
		if err := bumpVersion(ctx, tx, "clients"); err != nil {
			return fmt.Errorf("store: reply attribute: %w", err)
		}
		return s.audit(ctx, tx, sqlrow.ReplyAttrAudit(by, a))
	})
	return a, err
}

// ReplyAttrs lists all reply attributes in the order they were added.
func (s *Store) ReplyAttrs(ctx context.Context) ([]store.ReplyAttr, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, scope, target, attr, value FROM reply_attrs ORDER BY id`)
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
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM reply_attrs WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("store: reply attribute %d: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: reply attribute %d: %w", id, store.ErrNotFound)
		}
		if err := bumpVersion(ctx, tx, "clients"); err != nil {
			return fmt.Errorf("store: reply attribute: %w", err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "reply.remove", Result: "ok", Detail: fmt.Sprintf("id %d", id)})
	})
}
