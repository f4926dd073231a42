package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/postgres"
	"github.com/radmfa/radmfa/store/sqlite"
)

// AnchorSeed is the benchmark seed of user i: SHA1("anchor-user-i"), the
// same secret ../shared/bench gives FreeRADIUS, so one load run can drive
// both servers. These seeds are public: benchmark databases only.
func AnchorSeed(i int) []byte {
	s := sha1.Sum([]byte(fmt.Sprintf("anchor-user-%d", i)))
	return s[:]
}

// DeviceKey is the benchmark phone key of user i (public, like the seeds).
func DeviceKey(i int) (*ecdsa.PrivateKey, error) {
	d := sha256.Sum256([]byte(fmt.Sprintf("anchor-push-%d", i)))
	return ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
}

// UserName is the benchmark name of user i.
func UserName(i int) string { return fmt.Sprintf("user%04d", i) }

func seedCommand() *cli.Command {
	return &cli.Command{
		Name:  "seed",
		Usage: "fill a radmfa database with benchmark users whose seeds are PUBLIC (never on a real server)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Value: "./radmfa-data", Usage: "radmfa data directory (database and master key)"},
			&cli.StringFlag{Name: "db", Usage: "a postgres:// database to seed instead of the data dir's SQLite file (the master key stays in --data-dir)"},
			&cli.IntFlag{Name: "users", Value: 1000, Usage: "users user0000..user(N-1), one token each"},
			&cli.StringFlag{Name: "type", Value: "hotp", Usage: "hotp, totp (SHA1, 6 digits, 30 s) or push (a push token bound to a bench phone)"},
			&cli.IntFlag{Name: "inventory", Usage: "extra unassigned hardware tokens with random seeds (to test a large token table)"},
			&cli.IntFlag{Name: "batch", Value: 20000, Usage: "users or tokens per transaction"},
		},
		Action: func(c *cli.Context) error {
			typ := c.String("type")
			if typ != "hotp" && typ != "totp" && typ != "push" {
				return fmt.Errorf("--type %q: want hotp, totp or push", typ)
			}
			n, inv, batch := c.Int("users"), c.Int("inventory"), c.Int("batch")
			if n < 0 || inv < 0 || batch <= 0 {
				return errors.New("--users, --inventory and --batch must not be negative")
			}
			st, err := openStore(c.String("data-dir"), c.String("db"))
			if err != nil {
				return err
			}
			defer st.Close()
			start := time.Now()
			period := 0
			if typ != "hotp" {
				period = 30
			}
			var items []store.BulkItem
			flush := func() error {
				if len(items) == 0 {
					return nil
				}
				err := st.Bulk(c.Context, "radmfa-load", "bench.seed", items)
				items = items[:0]
				return err
			}
			for i := range n {
				it := store.BulkItem{
					User: &store.User{Name: UserName(i)},
					Tokens: []store.Token{{Serial: fmt.Sprintf("BENCH-%08d", i), Type: typ, Origin: store.OriginSoft,
						State: store.StateActive, Algorithm: "SHA1", Digits: 6, Period: period, Seed: AnchorSeed(i)}},
				}
				if typ == "push" {
					key, err := DeviceKey(i)
					if err != nil {
						return err
					}
					pub, _ := key.PublicKey.Bytes()
					it.Devices = []store.Device{{PublicKey: pub, OS: "radmfa-load", Model: "bench phone", Notifications: true}}
				}
				items = append(items, it)
				if len(items) == batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			seed := make([]byte, 20)
			for i := range inv {
				if _, err := rand.Read(seed); err != nil {
					return err
				}
				items = append(items, store.BulkItem{Tokens: []store.Token{{Serial: fmt.Sprintf("INV-%09d", i), Type: "hotp",
					Origin: store.OriginHardware, State: store.StateInventory, Algorithm: "SHA1", Digits: 6,
					Seed: append([]byte(nil), seed...)}}})
				if len(items) == batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := flush(); err != nil {
				return err
			}
			fmt.Printf("seeded %d users (%s) and %d inventory tokens in %s\n", n, typ, inv, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}

// openStore opens the data dir's SQLite database, or with a postgres://
// db that database with the data dir's master key (both made when new).
func openStore(dir, db string) (store.Store, error) {
	keyPath := filepath.Join(dir, "master.key")
	if postgres.IsURL(db) {
		key, err := store.LoadKey(keyPath)
		if errors.Is(err, store.ErrKeyMissing) {
			has, herr := postgres.HasData(context.Background(), db)
			if herr != nil {
				return nil, herr
			}
			if has {
				return nil, fmt.Errorf("%s has no master key for %s", dir, postgres.Redact(db))
			}
			key, err = store.CreateKey(keyPath)
		}
		if err != nil {
			return nil, err
		}
		return postgres.Open(context.Background(), postgres.Options{URL: db, Key: key})
	}
	if db != "" {
		return nil, fmt.Errorf("--db %q: want a postgres:// URL (SQLite lives in --data-dir)", db)
	}
	path := filepath.Join(dir, "radmfa.db")
	key, err := store.LoadKey(keyPath)
	if errors.Is(err, store.ErrKeyMissing) && !sqlite.HasData(path) {
		key, err = store.CreateKey(keyPath)
	}
	if err != nil {
		return nil, err
	}
	return sqlite.Open(sqlite.Options{Path: path, Key: key})
}
