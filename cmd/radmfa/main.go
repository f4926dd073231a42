// Command radmfa is the radmfa RADIUS two-factor server and its
// administrator's CLI: `radmfa serve` runs the server, the other commands
// manage users, tokens, clients and the audit log.
package main

import (
	"fmt"
	"os"
)

func main() {
	app := newApp(os.Stdout, os.Stderr)
	if err := app.Run(interspersed(app, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "radmfa:", err)
		os.Exit(exitCode(err))
	}
}
