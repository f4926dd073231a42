// Package cliargs lets radmfa's commands take flags where people type
// them: urfave/cli v2 stops reading flags at the first argument, so the
// command line is reordered before it parses it.
package cliargs

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Interspersed reorders a command line for urfave/cli v2, which stops
// reading flags at the first positional argument and reads global flags
// only before the command: a command's flags are moved in front of its
// positional arguments, and global flags written after the command are
// hoisted in front of it. So `radmfa user add alice --email a@b` and
// `radmfa serve --log-level debug` work the way people type them.
// "--" ends flag reading as usual; "-" is positional.
func Interspersed(app *cli.App, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	var global, path, local, pos []string
	flags, cmds := app.Flags, app.Commands
	inPath := true
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i:]...)
			break
		}
		if isFlag(a) {
			set, dst := flags, &local
			if len(path) == 0 || (!Knows(flags, a) && Knows(app.Flags, a)) {
				set, dst = app.Flags, &global
			}
			*dst = append(*dst, a)
			if takesValue(set, a) {
				if i+1 >= len(args) || args[i+1] == "--" {
					return nil, fmt.Errorf("%s needs a value (see --help)", a)
				}
				i++
				*dst = append(*dst, args[i])
			}
			continue
		}
		if inPath {
			var next *cli.Command
			for _, c := range cmds {
				if c.HasName(a) {
					next = c
				}
			}
			if next != nil {
				// Flags seen so far belong to the parent command.
				path = append(path, local...)
				path = append(path, a)
				local = nil
				flags, cmds = next.Flags, next.Subcommands
				continue
			}
			inPath = false
		}
		pos = append(pos, a)
	}
	out := append([]string{args[0]}, global...)
	out = append(out, path...)
	out = append(out, local...)
	if len(pos) > 0 && pos[0] != "--" {
		out = append(out, "--")
	}
	return append(out, pos...), nil
}

// Run runs app on a command line as people type it (see Interspersed).
func Run(ctx context.Context, app *cli.App, args []string) error {
	full, err := Interspersed(app, args)
	if err != nil {
		return err
	}
	return app.RunContext(ctx, full)
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' && a != "--" }

func flagName(a string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	return name
}

// Knows reports whether flag a ("--name" or "--name=value") is one of flags.
func Knows(flags []cli.Flag, a string) bool {
	name := flagName(a)
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// takesValue reports whether flag a (without "=value") needs the next argument.
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	name := flagName(a)
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if df, ok := f.(cli.DocGenerationFlag); ok {
				return df.TakesValue()
			}
			return true
		}
	}
	return false
}
