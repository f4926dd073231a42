package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

const userCols = sqlrow.UserCols

func scanUser(sc sqlrow.Scanner) (store.User, error) { return sqlrow.ScanUser(sc) }

// CreateUser adds a user.
func (s *Store) CreateUser(ctx context.Context, by string, u store.User) (store.User, error) {
	u.CreatedAt = s.now().UTC().Truncate(1e9)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO users(name, email, grp, disabled, created_at, source, external_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.Name, u.Email, u.Group, u.Disabled, u.CreatedAt.Unix(), u.Source, u.ExternalID)
		if isUnique(err) {
			return clean(fmt.Errorf("store: user %q: %w", u.Name, store.ErrExists))
		}
		if err != nil {
			return fmt.Errorf("store: user %q: %w", u.Name, err)
		}
		u.ID, _ = res.LastInsertId()
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "user.add", User: u.Name, Result: "ok"})
	})
	return u, err
}

// User returns one user by name (case-insensitive).
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.stmts.user.QueryRowContext(ctx, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("store: user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("store: user %q: %w", name, err)
	}
	return u, nil
}

// Users lists all users by name.
func (s *Store) Users(ctx context.Context) ([]store.User, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
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
	return s.write(ctx, func(tx *sql.Tx) error {
		var canonical string
		err := tx.QueryRow(`UPDATE users SET disabled = ? WHERE name = ? RETURNING name`, disabled, name).Scan(&canonical)
		if errors.Is(err, sql.ErrNoRows) {
			return clean(fmt.Errorf("store: user %q: %w", name, store.ErrNotFound))
		}
		if err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		return s.audit(tx, store.AuditEvent{Actor: by, Action: action, User: canonical, Result: "ok"})
	})
}

// UpdateUser changes a user through fn, with an audit row.
func (s *Store) UpdateUser(ctx context.Context, by, name, action string, fn func(*store.User) error) (store.User, error) {
	var out store.User
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := scanUser(tx.QueryRow(`SELECT `+sqlrow.UserCols+` FROM users WHERE name = ? COLLATE NOCASE`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return clean(fmt.Errorf("store: user %q: %w", name, store.ErrNotFound))
		}
		if err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		u := old
		if err := fn(&u); err != nil {
			return clean(err)
		}
		u.ID, u.Name, u.CreatedAt, u.PushLockedUntil, u.FailureTAT = old.ID, old.Name, old.CreatedAt, old.PushLockedUntil, old.FailureTAT
		if _, err := tx.Exec(sqlrow.QuestionParams(sqlrow.UserUpdate), u.ID, u.Email, u.Group, u.Disabled, u.Source, u.ExternalID); err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		out = u
		return s.audit(tx, store.AuditEvent{Actor: by, Action: action, User: u.Name, Result: "ok", Detail: sqlrow.UserChanges(old, u)})
	})
	return out, err
}

// DeleteUser deletes a user: hardware tokens go back to the inventory (reset
// and unlocked, PIN cleared), soft tokens are deleted with their seeds.
func (s *Store) DeleteUser(ctx context.Context, by, name string) (store.DeletedUser, error) {
	var out store.DeletedUser
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = store.DeletedUser{}
		var id int64
		var canonical string
		err := tx.QueryRow(`SELECT id, name FROM users WHERE name = ?`, name).Scan(&id, &canonical)
		if errors.Is(err, sql.ErrNoRows) {
			return clean(fmt.Errorf("store: user %q: %w", name, store.ErrNotFound))
		}
		if err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		rows, err := tx.Query(`SELECT serial, origin FROM tokens WHERE user_id = ? ORDER BY serial`, id)
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
		if _, err := tx.Exec(`UPDATE tokens SET user_id = NULL, state = ?, pin_hash = '', fail_count = 0,
			locked_until = 0, version = version + 1 WHERE user_id = ? AND origin = ? AND state != ?`,
			store.StateInventory, id, store.OriginHardware, store.StateRevoked); err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		// Revoked hardware tokens stay revoked, just unassigned.
		if _, err := tx.Exec(`UPDATE tokens SET user_id = NULL, version = version + 1 WHERE user_id = ?
			AND origin = ?`, id, store.OriginHardware); err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		if _, err := tx.Exec(`DELETE FROM tokens WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		if _, err := tx.Exec(`DELETE FROM users WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: user %q: %w", name, err)
		}
		detail := sqlrow.DeletedDetail(out)
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "user.delete", User: canonical, Result: "ok", Detail: detail})
	})
	return out, err
}
