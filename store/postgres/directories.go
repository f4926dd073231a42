package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// CreateDirectory adds a directory, its bind password sealed.
func (s *Store) CreateDirectory(ctx context.Context, by string, d store.Directory) (store.Directory, error) {
	d, args, err := sqlrow.CheckDirectory(s.sealer, d, s.now())
	if err != nil {
		return store.Directory{}, err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, sqlrow.DirectoryInsert+` RETURNING id`, args...).Scan(&d.ID)
		if isUnique(err) {
			return fmt.Errorf("store: directory %q: %w", d.Name, store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("store: directory %q: %w", d.Name, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "directory.add", Result: "ok", Detail: "name=" + d.Name})
	})
	if err != nil {
		return store.Directory{}, err
	}
	return d, nil
}

// Directory returns one directory with its bind password.
func (s *Store) Directory(ctx context.Context, name string) (store.Directory, error) {
	d, err := sqlrow.ScanDirectory(s.pool.QueryRow(ctx, `SELECT `+sqlrow.DirectoryCols+` FROM directories WHERE name = $1`, name), s.sealer)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Directory{}, fmt.Errorf("store: directory %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Directory{}, fmt.Errorf("store: directory %q: %w", name, err)
	}
	return d, nil
}

// Directories lists the directories, by name.
func (s *Store) Directories(ctx context.Context) ([]store.Directory, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlrow.DirectoryCols+` FROM directories ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: directories: %w", err)
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, func(sc sqlrow.Scanner) (store.Directory, error) { return sqlrow.ScanDirectory(sc, s.sealer) })
	if err != nil {
		return nil, fmt.Errorf("store: directories: %w", err)
	}
	return out, nil
}

// DeleteDirectory removes a directory; its users stay, as users added by
// hand.
func (s *Store) DeleteDirectory(ctx context.Context, by, name string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM directories WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("store: directory %q: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: directory %q: %w", name, store.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET source = '', external_id = '' WHERE source = $1`, name); err != nil {
			return fmt.Errorf("store: directory %q: %w", name, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "directory.remove", Result: "ok", Detail: "name=" + name})
	})
}
