// Command radmfa is the radmfa RADIUS two-factor server and its
// administrator's CLI: `radmfa serve` runs the server, the other commands
// manage users, tokens, clients and the audit log.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/radmfa/radmfa/internal/cliargs"
)

func main() {
	app := newApp(os.Stdout, os.Stderr)
	if err := cliargs.Run(context.Background(), app, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "radmfa:", err)
		os.Exit(exitCode(err))
	}
}
