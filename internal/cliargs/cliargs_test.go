package cliargs

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// testApp has the shape of radmfa's: global flags, commands with flags
// of their own, a command of subcommands.
func testApp() *cli.App {
	return &cli.App{
		Flags: []cli.Flag{&cli.StringFlag{Name: "data-dir"}, &cli.StringFlag{Name: "log-level"}},
		Commands: []*cli.Command{
			{Name: "user", Subcommands: []*cli.Command{{Name: "add", Flags: []cli.Flag{&cli.StringFlag{Name: "email"}}}}},
			{Name: "serve", Flags: []cli.Flag{&cli.BoolFlag{Name: "dev"}}},
			{Name: "token", Subcommands: []*cli.Command{
				{Name: "list", Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}}},
				{Name: "show", Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}}},
				{Name: "check", Flags: []cli.Flag{&cli.IntFlag{Name: "lock-after"}}},
			}},
		},
	}
}

func TestInterspersed(t *testing.T) {
	app := testApp()
	tests := []struct {
		name, in, want string
	}{
		{"flags after args", "radmfa user add alice --email a@b", "radmfa user add --email a@b -- alice"},
		{"global flag after command", "radmfa serve --log-level debug --dev", "radmfa --log-level debug serve --dev"},
		{"global flag before", "radmfa --data-dir d token list --json", "radmfa --data-dir d token list --json"},
		{"bool flag does not eat the argument", "radmfa token show --json RMT-1", "radmfa token show --json -- RMT-1"},
		{"dash is positional", "radmfa token check bob - --lock-after 3", "radmfa token check --lock-after 3 -- bob -"},
		{"double dash", "radmfa user add -- -weird", "radmfa user add -- -weird"},
		{"flag=value", "radmfa user add bob --email=x@y", "radmfa user add --email=x@y -- bob"},
		{"a value missing at the end", "radmfa user add carol --email", "error: --email needs a value (see --help)"},
		{"a value missing before --", "radmfa user add --email -- carol", "error: --email needs a value (see --help)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args, err := Interspersed(app, strings.Fields(tc.in))
			got := strings.Join(args, " ")
			if err != nil {
				got = "error: " + err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
