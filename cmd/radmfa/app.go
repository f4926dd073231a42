package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"

	"github.com/radmfa/radmfa/internal/mailer"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/internal/cliargs"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/postgres"
	"github.com/radmfa/radmfa/store/sqlite"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// exitError carries a specific exit code (token check uses 1 for a reject).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// globalFlags makes the flags every command takes. A new set for every
// app: urfave/cli writes what it parsed (an environment variable's value
// among it) into the flag structs, and a set shared between apps carried
// one run's data dir into the next (tests run the app many times in one
// process).
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "YAML file with settings (keys are flag names)", EnvVars: []string{"RADMFA_CONFIG"}},
		altsrc.NewStringFlag(&cli.StringFlag{Name: "data-dir", Value: "./radmfa-data", Usage: "directory holding the database and the master key", EnvVars: []string{"RADMFA_DATA_DIR"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "db", Usage: "SQLite database file (default: DATA-DIR/radmfa.db), or postgres://user@host/dbname?... to share one database between instances", EnvVars: []string{"RADMFA_DB"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "key-file", Usage: "master key file, 0600 (default: DATA-DIR/master.key)", EnvVars: []string{"RADMFA_KEY_FILE"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"RADMFA_LOG_LEVEL"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text (key=value) or json (one object a line)", EnvVars: []string{"RADMFA_LOG_FORMAT"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "issuer", Value: "radmfa", Usage: "issuer name shown in authenticator apps", EnvVars: []string{"RADMFA_ISSUER"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "public-url", Usage: "https URL phones reach the device API at (default: what the server last announced)", EnvVars: []string{"RADMFA_PUBLIC_URL"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tls-cert", Usage: "device API certificate, PEM (default: DATA-DIR/device-api.crt, self-signed and pinned)", EnvVars: []string{"RADMFA_TLS_CERT"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tls-key", Usage: "device API private key, PEM (default: DATA-DIR/device-api.key)", EnvVars: []string{"RADMFA_TLS_KEY"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "smtp-addr", Usage: "SMTP server for enrollment emails, host:port", EnvVars: []string{"RADMFA_SMTP_ADDR"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "smtp-from", Usage: "sender address of enrollment emails", EnvVars: []string{"RADMFA_SMTP_FROM"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "smtp-user", Usage: "SMTP user (with --smtp-password-file)", EnvVars: []string{"RADMFA_SMTP_USER"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "smtp-password-file", Usage: "file holding the SMTP password", EnvVars: []string{"RADMFA_SMTP_PASSWORD_FILE"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "smtp-tls", Value: "starttls", Usage: "starttls (required), implicit (TLS from the start, port 465) or none (a relay on this host only)", EnvVars: []string{"RADMFA_SMTP_TLS"}}),
	}
}

// newMailer is the SMTP sender the global flags describe.
func newMailer(c *cli.Context) (*mailer.Mailer, error) {
	return mailer.New(mailer.Config{Addr: c.String("smtp-addr"), From: c.String("smtp-from"), User: c.String("smtp-user"),
		PasswordFile: c.String("smtp-password-file"), TLS: c.String("smtp-tls")})
}

func newApp(stdout, stderr io.Writer) *cli.App {
	flags := globalFlags()
	app := &cli.App{
		Name:                 "radmfa",
		Usage:                "RADIUS two-factor authentication server and admin CLI",
		Version:              Version,
		Writer:               stdout,
		ErrWriter:            stderr,
		Flags:                flags,
		Before:               loadConfig(flags),
		EnableBashCompletion: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (see --help)", err)
		},
		Commands: []*cli.Command{
			userCommand(),
			tokenCommand(),
			clientCommand(),
			directoryCommand(),
			replyCommand(),
			auditCommand(),
			backupCommand(),
			keyCommand(),
			restoreCommand(),
			sessionsCommand(),
			reportCommand(),
			serveCommand(),
			initCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintf(c.App.Writer, "radmfa %s\n", Version)
					return nil
				},
			},
		},
		Action: unknownCommand,
	}
	oneLineErrors(app.Commands)
	return app
}

// oneLineErrors makes every command's usage errors (an unknown flag, a
// bad value) the error it returns, which main prints as one line, instead
// of printing its help; and a command of subcommands refuses an unknown
// one as an error (urfave/cli's own answer is "No help topic", exit 3).
// Help stays with --help.
func oneLineErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (see --help)", err)
		}
		if len(c.Subcommands) > 0 && c.Action == nil {
			c.Action = unknownCommand
		}
		oneLineErrors(c.Subcommands)
	}
}

// unknownCommand is the action of the app and of commands of subcommands:
// without an argument it shows the help, with one it is an error.
func unknownCommand(c *cli.Context) error {
	sub := c.Command != nil && c.Command.Name != ""
	if c.NArg() > 0 {
		if sub {
			return fmt.Errorf("%s: unknown command %q (see %s --help)", c.Command.Name, c.Args().First(), c.Command.HelpName)
		}
		return fmt.Errorf("unknown command %q (see radmfa --help)", c.Args().First())
	}
	if sub {
		return cli.ShowSubcommandHelp(c)
	}
	return cli.ShowAppHelp(c)
}

// loadConfig fills flags from the --config YAML file where they were not
// given on the command line or in the environment.
func loadConfig(flags []cli.Flag) cli.BeforeFunc {
	return func(c *cli.Context) error {
		if c.String("config") == "" {
			return nil
		}
		if err := checkConfigKeys(c.String("config"), c.App); err != nil {
			return err
		}
		src, err := altsrc.NewYamlSourceFromFile(c.String("config"))
		if err != nil {
			return fmt.Errorf("config %s: %w", c.String("config"), err)
		}
		return altsrc.ApplyInputSourceValues(c, src, flags)
	}
}

// usage checks a command's argument count.
func usage(c *cli.Context, n int, args string) error {
	if c.NArg() != n {
		return fmt.Errorf("usage: %s %s", c.Command.HelpName, args)
	}
	return nil
}

func paths(c *cli.Context) (db, key string) {
	dir := c.String("data-dir")
	db, key = c.String("db"), globalString(c, "key-file")
	if db == "" {
		db = filepath.Join(dir, "radmfa.db")
	}
	if key == "" {
		key = filepath.Join(dir, "master.key")
	}
	return db, key
}

// globalString reads a global flag that a command may shadow with a flag
// of its own name (token import --key-file is the PSKC key, not the master
// key): it asks the nearest context whose command does not define it.
func globalString(c *cli.Context, name string) string {
	for _, lc := range c.Lineage() {
		if lc.Command != nil && cliargs.Knows(lc.Command.Flags, "--"+name) {
			continue
		}
		return lc.String(name)
	}
	return ""
}

// openStore opens the database of an existing data directory, creating
// the database and its master key on first use (an existing database never
// gets a new key). Only serve and init create the directory itself: a
// mistyped --data-dir is an error, not a new, empty installation.
func openStore(c *cli.Context) (store.Store, error) {
	if dir := keyDir(c); !isDir(dir) {
		return nil, fmt.Errorf("data dir %s does not exist (a typo in --data-dir or --db?); `radmfa init` or `radmfa serve` creates it", dir)
	}
	return openStoreWith(c, backendOptions{})
}

// keyDir is the directory that must exist before a command runs: the
// database's (SQLite) or the master key's (PostgreSQL).
func keyDir(c *cli.Context) string {
	db, key := paths(c)
	if postgres.IsURL(db) {
		return filepath.Dir(key)
	}
	return filepath.Dir(db)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// backendOptions are serve's settings of the store: SQLite's synchronous
// setting, and the logger either backend logs to.
type backendOptions struct {
	Synchronous string
	Logger      *slog.Logger
}

// openStoreWith is openStore with the backend's options: --db is a
// postgres:// URL (several instances) or a SQLite file.
func openStoreWith(c *cli.Context, o backendOptions) (store.Store, error) {
	db, keyPath := paths(c)
	if postgres.IsURL(db) {
		if o.Synchronous != "" && !strings.EqualFold(o.Synchronous, "FULL") {
			return nil, fmt.Errorf("--synchronous %s is SQLite's; PostgreSQL commits as its synchronous_commit says", o.Synchronous)
		}
		key, err := store.LoadKey(keyPath)
		if errors.Is(err, store.ErrKeyMissing) {
			has, herr := postgres.HasData(c.Context, db)
			if herr != nil {
				return nil, friendly(herr)
			}
			if has {
				return nil, fmt.Errorf("master key %s is missing but database %s holds radmfa's data; copy the master.key of another instance there", keyPath, postgres.Redact(db))
			}
			key, err = store.CreateKey(keyPath)
		}
		if err != nil {
			return nil, err
		}
		st, err := postgres.Open(c.Context, postgres.Options{URL: db, Key: key, Logger: o.Logger})
		return st, friendly(err)
	}
	if err := sqlite.CheckFile(db); err != nil {
		return nil, friendly(err)
	}
	key, err := store.LoadKey(keyPath)
	if errors.Is(err, store.ErrKeyMissing) {
		if sqlite.HasData(db) {
			return nil, fmt.Errorf("master key %s is missing but database %s exists; restore the key or point --key-file at it", keyPath, db)
		}
		key, err = store.CreateKey(keyPath)
	}
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(sqlite.Options{Path: db, Key: key, Synchronous: o.Synchronous, Logger: o.Logger})
	return st, friendly(err)
}

// dbHasData reports whether the database db exists with radmfa's data.
func dbHasData(c *cli.Context, db string) bool {
	if postgres.IsURL(db) {
		has, err := postgres.HasData(c.Context, db)
		return err == nil && has
	}
	return sqlite.HasData(db)
}

// dbName is db for messages: a URL without its password.
func dbName(db string) string {
	if postgres.IsURL(db) {
		return postgres.Redact(db)
	}
	return db
}

func logger(c *cli.Context) (*slog.Logger, error) {
	log, _, err := leveledLogger(c)
	return log, err
}

// leveledLogger is logger with the level it logs at, which serve changes
// on SIGHUP.
func leveledLogger(c *cli.Context) (*slog.Logger, *slog.LevelVar, error) {
	lvl, err := parseLevel(c.String("log-level"))
	if err != nil {
		return nil, nil, err
	}
	v := new(slog.LevelVar)
	v.Set(lvl)
	opts := &slog.HandlerOptions{Level: v}
	switch f := globalString(c, "log-format"); f {
	case "", "text":
		return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts)), v, nil
	case "json":
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts)), v, nil
	default:
		return nil, nil, fmt.Errorf("--log-format %q: want text or json", f)
	}
}

func parseLevel(s string) (slog.Level, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return lvl, nil
}

// actor names the person at the CLI for the audit log.
func actor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

// env is what most commands need: the store and the auth service.
type env struct {
	store store.Store
	auth  *auth.Service
	by    string
}

func withEnv(fn func(c *cli.Context, e *env) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		st, err := openStore(c)
		if err != nil {
			return err
		}
		defer st.Close()
		log, err := logger(c)
		if err != nil {
			return err
		}
		cfg, err := authConfig(c)
		if err != nil {
			return err
		}
		svc := auth.New(auth.Deps{Store: st, Logger: log, Config: cfg})
		return fn(c, &env{store: st, auth: svc, by: actor()})
	}
}

// authConfig reads the OTP rule flags where the command has them.
func authConfig(c *cli.Context) (auth.Config, error) {
	cfg := auth.Config{Issuer: c.String("issuer")}
	if hasFlag(c, "totp-window") {
		cfg.TOTPWindow = c.Int("totp-window")
		cfg.HOTPLookAhead = c.Int("hotp-window")
		cfg.ResyncWindow = c.Int("resync-window")
		cfg.LockAfter = c.Int("lock-after")
		cfg.LockDuration = c.Duration("lock-duration")
		if cfg.LockDuration == 0 {
			cfg.LockDuration = -1 // 0 on the command line: until an admin unlocks
		}
		if cfg.TOTPWindow < 0 || cfg.HOTPLookAhead < 0 || cfg.ResyncWindow < 0 || cfg.LockAfter < 0 {
			return cfg, errors.New("OTP windows and --lock-after must not be negative")
		}
	}
	return cfg, nil
}

func hasFlag(c *cli.Context, name string) bool {
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// otpRuleFlags are shared by serve and token check, so the check runs the
// server's rules.
func otpRuleFlags() []cli.Flag {
	return []cli.Flag{
		altsrc.NewIntFlag(&cli.IntFlag{Name: "totp-window", Value: 1, Usage: "TOTP steps accepted either side of the expected one", EnvVars: []string{"RADMFA_TOTP_WINDOW"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "hotp-window", Value: 10, Usage: "HOTP counters looked ahead", EnvVars: []string{"RADMFA_HOTP_WINDOW"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "resync-window", Value: 120, Usage: "steps/counters searched by token resync", EnvVars: []string{"RADMFA_RESYNC_WINDOW"}}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "lock-after", Value: 5, Usage: "consecutive failures that lock a token", EnvVars: []string{"RADMFA_LOCK_AFTER"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "lock-duration", Value: auth.Config{}.WithDefaults().LockDuration, Usage: "how long a lock lasts; 0: until `radmfa token unlock`", EnvVars: []string{"RADMFA_LOCK_DURATION"}}),
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// friendly turns store errors into plain words for the admin.
func friendly(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "store: ")
	return errors.New(msg)
}

// checkConfigKeys refuses a config file with a key that is no flag of
// radmfa's: a misspelt key would otherwise be ignored without a word, and
// the setting silently left at its default.
func checkConfigKeys(path string, app *cli.App) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	known := map[string]bool{}
	var add func([]cli.Flag, []*cli.Command)
	add = func(flags []cli.Flag, cmds []*cli.Command) {
		for _, f := range flags {
			for _, n := range f.Names() {
				known[n] = true
			}
		}
		for _, c := range cmds {
			add(c.Flags, c.Subcommands)
		}
	}
	add(app.Flags, app.Commands)
	var unknown []string
	for k := range m {
		if !known[k] || k == "config" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config %s: unknown key %s (keys are flag names: see radmfa --help and radmfa serve --help)", path, strings.Join(unknown, ", "))
	}
	return nil
}
