package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmfa/radmfa/internal/smtptest"
)

// user import: all or nothing, every problem of the file named at once; a
// token column sends enrollment emails.
func TestUserImport(t *testing.T) {
	mail := smtptest.Start(t)
	e := newCLI(t)
	startPushServer(t, e) // the device API's address, for the links
	e.ok("user", "add", "zed")
	dir := t.TempDir()
	write := func(name, body string) string {
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte(body), 0o600)
		return f
	}
	smtp := []string{"--smtp-addr", mail.Addr, "--smtp-from", "mfa@example.com", "--smtp-tls", "none"}
	tests := []struct {
		name, body string
		want       []string
	}{
		{"bad lines", "name,email,group,token\nann,ann@example.com,staff,totp\nbob,not-an-email,staff\nann,ann2@example.com,,\ncid,,,push\ndee,d@example.com,,sms\n",
			[]string{"line 3:", "is not an email address", "line 4: ann is on line 2 already", "line 5: a token is enrolled by email", "line 6: token \"sms\"", "nothing imported"}},
		{"an existing user", "ann,ann@example.com,staff\nzed,zed@example.com,staff\n", []string{"line 2: user zed exists", "nothing imported"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := e.run(append(smtp, "user", "import", write(tc.name+".csv", tc.body))...)
			for _, w := range tc.want {
				if code == 0 || !strings.Contains(errOut, w) {
					t.Fatalf("exit %d; want %q in %q", code, w, errOut)
				}
			}
			if out := e.ok("user", "list"); strings.Contains(out, "ann") {
				t.Fatalf("a refused import created users:\n%s", out)
			}
		})
	}
	out := e.ok(append(smtp, "user", "import", write("good.csv", "name,email,group,token\nann,ann@example.com,staff,totp\nbob,bob@example.com,staff\ncid,cid@example.com,,push\n"))...)
	if !strings.Contains(out, "3 users imported") || !strings.Contains(out, "2 enrollment emails sent") {
		t.Fatalf("import:\n%s", out)
	}
	if msgs := mail.Messages(); len(msgs) != 2 || msgs[0].To[0] != "ann@example.com" {
		t.Fatalf("mail: %+v", msgs)
	}
	if out := e.ok("user", "list"); !strings.Contains(out, "bob") || !strings.Contains(out, "staff") {
		t.Fatalf("users:\n%s", out)
	}
	if n := e.auditCount("", "user.import", "ok"); n != 1 {
		t.Fatalf("%d user.import rows", n)
	}
}
