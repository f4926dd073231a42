package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/postgres"
	"github.com/radmfa/radmfa/store/sqlite"
)

// pgBackupAdvice is what backup and restore say for PostgreSQL.
const pgBackupAdvice = "with PostgreSQL, back up the database with pg_dump (pg_dump -Fc) and restore it with pg_restore; " +
	"the seeds and secrets in it are sealed with master.key, which is not in the database: keep a copy of the key apart from the dumps"

func backupCommand() *cli.Command {
	return &cli.Command{
		Name: "backup", Usage: "write a consistent copy of the database while the server runs (never the master key)", ArgsUsage: "FILE",
		Action: withEnv(func(c *cli.Context, e *env) error {
			if err := usage(c, 1, "FILE"); err != nil {
				return err
			}
			b, ok := e.store.(interface {
				Backup(ctx context.Context, file string) error
			})
			if !ok {
				return errors.New(pgBackupAdvice)
			}
			file := c.Args().First()
			start := time.Now()
			if err := b.Backup(c.Context, file); err != nil {
				return err
			}
			if err := e.store.Audit(c.Context, store.AuditEvent{Actor: e.by, Action: "backup", Result: "ok", Detail: "file=" + file}); err != nil {
				return friendly(err)
			}
			fi, _ := os.Stat(file)
			fmt.Fprintf(c.App.Writer, "backup written to %s (%d bytes, %v); it holds no master key: keep master.key apart, it opens every backup\n",
				file, fi.Size(), time.Since(start).Round(time.Millisecond))
			return nil
		}),
	}
}

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name: "restore", Usage: "put a backup in place of the database of a stopped server (the data dir's master key must open it)", ArgsUsage: "FILE",
		Action: func(c *cli.Context) error {
			if err := usage(c, 1, "FILE"); err != nil {
				return err
			}
			db, keyPath := paths(c)
			if postgres.IsURL(db) {
				return errors.New(pgBackupAdvice)
			}
			if !isDir(filepath.Dir(db)) {
				return fmt.Errorf("data dir %s does not exist: create it with radmfa init (or mkdir -m 700) and put the master key there", filepath.Dir(db))
			}
			key, err := store.LoadKey(keyPath)
			if err != nil {
				return fmt.Errorf("%w (a backup opens only with the master key it was made under)", err)
			}
			release, err := holdStopped(db)
			if err != nil {
				return err
			}
			defer release()
			file := c.Args().First()
			users, tokens, err := sqlite.CheckBackup(c.Context, file, key)
			if err != nil {
				return err
			}
			// The database now in place is kept, not overwritten.
			if _, err := os.Stat(db); err == nil {
				kept := fmt.Sprintf("%s.before-restore-%s", db, time.Now().UTC().Format("20060102T150405Z"))
				if err := os.Rename(db, kept); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "the database in place is kept as %s\n", kept)
			}
			for _, suffix := range []string{"-wal", "-shm"} {
				if err := os.Remove(db + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			if err := copyFile(file, db); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "restored %s: %d users, %d tokens; start the server\n", file, users, tokens)
			return nil
		},
	}
}

// copyFile copies src to a new 0600 dst through a temporary file, synced,
// then renamed into place.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".restoring"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
