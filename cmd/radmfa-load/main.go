// Command radmfa-load is a RADIUS load generator for loopback and lab use,
// and the benchmark seeder that fills a radmfa database with many users.
//
// It keeps P requests in flight and sends N requests (or runs for a
// duration), computing fresh OTP codes for a population of users, and
// reports requests/s, outcomes and latency percentiles as text or JSON.
// It refuses targets off the loopback network unless told --allow-remote.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:  "radmfa-load",
		Usage: "RADIUS load generator and benchmark seeder for radmfa",
		Commands: []*cli.Command{
			seedCommand(), pskcCommand(),
			runCommand(),
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "radmfa-load:", err)
		os.Exit(1)
	}
}
