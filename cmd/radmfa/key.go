package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/postgres"
)

// settingKeyStaged is where a running server says it has staged a new
// master key (its fingerprint): it seals with it from then on.
const settingKeyStaged = "key.staged"

// rotatable is a backend whose secrets can be sealed again.
type rotatable interface {
	Sealer() *store.Sealer
	Reseal(ctx context.Context, by, fingerprint string) (int, error)
}

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "the master key that seals every seed and secret",
		Subcommands: []*cli.Command{{
			Name:  "rotate",
			Usage: "seal every secret again under a new master key, while the server runs or not",
			Flags: []cli.Flag{&cli.DurationFlag{Name: "wait", Value: 30 * time.Second, Usage: "how long to wait for a running server to take the new key up"}},
			Action: func(c *cli.Context) error {
				if err := usage(c, 0, ""); err != nil {
					return err
				}
				return keyRotate(c)
			},
		}},
	}
}

// keyRotate rotates the master key in three steps: the new key is
// written beside the old one (DATA-DIR/master.key.next) and a running
// server takes it up, sealing with it and opening with both; every secret
// is sealed again with it in one transaction; then it becomes
// master.key, and the old one is kept, renamed, for the backups made
// under it. A rotation that stopped half way is taken up again by running
// it again.
func keyRotate(c *cli.Context) error {
	db, keyPath := paths(c)
	if _, err := store.LoadKey(keyPath); err != nil {
		return err
	}
	nextPath := keyPath + ".next"
	next, err := store.LoadKey(nextPath)
	if errors.Is(err, store.ErrKeyMissing) {
		next, err = store.CreateKey(nextPath)
	}
	if err != nil {
		return err
	}
	fp := store.KeyFingerprint(next)
	running := false
	if postgres.IsURL(db) {
		running = true // other instances may run: they must take the key up
	} else if release, err := holdStopped(db); err != nil {
		running = true
	} else {
		release()
	}
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
	if running {
		deadline := time.Now().Add(c.Duration("wait"))
		for {
			v, err := st.Setting(c.Context, settingKeyStaged)
			if err == nil && v == fp {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the running server did not take the new key up within --wait %s (it is in %s; "+
					"with several instances copy it to each data dir first); nothing was sealed again", c.Duration("wait"), nextPath)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	r, ok := st.(rotatable)
	if !ok {
		return errors.New("this store cannot rotate its key")
	}
	if err := r.Sealer().Stage(next); err != nil {
		return err
	}
	by := actor()
	n, err := r.Reseal(c.Context, by, fp)
	if err != nil {
		return fmt.Errorf("%w; the old key still opens everything, and running this again finishes the rotation", err)
	}
	retired := fmt.Sprintf("%s.retired-%s", keyPath, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(keyPath, retired); err != nil {
		return err
	}
	if err := os.Rename(nextPath, keyPath); err != nil {
		return fmt.Errorf("%w: the new key is %s; move it to %s", err, nextPath, keyPath)
	}
	fmt.Fprintf(c.App.Writer, "%d secrets sealed again under the new master key %s (fingerprint %s).\n", n, keyPath, fp)
	fmt.Fprintf(c.App.Writer, "The old key is kept as %s: only backups made before now need it; delete it with them.\n", retired)
	fmt.Fprintln(c.App.Writer, "Keep a copy of the new master key apart from the database, as before.")
	return nil
}

// watchKey follows a key rotation in a running server: when the new key
// appears beside the master key, the server seals with it (opening with
// both) and says so; when it has become the master key, the old one is
// dropped.
func watchKey(ctx context.Context, st store.Store, r rotatable, keyPath string, log *slog.Logger) {
	staged := ""
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if next, err := store.LoadKey(keyPath + ".next"); err == nil {
			if fp := store.KeyFingerprint(next); fp != staged {
				if err := r.Sealer().Stage(next); err != nil {
					log.Error("key: staging the new master key", "err", err)
					continue
				}
				if err := st.SetSetting(ctx, settingKeyStaged, fp); err != nil {
					log.Error("key: staging the new master key", "err", err)
					continue
				}
				staged = fp
				log.Info("key: a new master key is staged: new secrets are sealed with it", "fingerprint", fp)
			}
			continue
		}
		if staged == "" {
			continue
		}
		if key, err := store.LoadKey(keyPath); err == nil && store.KeyFingerprint(key) == staged {
			if err := r.Sealer().Only(key); err == nil {
				log.Info("key: the master key is rotated; the old one no longer opens anything here", "fingerprint", staged)
				staged = ""
			}
		}
	}
}
