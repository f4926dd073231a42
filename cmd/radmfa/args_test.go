package main

import (
	"strings"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := newApp(nil, nil)
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(interspersed(app, strings.Fields(tc.in)), " ")
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
