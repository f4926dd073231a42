package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

const userCols = sqlrow.UserCols

func scanUser(sc sqlrow.Scanner) (store.User, error) { return sqlrow.ScanUser(sc) }

// CreateUser adds a user.
func (s *Store) CreateUser(ctx context.Context, by string, u store.User) (store.User, error) {
	u.CreatedAt = s.now().UTC().Truncate(1e9)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO users(name, email, grp, disabled, created_at, source, external_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, u.Name, u.Email, u.Group, u.Disabled, u.CreatedAt.Unix(),
			u.Source, u.ExternalID).Scan(&u.ID)
		if isUnique(err) {
			return fmt.Errorf("store: user %q: %w", u.Name, store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("store: user %q: %w", u.Name, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "user.add", User: u.Name, Result: "ok"})
	})
	return u, err
}

// UpdateUser changes a user through fn, with an audit row.
func (s *Store) UpdateUser(ctx context.Context, by, name, action string, fn func(*store.User) error) (store.User, error) {
	var out store.User
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE lower(name) = lower($1) FOR UPDATE`, name))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: user %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		u := old
		if err := fn(&u); err != nil {
			return err
		}
		u.ID, u.Name, u.CreatedAt, u.PushLockedUntil, u.FailureTAT = old.ID, old.Name, old.CreatedAt, old.PushLockedUntil, old.FailureTAT
		if _, err := tx.Exec(ctx, sqlrow.UserUpdate, u.ID, u.Email, u.Group, u.Disabled, u.Source, u.ExternalID); err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		out = u
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: action, User: u.Name, Result: "ok", Detail: sqlrow.UserChanges(old, u)})
	})
	return out, err
}

// User returns one user by name (case-insensitive).
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE lower(name) = lower($1)`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, fmt.Errorf("store: user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("store: user %q: %w", name, err)
	}
	return u, nil
}

// Users lists all users by name.
func (s *Store) Users(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY lower(name), name`)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return out, nil
}

// SetUserDisabled disables or enables a user.
func (s *Store) SetUserDisabled(ctx context.Context, by, name string, disabled bool) error {
	action := "user.enable"
	if disabled {
		action = "user.disable"
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		var canonical string
		err := tx.QueryRow(ctx, `UPDATE users SET disabled = $1 WHERE lower(name) = lower($2) RETURNING name`, disabled, name).Scan(&canonical)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: user %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: action, User: canonical, Result: "ok"})
	})
}

// DeleteUser deletes a user: hardware tokens go back to the inventory (reset
// and unlocked, PIN cleared), soft tokens are deleted with their seeds.
func (s *Store) DeleteUser(ctx context.Context, by, name string) (store.DeletedUser, error) {
	var out store.DeletedUser
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = store.DeletedUser{}
		var id int64
		var canonical string
		err := tx.QueryRow(ctx, `SELECT id, name FROM users WHERE lower(name) = lower($1) FOR UPDATE`, name).Scan(&id, &canonical)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: user %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		rows, err := tx.Query(ctx, `SELECT serial, origin FROM tokens WHERE user_id = $1 ORDER BY serial`, id)
		if err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		for rows.Next() {
			var serial, origin string
			if err := rows.Scan(&serial, &origin); err != nil {
				rows.Close()
				return fmt.Errorf("store: user %q: %w", name, err)
			}
			if origin == store.OriginHardware {
				out.ToInventory = append(out.ToInventory, serial)
			} else {
				out.Deleted = append(out.Deleted, serial)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`UPDATE tokens SET user_id = NULL, state = $1, pin_hash = '', fail_count = 0, locked_until = 0,
				version = version + 1 WHERE user_id = $2 AND origin = $3 AND state != $4`,
				[]any{store.StateInventory, id, store.OriginHardware, store.StateRevoked}},
			// Revoked hardware tokens stay revoked, just unassigned.
			{`UPDATE tokens SET user_id = NULL, version = version + 1 WHERE user_id = $1 AND origin = $2`,
				[]any{id, store.OriginHardware}},
			{`DELETE FROM tokens WHERE user_id = $1`, []any{id}},
			{`DELETE FROM users WHERE id = $1`, []any{id}},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				return fmt.Errorf("store: user %q: %w", name, err)
			}
		}
		detail := sqlrow.DeletedDetail(out)
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "user.delete", User: canonical, Result: "ok", Detail: detail})
	})
	return out, err
}
