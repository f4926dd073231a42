package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

const clientCols = sqlrow.ClientCols

func (s *Store) scanClient(sc sqlrow.Scanner) (store.Client, error) {
	return sqlrow.ScanClient(sc, s.sealer)
}

func (s *Store) bumpClientsVersion(tx *sql.Tx) error {
	_, err := tx.Exec(`INSERT INTO meta(k, v) VALUES ('clients_version', 1)
		ON CONFLICT(k) DO UPDATE SET v = v + 1`)
	return err
}

// CreateClient adds a RADIUS client.
func (s *Store) CreateClient(ctx context.Context, by string, c store.Client) (store.Client, error) {
	c, sealed, err := sqlrow.NewClient(s.sealer, c, s.now())
	if err != nil {
		return store.Client{}, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(sqlrow.QuestionParams(sqlrow.ClientInsert), append([]any{c.Name}, sqlrow.ClientArgs(c, sealed)...)...)
		if isUnique(err) {
			return clean(fmt.Errorf("store: client %q: %w", c.Name, store.ErrExists))
		}
		if err != nil {
			return fmt.Errorf("store: client %q: %w", c.Name, err)
		}
		c.ID, _ = res.LastInsertId()
		if err := s.bumpClientsVersion(tx); err != nil {
			return fmt.Errorf("store: client %q: %w", c.Name, err)
		}
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "client.add", Client: c.Name, Result: "ok",
			Detail: "cidr=" + c.Prefix.String()})
	})
	if err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// Client returns one client with its secret.
func (s *Store) Client(ctx context.Context, name string) (store.Client, error) {
	c, err := s.scanClient(s.rdb.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Client{}, fmt.Errorf("store: client %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("store: %w", err)
	}
	return c, nil
}

// Clients lists all clients with their secrets, by name.
func (s *Store) Clients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY name`)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := s.scanClient(tx.QueryRow(`SELECT `+clientCols+` FROM clients WHERE name = ?`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return clean(fmt.Errorf("store: client %q: %w", name, store.ErrNotFound))
		}
		if err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		c := old
		c.Secret = append([]byte(nil), old.Secret...)
		if err := fn(&c); err != nil {
			return clean(err)
		}
		c.ID, c.Name, c.CreatedAt = old.ID, old.Name, old.CreatedAt
		c, sealed, err := sqlrow.SealClient(s.sealer, c)
		if err != nil {
			return clean(err)
		}
		if _, err := tx.Exec(sqlrow.QuestionParams(sqlrow.ClientUpdate), append([]any{c.Name}, sqlrow.ClientArgs(c, sealed)...)...); err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		if err := s.bumpClientsVersion(tx); err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		out = c
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "client.set", Client: c.Name, Result: "ok",
			Detail: sqlrow.ClientChanges(old, c)})
	})
	if err != nil {
		return store.Client{}, err
	}
	return out, nil
}

// DeleteClient removes a client.
func (s *Store) DeleteClient(ctx context.Context, by, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM clients WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return clean(fmt.Errorf("store: client %q: %w", name, store.ErrNotFound))
		}
		if err := s.bumpClientsVersion(tx); err != nil {
			return fmt.Errorf("store: client %q: %w", name, err)
		}
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "client.remove", Client: name, Result: "ok"})
	})
}

// ClientsVersion changes whenever a client is added or removed.
func (s *Store) ClientsVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.rdb.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'clients_version'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: clients version: %w", err)
	}
	return v, nil
}
