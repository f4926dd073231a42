package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// CreateDirectory adds a directory, its bind password sealed.
func (s *Store) CreateDirectory(ctx context.Context, by string, d store.Directory) (store.Directory, error) {
	d, args, err := sqlrow.CheckDirectory(s.sealer, d, s.now())
	if err != nil {
		return store.Directory{}, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(sqlrow.QuestionParams(sqlrow.DirectoryInsert), args...)
		if isUnique(err) {
			return clean(fmt.Errorf("store: directory %q: %w", d.Name, store.ErrExists))
		}
		if err != nil {
			return fmt.Errorf("store: directory %q: %w", d.Name, err)
		}
		d.ID, _ = res.LastInsertId()
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "directory.add", Result: "ok", Detail: "name=" + d.Name})
	})
	if err != nil {
		return store.Directory{}, err
	}
	return d, nil
}

// Directory returns one directory with its bind password.
func (s *Store) Directory(ctx context.Context, name string) (store.Directory, error) {
	d, err := sqlrow.ScanDirectory(s.rdb.QueryRowContext(ctx, `SELECT `+sqlrow.DirectoryCols+` FROM directories WHERE name = ?`, name), s.sealer)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Directory{}, fmt.Errorf("store: directory %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Directory{}, fmt.Errorf("store: directory %q: %w", name, err)
	}
	return d, nil
}

// Directories lists the directories, by name.
func (s *Store) Directories(ctx context.Context) ([]store.Directory, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+sqlrow.DirectoryCols+` FROM directories ORDER BY name`)
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
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM directories WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("store: directory %q: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return clean(fmt.Errorf("store: directory %q: %w", name, store.ErrNotFound))
		}
		if _, err := tx.Exec(`UPDATE users SET source = '', external_id = '' WHERE source = ?`, name); err != nil {
			return fmt.Errorf("store: directory %q: %w", name, err)
		}
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "directory.remove", Result: "ok", Detail: "name=" + name})
	})
}
