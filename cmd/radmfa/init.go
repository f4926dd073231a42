package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// initCommand creates a data directory: the directory (0700), the master
// key and the database. Every command but this one and serve refuses a
// data directory that does not exist.
func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create the data directory, its master key and database (serve does it too)",
		Action: func(c *cli.Context) error {
			if err := usage(c, 0, ""); err != nil {
				return err
			}
			db, key := paths(c)
			fresh := !dbHasData(c, db)
			st, err := openStoreWith(c, backendOptions{})
			if err != nil {
				return err
			}
			if err := st.Close(); err != nil {
				return err
			}
			if !fresh {
				fmt.Fprintf(c.App.Writer, "radmfa: %s exists already; nothing changed\n", dbName(db))
				return nil
			}
			fmt.Fprintf(c.App.Writer, "radmfa: created %s and its master key %s (back up the key apart from the database)\n", dbName(db), key)
			return nil
		},
	}
}
