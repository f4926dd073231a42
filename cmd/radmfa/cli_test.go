package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	potp "github.com/pquerna/otp"

	"github.com/radmfa/radmfa/internal/cliargs"
	"github.com/radmfa/radmfa/internal/pgtest"
	"github.com/radmfa/radmfa/store"
)

// cli runs the radmfa app in-process against one data directory.
type cliEnv struct {
	t   *testing.T
	dir string
	// db is the --db the commands get: a PostgreSQL URL, or "" for the
	// SQLite file in dir.
	db string
}

// global is the global flags every command of e runs with.
func (e *cliEnv) global() []string {
	g := []string{"--data-dir", e.dir}
	if e.db != "" {
		g = append(g, "--db", e.db)
	}
	return g
}

// onEachBackend runs fn against a fresh installation on SQLite and one on
// a fresh PostgreSQL database: every command works on either.
func onEachBackend(t *testing.T, fn func(t *testing.T, e *cliEnv)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := newCLI(t)
			if backend == "postgres" {
				e.db = pgtest.DB(t)
			}
			fn(t, e)
		})
	}
}

// newCLI makes an empty data directory, private as radmfa makes its own
// (t.TempDir's are 0755, which serve refuses).
func newCLI(t *testing.T) *cliEnv {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, dir: dir}
}

// run returns stdout, stderr (as main prints it) and the exit code.
func (e *cliEnv) run(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	full := append(append([]string{"radmfa"}, e.global()...), args...)
	if err := cliargs.Run(context.Background(), app, full); err != nil {
		fmt.Fprintln(&errb, "radmfa:", err)
		return out.String(), errb.String(), exitCode(err)
	}
	return out.String(), errb.String(), 0
}

func (e *cliEnv) ok(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("radmfa %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// dbHash fingerprints the database (after a checkpoint) to prove a failed
// command changed nothing.
func (e *cliEnv) dbHash() [32]byte {
	e.t.Helper()
	e.ok("user", "list") // opens and closes cleanly, checkpointing the WAL
	h := sha256.New()
	for _, f := range []string{"radmfa.db", "radmfa.db-wal"} {
		b, err := os.ReadFile(filepath.Join(e.dir, f))
		if err == nil {
			h.Write(b)
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func TestBadInputIsOneClearErrorAndChangesNothing(t *testing.T) {
	e := newCLI(t)
	e.ok("user", "add", "alice", "--email", "alice@example.com")
	e.ok("token", "enroll", "alice", "--no-qr")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown user", []string{"token", "enroll", "bob"}, `user "bob": not found`},
		{"duplicate name", []string{"user", "add", "ALICE"}, "already exists"},
		{"malformed serial", []string{"token", "show", "bad serial!"}, "malformed serial"},
		{"unknown serial", []string{"token", "revoke", "RMT-000000000"}, "not found"},
		{"digits 7", []string{"token", "enroll", "alice", "--digits", "7"}, "digits 7 (want 6 or 8)"},
		{"period 45", []string{"token", "enroll", "alice", "--period", "45"}, "period 45"},
		{"algorithm md5", []string{"token", "enroll", "alice", "--algorithm", "MD5"}, "--algorithm"},
		{"type", []string{"token", "enroll", "alice", "--type", "sms"}, "--type"},
		{"short pin", []string{"token", "enroll", "alice", "--pin", "12"}, "4 to 32"},
		{"bad email", []string{"user", "add", "bob", "--email", "nope"}, "not an e-mail"},
		{"missing arg", []string{"user", "add"}, "usage: radmfa user add NAME"},
		{"extra arg", []string{"user", "show", "alice", "bob"}, "usage:"},
		{"unknown flag", []string{"user", "list", "--colour"}, "flag provided but not defined"},
		{"bad state", []string{"token", "list", "--state", "lost"}, "--state"},
		{"bad log level", []string{"--log-level", "loud", "user", "list"}, "--log-level"},
		{"resync nonsense", []string{"token", "resync", "RMT-000000000", "1", "2"}, "not found"},
		{"set-pin both", []string{"token", "set-pin", "RMT-000000000", "--pin", "1234", "--clear"}, "exactly one"},
	}
	before := e.dbHash()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := e.run(tc.args...)
			if code == 0 {
				t.Fatal("exit code 0")
			}
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "radmfa: ") || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr = %q, want one line saying %q", errs, tc.want)
			}
		})
	}
	if e.dbHash() != before {
		t.Fatal("a refused command changed the database")
	}
}

func TestNotOurDatabaseOrKey(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(dir string)
		want    string
	}{
		{"foreign file", func(dir string) {
			os.WriteFile(filepath.Join(dir, "radmfa.db"), bytes.Repeat([]byte("hello world "), 500), 0o600)
		}, "not a radmfa database"},
		{"key missing for existing db", func(dir string) {
			os.Remove(filepath.Join(dir, "master.key"))
		}, "master key"},
		{"key readable by others", func(dir string) {
			os.Chmod(filepath.Join(dir, "master.key"), 0o644)
		}, "chmod 600"},
		{"other key", func(dir string) {
			os.WriteFile(filepath.Join(dir, "master.key"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
		}, "does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLI(t)
			if tc.name != "foreign file" {
				e.ok("user", "add", "alice")
			}
			tc.prepare(e.dir)
			_, errs, code := e.run("user", "list")
			if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Fatalf("exit %d stderr %q, want one line with %q", code, errs, tc.want)
			}
		})
	}
}

func TestUserLifecycleAndAudit(t *testing.T) {
	onEachBackend(t, func(t *testing.T, e *cliEnv) {
		e.ok("user", "add", "bob", "--email", "bob@example.com", "--group", "staff")
		var users []userJSON
		if err := json.Unmarshal([]byte(e.ok("user", "list", "--json")), &users); err != nil || len(users) != 1 || users[0].Group != "staff" {
			t.Fatalf("user list --json = %+v, %v", users, err)
		}
		serial := enrollJSON(t, e, "bob")["serial"]
		e.ok("user", "disable", "bob")
		if out, _, code := e.run("token", "check", "bob", "123456"); code != 1 || !strings.Contains(out, "user_disabled") {
			t.Fatalf("check for disabled user: %d %q", code, out)
		}
		e.ok("user", "enable", "bob")
		out := e.ok("user", "delete", "bob")
		if !strings.Contains(out, serial+" deleted (soft token") {
			t.Fatalf("delete output %q does not say what happened to %s", out, serial)
		}
		audit := e.ok("audit", "--user", "bob")
		for _, action := range []string{"user.add", "token.create", "user.disable", "auth", "user.enable", "user.delete"} {
			if !strings.Contains(audit, action) {
				t.Errorf("audit lacks %s:\n%s", action, audit)
			}
		}
		var rows []auditJSON
		if err := json.Unmarshal([]byte(e.ok("audit", "--json", "--since", "1h")), &rows); err != nil || len(rows) < 6 {
			t.Fatalf("audit --json: %d rows, %v", len(rows), err)
		}
		if !strings.HasPrefix(rows[0].Actor, "cli") {
			t.Fatalf("actor %q", rows[0].Actor)
		}
	})
}

func enrollJSON(t *testing.T, e *cliEnv, args ...string) map[string]string {
	t.Helper()
	var m map[string]string
	out := e.ok(append([]string{"token", "enroll", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &m); err != nil || m["serial"] == "" || (m["uri"] == "" && m["activation_uri"] == "") {
		t.Fatalf("enroll --json = %q: %v", out, err)
	}
	return m
}

func TestTokenShowNeverPrintsTheSeed(t *testing.T) {
	onEachBackend(t, func(t *testing.T, e *cliEnv) {
		e.ok("user", "add", "carol")
		m := enrollJSON(t, e, "carol")
		key, err := potp.NewKeyFromURL(m["uri"])
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"token", "show", m["serial"]}, {"token", "show", "--json", m["serial"]},
			{"token", "list", "--json"}, {"user", "show", "carol", "--json"}, {"audit", "--json"}} {
			out, errs, _ := e.run(args...)
			if strings.Contains(out+errs, key.Secret()) || strings.Contains(out+errs, strings.ToLower(key.Secret())) {
				t.Fatalf("radmfa %v printed the seed", args)
			}
		}
	})
}

// requireTool finds an interoperability tool; missing is a skip on a
// laptop and a failure under CI.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (Debian package %s); CI must run this test", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	}
	return p
}

func oathtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(requireTool(t, "oathtool", "oathtool"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestOathtoolInterop(t *testing.T) {
	requireTool(t, "oathtool", "oathtool")
	tests := []struct {
		name   string
		flags  []string
		oath   func(secret string, digits string, at time.Time, counter int) []string
		digits string
	}{
		{"totp sha1 6", []string{"--type", "totp"}, totpArgs("SHA1"), "6"},
		{"totp sha1 8", []string{"--type", "totp", "--digits", "8"}, totpArgs("SHA1"), "8"},
		{"totp sha256 6", []string{"--type", "totp", "--algorithm", "SHA256"}, totpArgs("SHA256"), "6"},
		{"totp sha256 8 period 60", []string{"--type", "totp", "--algorithm", "sha256", "--digits", "8", "--period", "60"}, totpArgs("SHA256"), "8"},
		{"hotp sha1 6", []string{"--type", "hotp"}, hotpArgs, "6"},
		{"hotp sha1 8", []string{"--type", "hotp", "--digits", "8"}, hotpArgs, "8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLI(t)
			e.ok("user", "add", "dana")
			m := enrollJSON(t, e, append(tc.flags, "dana")...)
			u, err := url.Parse(m["uri"])
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			secret := q.Get("secret")
			period := q.Get("period")
			now := time.Now()
			step := func(n int) time.Time {
				p := 30 * time.Second
				if period == "60" {
					p = time.Minute
				}
				return now.Add(time.Duration(n) * p)
			}
			code := oathtool(t, append(tc.oath(secret, tc.digits, now, 0), periodArgs(period)...)...)
			if out, errs, rc := e.run("token", "check", "dana", code); rc != 0 || !strings.Contains(out, "accept") {
				t.Fatalf("fresh oathtool code %s: exit %d %q %q", code, rc, out, errs)
			}
			if out, _, rc := e.run("token", "check", "dana", code); rc != 1 || !strings.Contains(out, "replayed_code") {
				t.Fatalf("replayed code: exit %d %q", rc, out)
			}
			if out, _, rc := e.run("token", "check", "dana", "00000000"[:len(code)]); rc != 1 {
				t.Fatalf("wrong code accepted: %q", out)
			}
			// Far ahead (the phone's clock or counter ran on): 90 steps/counters.
			c1 := oathtool(t, append(tc.oath(secret, tc.digits, step(90), 90), periodArgs(period)...)...)
			c2 := oathtool(t, append(tc.oath(secret, tc.digits, step(91), 91), periodArgs(period)...)...)
			if out, _, rc := e.run("token", "check", "dana", c1); rc != 1 {
				t.Fatalf("code 90 steps ahead accepted before resync: %q", out)
			}
			e.ok("token", "resync", m["serial"], c1, c2)
			c3 := oathtool(t, append(tc.oath(secret, tc.digits, step(92), 92), periodArgs(period)...)...)
			if out, errs, rc := e.run("token", "check", "dana", c3); rc != 0 {
				t.Fatalf("code after resync: exit %d %q %q", rc, out, errs)
			}
		})
	}
}

func totpArgs(alg string) func(string, string, time.Time, int) []string {
	return func(secret, digits string, at time.Time, _ int) []string {
		return []string{"--totp=" + alg, "-b", "-d", digits, "-N", at.UTC().Format("2006-01-02 15:04:05 UTC"), secret}
	}
}

func hotpArgs(secret, digits string, _ time.Time, counter int) []string {
	return []string{"--hotp", "-b", "-d", digits, "-c", fmt.Sprint(counter), secret}
}

func periodArgs(period string) []string {
	if period == "" {
		return nil
	}
	return []string{"-s", period + "s"}
}

func TestCheckReadsPasswordFromStdin(t *testing.T) {
	e := newCLI(t)
	e.ok("user", "add", "erin")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "123456\n")
	w.Close()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	out, _, code := e.run("token", "check", "erin", "-")
	if code != 1 || !strings.Contains(out, "no_usable_token") {
		t.Fatalf("check - : %d %q", code, out)
	}
}

// runApp runs radmfa with exactly args (no --data-dir added).
func runApp(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	err := cliargs.Run(ctx, app, append([]string{"radmfa"}, args...))
	return out.String() + errb.String(), err
}

func TestConfigFileAndEnvironment(t *testing.T) {
	fromFile, fromEnv, fromFlag := newCLI(t).dir, newCLI(t).dir, newCLI(t).dir
	cfg := filepath.Join(t.TempDir(), "radmfa.yaml")
	yaml := "data-dir: " + fromFile + "\nradius-addr: [\"127.0.0.1:0\"]\nmetrics-addr: \"127.0.0.1:0\"\nlog-level: warn\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if out, err := runApp(t, ctx, "--config", cfg, "user", "add", "viafile"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Setenv("RADMFA_DATA_DIR", fromEnv)
	if out, err := runApp(t, ctx, "user", "add", "viaenv"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// A flag beats the config file.
	if out, err := runApp(t, ctx, "--config", cfg, "--data-dir", fromFlag, "user", "add", "viaflag"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	tests := []struct{ dir, user string }{{fromFile, "viafile"}, {fromEnv, "viaenv"}, {fromFlag, "viaflag"}}
	for _, tc := range tests {
		out, err := runApp(t, ctx, "--data-dir", tc.dir, "user", "list")
		if err != nil || !strings.Contains(out, tc.user) {
			t.Fatalf("%s: user list = %q, %v", tc.dir, out, err)
		}
	}
	// serve takes its own settings (repeatable radius-addr, metrics-addr) from the file.
	sctx, cancel := context.WithCancel(ctx)
	var out syncBuffer
	app := newApp(&out, io.Discard)
	done := make(chan error, 1)
	go func() { done <- app.RunContext(sctx, []string{"radmfa", "--config", cfg, "serve"}) }()
	deadline := time.Now().Add(10 * time.Second)
	for !(strings.Contains(out.String(), "listening on 127.0.0.1:") && strings.Contains(out.String(), "metrics on http://127.0.0.1:")) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not take its addresses from the config file:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A mistyped --data-dir is a one-line error that creates nothing; init
// (or serve) creates a data directory, and then the commands work.
func TestMissingDataDirIsAnError(t *testing.T) {
	parent := newCLI(t).dir
	missing := filepath.Join(parent, "no-such-dir")
	e := &cliEnv{t: t, dir: missing}
	for _, args := range [][]string{{"user", "list"}, {"user", "add", "carol"}, {"token", "list"}, {"audit"}} {
		out, errOut, code := e.run(args...)
		if code != 1 || !strings.Contains(errOut, "does not exist") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || out != "" {
			t.Fatalf("radmfa %s on a missing data dir: exit %d, %q, %q; want one line and exit 1", strings.Join(args, " "), code, out, errOut)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("radmfa %s created the missing data dir (%v)", strings.Join(args, " "), err)
		}
	}
	if out := e.ok("init"); !strings.Contains(out, "created") {
		t.Fatalf("init: %q", out)
	}
	fi, err := os.Stat(missing)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("init made %v (%v), want a 0700 directory", fi, err)
	}
	e.ok("user", "add", "carol")
	if out := e.ok("init"); !strings.Contains(out, "nothing changed") {
		t.Fatalf("init again: %q", out)
	}
}

// An administrator's `token check` of wrong codes locks nobody out (by
// default its refusals count towards no lock and no rate limit, and say
// so); --count counts them; an accepted code is used up as at any login.
func TestCheckCountsNothingByDefault(t *testing.T) {
	onEachBackend(t, func(t *testing.T, e *cliEnv) {
		e.ok("user", "add", "flo")
		serial, seed := e.enrollSecret("flo", "--type", "hotp")
		failCount := func() string {
			var tok map[string]any
			if err := jsonUnmarshal(e.ok("token", "show", serial, "--json"), &tok); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint(tok["fail_count"], " ", tok["locked_until"])
		}
		for i := range 12 { // more than the lock (5) and the rate limit (10) allow
			out, _, code := e.run("token", "check", "flo", "000000")
			if code != 1 || !strings.Contains(out, "reject (bad_code); not counted") {
				t.Fatalf("check %d: exit %d, %q", i, code, out)
			}
		}
		if got := failCount(); got != "0 <nil>" && got != "0 0" {
			t.Fatalf("after 12 checks of wrong codes: fail count and lock %q, want none", got)
		}
		if out, _, code := e.run("token", "check", "flo", hotpAt(seed, 0)); code != 0 || !strings.Contains(out, "accept") {
			t.Fatalf("the right code after the checks: exit %d, %q", code, out)
		}
		if out, _, code := e.run("token", "check", "flo", hotpAt(seed, 0)); code != 1 || !strings.Contains(out, "replayed_code") {
			t.Fatalf("the same code again: exit %d, %q, want it used up", code, out)
		}
		if out, _, code := e.run("token", "check", "flo", "000000", "--count"); code != 1 || strings.Contains(out, "not counted") {
			t.Fatalf("check --count: exit %d, %q", code, out)
		}
		if got := failCount(); !strings.HasPrefix(got, "1 ") {
			t.Fatalf("after a counted check: fail count and lock %q, want a count of 1", got)
		}
	})
}

// Instances on one PostgreSQL database each keep the master key in their
// own data dir: one without it is told to copy it (a new key is never made
// for a database that holds data), one with another key is refused, and
// the database URL's password is never printed.
func TestPostgresMasterKeyPerInstance(t *testing.T) {
	db := pgtest.DB(t)
	first := newCLI(t)
	first.db = db
	if out := first.ok("init"); !strings.Contains(out, "created") {
		t.Fatalf("init: %q", out)
	}
	first.ok("user", "add", "carol")
	tests := []struct {
		name string
		key  []byte // nil: no key file
		want string
	}{
		{"no key", nil, "copy the master.key"},
		{"another key", bytes.Repeat([]byte{1}, 32), "master key does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			other := newCLI(t)
			other.db = db
			if tc.key != nil {
				if _, err := store.CreateKey(filepath.Join(other.dir, "master.key")); err != nil {
					t.Fatal(err)
				}
			}
			_, errs, code := other.run("user", "list")
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, %q; want %q", code, errs, tc.want)
			}
			if tc.key == nil {
				if _, err := os.Stat(filepath.Join(other.dir, "master.key")); !os.IsNotExist(err) {
					t.Fatalf("a new master key was made for a database with data (%v)", err)
				}
			}
		})
	}
	// With the key copied, the second instance's CLI sees the first's data.
	key, err := os.ReadFile(filepath.Join(first.dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	second := newCLI(t)
	second.db = db
	if err := os.WriteFile(filepath.Join(second.dir, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := second.ok("user", "list"); !strings.Contains(out, "carol") {
		t.Fatalf("user list on the second instance: %q", out)
	}
	withPassword := "postgres://radmfa:s3cret-pw@127.0.0.1:1/radmfa?sslmode=disable&connect_timeout=1"
	third := newCLI(t)
	third.db = withPassword
	if _, errs, code := third.run("user", "list"); code == 0 || strings.Contains(errs, "s3cret-pw") {
		t.Fatalf("an unreachable database: exit %d, %q; want an error without the password", code, errs)
	}
}

// The audit is filtered by the CLI: logins apart from provisioning, by
// result kind, user and time.
func TestAuditFilters(t *testing.T) {
	e := newCLI(t)
	e.ok("user", "add", "carol")
	e.ok("user", "add", "dan")
	_, seed := e.enrollSecret("carol", "--type", "hotp")
	e.run("token", "check", "carol", "000000")
	e.run("token", "check", "dan", "000000")
	e.ok("token", "check", "carol", hotpAt(seed, 0))
	rows := func(args ...string) []auditJSON {
		t.Helper()
		var out []auditJSON
		if err := json.Unmarshal([]byte(e.ok(append([]string{"audit", "--json"}, args...)...)), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name string
		args []string
		want []string // user/result of each row
	}{
		{"logins only", []string{"--action", "auth"}, []string{"carol/reject:bad_code", "dan/reject:no_usable_token", "carol/accept:ok"}},
		{"rejects of one user", []string{"--result", "reject", "--user", "CAROL"}, []string{"carol/reject:bad_code"}},
		{"accepts", []string{"--result", "accept", "--since", "1h"}, []string{"carol/accept:ok"}},
		{"nothing before an hour ago", []string{"--action", "auth", "--until", "1h"}, nil},
		{"a date range", []string{"--action", "auth", "--since", time.Now().Add(-48 * time.Hour).Format("2006-01-02"),
			"--until", time.Now().Add(48 * time.Hour).Format("2006-01-02")}, []string{"carol/reject:bad_code", "dan/reject:no_usable_token", "carol/accept:ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range rows(tc.args...) {
				got = append(got, r.User+"/"+r.Result)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("audit %v: %v, want %v", tc.args, got, tc.want)
			}
		})
	}
	for _, args := range [][]string{{"--since", "yesterday"}, {"--since", "1h", "--until", "2h"}, {"--since", "-5m"}} {
		_, errs, code := e.run(append([]string{"audit"}, args...)...)
		if code != 1 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "--") {
			t.Errorf("audit %v: exit %d, %q; want one line naming the flag", args, code, errs)
		}
	}
}

// runBinary runs radmfa's main (this test binary as radmfa, see TestMain)
// with args, as an administrator's shell would: stdout, stderr, exit code.
func runBinary(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveArgsEnv+"="+strings.Join(args, "\x1f"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// Every error of the CLI is one line "radmfa: ..." and exit 1, whatever
// went wrong: help is for --help.
func TestCLIErrorsAreOneLine(t *testing.T) {
	e := newCLI(t)
	e.ok("user", "add", "carol")
	config := filepath.Join(e.dir, "radmfa.yaml")
	if err := os.WriteFile(config, []byte("data-dir: "+e.dir+"\nlog-levle: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"user", "add", "dora", "--bogus"}, "flag provided but not defined"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"user", "frob"}, `unknown command "frob"`},
		{"a value missing", []string{"user", "add", "dora", "--email"}, "--email needs a value"},
		{"a bad value", []string{"token", "check", "carol", "123456", "--lock-after", "x"}, "invalid value"},
		{"unknown global flag", []string{"--bogus", "user", "list"}, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runBinary(t, append([]string{"--data-dir", e.dir}, tc.args...)...)
			if code != 1 || out != "" || !strings.HasPrefix(errs, "radmfa: ") || strings.Count(strings.TrimSpace(errs), "\n") != 0 ||
				!strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want one line with %q and exit 1", code, out, errs, tc.want)
			}
		})
	}
	t.Run("unknown key in the config file", func(t *testing.T) {
		_, errs, code := runBinary(t, "--config", config, "user", "list")
		if code != 1 || !strings.Contains(errs, "unknown key log-levle") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Fatalf("exit %d, %q", code, errs)
		}
	})
	t.Run("report --json like every list command", func(t *testing.T) {
		var rows []map[string]string
		if err := json.Unmarshal([]byte(e.ok("report", "users-with-tokens", "--json")), &rows); err != nil {
			t.Fatal(err)
		}
		if _, errs, code := e.run("report", "tokens", "--json", "--format", "csv"); code != 1 || !strings.Contains(errs, "give one") {
			t.Fatalf("--json with --format csv: %d %q", code, errs)
		}
	})
	t.Run("help is still there", func(t *testing.T) {
		out, _, code := runBinary(t, "user", "add", "--help")
		if code != 0 || !strings.Contains(out, "USAGE") {
			t.Fatalf("--help: exit %d, %q", code, out)
		}
	})
}

// One vocabulary: PIN is yes or no everywhere; a token has one State,
// with its conditions (locked, expired) on the same line.
func TestOneVocabulary(t *testing.T) {
	e := newCLI(t)
	e.ok("user", "add", "vic")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "enroll", "vic", "--no-qr"}, "PIN:    no"},
		{[]string{"token", "enroll", "vic", "--no-qr", "--pin", "4711-pin"}, "PIN:    yes"},
	} {
		if out := e.ok(tc.args...); !strings.Contains(out, tc.want) {
			t.Fatalf("%v: %q, want %q", tc.args, out, tc.want)
		}
	}
	serial := enrollJSON(t, e, "vic")["serial"]
	e.run("token", "check", "vic", "000000", "--count", "--lock-after", "1")
	out := e.ok("token", "show", serial)
	if strings.Contains(out, "Status:") || !regexp.MustCompile(`State:\s+active, locked`).MatchString(out) || !regexp.MustCompile(`PIN:\s+no`).MatchString(out) {
		t.Fatalf("token show:\n%s", out)
	}
	if list := e.ok("token", "list", "--user", "vic"); !strings.Contains(list, "STATE") || !strings.Contains(list, "active, locked") {
		t.Fatalf("token list:\n%s", list)
	}
	var tok tokenJSON
	if err := json.Unmarshal([]byte(e.ok("token", "show", serial, "--json")), &tok); err != nil || tok.State != "active" || !tok.Locked {
		t.Fatalf("token show --json: %+v %v", tok, err)
	}
}

// A client requires Message-Authenticator unless told otherwise
// (BlastRADIUS), and client add says which it is.
func TestClientRequiresMessageAuthenticatorByDefault(t *testing.T) {
	e := newCLI(t)
	tests := []struct {
		name string
		args []string
		want bool
		says string
	}{
		{"default", nil, true, "Access-Requests without Message-Authenticator are dropped"},
		{"opted out", []string{"--require-message-authenticator=false"}, false, "can be forged"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("nas%d", i)
			out, errs, code := e.run(append([]string{"client", "add", name, "--cidr", fmt.Sprintf("10.0.0.%d/32", i+1),
				"--secret", "a-long-random-secret-1234"}, tc.args...)...)
			if code != 0 || !strings.Contains(out+errs, tc.says) {
				t.Fatalf("client add: exit %d, %q %q; want it to say %q", code, out, errs, tc.says)
			}
			var cl map[string]any
			if err := json.Unmarshal([]byte(e.ok("client", "show", name, "--json")), &cl); err != nil {
				t.Fatal(err)
			}
			if got := cl["require_message_authenticator"] == true; got != tc.want {
				t.Fatalf("client show: %v, want require_message_authenticator %v", cl, tc.want)
			}
		})
	}
}

// Number matching cannot be asked for a NAS that cannot show it.
func TestNumberMatchingRefusedForNASWithoutChallenges(t *testing.T) {
	e := newCLI(t)
	_, errs, code := e.run("client", "add", "ovpn", "--cidr", "10.0.0.9/32", "--secret", "a-long-random-secret-1234",
		"--nas-type", "openvpn", "--number-matching", "on")
	if code != 1 || !strings.Contains(errs, "cannot show the number") {
		t.Fatalf("exit %d, %q", code, errs)
	}
	e.ok("client", "add", "ovpn", "--cidr", "10.0.0.9/32", "--secret", "a-long-random-secret-1234", "--nas-type", "openvpn")
}
