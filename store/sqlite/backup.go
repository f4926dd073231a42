package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"github.com/radmfa/radmfa/store"
)

// Backup writes a consistent copy of the database to file while the
// store stays open and logins go on: SQLite's VACUUM INTO, one read
// transaction's snapshot, compacted. The copy holds secrets only sealed:
// the master key is not in it. file must not exist; it is made 0600.
func (s *Store) Backup(ctx context.Context, file string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	f.Close()
	// A connection of its own: VACUUM INTO reads the database in one
	// read transaction (the writer goes on) and writes only the copy,
	// which the read-only connections may not.
	db, err := sql.Open("sqlite3", dsn(s.path, url.Values{"_busy_timeout": {"10000"}}))
	if err != nil {
		os.Remove(file)
		return fmt.Errorf("store: backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, file); err != nil {
		os.Remove(file)
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}

// CheckBackup checks that file is a database of radmfa's, whole
// (PRAGMA integrity_check), of a schema this binary knows, and sealed with
// key; it returns how many users and tokens it holds. It writes nothing.
func CheckBackup(ctx context.Context, file string, key []byte) (users, tokens int, err error) {
	if _, err := os.Stat(file); err != nil {
		return 0, 0, fmt.Errorf("store: backup: %w", err)
	}
	db, err := sql.Open("sqlite3", dsn(file, url.Values{"mode": {"ro"}, "immutable": {"1"}}))
	if err != nil {
		return 0, 0, fmt.Errorf("store: backup: %w", err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil {
		return 0, 0, fmt.Errorf("store: backup %s is no SQLite database: %w", file, err)
	}
	if check != "ok" {
		return 0, 0, fmt.Errorf("store: backup %s is damaged: %s", file, check)
	}
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, 0, fmt.Errorf("store: backup: %w", err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	if version == 0 || version > len(names) {
		return 0, 0, fmt.Errorf("store: backup %s: schema version %d, this radmfa knows 1 to %d", file, version, len(names))
	}
	var sealed []byte
	if err := db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'key_check'`).Scan(&sealed); err != nil {
		return 0, 0, fmt.Errorf("store: backup %s is not radmfa's: %w", file, err)
	}
	sealer, err := store.NewSealer(key)
	if err != nil {
		return 0, 0, err
	}
	if _, err := sealer.Open(sealed, store.KeyCheckAD); err != nil {
		return 0, 0, fmt.Errorf("store: backup %s was sealed with another master key", file)
	}
	if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM tokens)`).Scan(&users, &tokens); err != nil {
		return 0, 0, fmt.Errorf("store: backup: %w", err)
	}
	return users, tokens, nil
}
