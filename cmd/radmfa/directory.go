package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/directory"
	"github.com/radmfa/radmfa/store"
)

type directoryJSON struct {
	Name       string               `json:"name"`
	URLs       []string             `json:"urls"`
	BindDN     string               `json:"bind_dn"`
	BaseDN     string               `json:"base_dn"`
	UserFilter string               `json:"user_filter,omitempty"`
	LoginAttr  string               `json:"login_attr"`
	EmailAttr  string               `json:"email_attr,omitempty"`
	GroupAttr  string               `json:"group_attr,omitempty"`
	StartTLS   bool                 `json:"start_tls"`
	CACert     bool                 `json:"ca_cert"`
	GroupMap   []store.GroupMapping `json:"group_map"`
	CreatedAt  time.Time            `json:"created_at"`
}

func toDirectoryJSON(d store.Directory) directoryJSON {
	gm := d.GroupMap
	if gm == nil {
		gm = []store.GroupMapping{}
	}
	return directoryJSON{Name: d.Name, URLs: d.URLs, BindDN: d.BindDN, BaseDN: d.BaseDN, UserFilter: d.UserFilter,
		LoginAttr: d.LoginAttr, EmailAttr: d.EmailAttr, GroupAttr: d.GroupAttr, StartTLS: d.StartTLS, CACert: len(d.CACert) > 0,
		GroupMap: gm, CreatedAt: d.CreatedAt}
}

func directoryCommand() *cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return &cli.Command{
		Name:  "directory",
		Usage: "LDAP directories (Active Directory, OpenLDAP) users are synced from",
		Subcommands: []*cli.Command{
			{
				Name: "add", Usage: "add a directory", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "url", Required: true, Usage: "ldaps://dc1.example.com or ldap://... (with --start-tls), repeatable: tried in order"},
					&cli.StringFlag{Name: "bind-dn", Required: true, Usage: "the account radmfa reads the directory with"},
					&cli.StringFlag{Name: "bind-password-file", Required: true, Usage: "file holding its password ('-' for stdin)"},
					&cli.StringFlag{Name: "base-dn", Required: true, Usage: "where users are searched"},
					&cli.StringFlag{Name: "user-filter", Usage: "LDAP filter of the users to sync, e.g. (memberOf=CN=VPN,OU=Groups,DC=example,DC=com) (default (objectClass=person))"},
					&cli.StringFlag{Name: "login-attr", Value: "sAMAccountName", Usage: "the user name attribute: sAMAccountName, uid or userPrincipalName"},
					&cli.StringFlag{Name: "email-attr", Value: "mail", Usage: "the email attribute"},
					&cli.StringFlag{Name: "group-attr", Value: "memberOf", Usage: "the attribute listing a user's groups"},
					&cli.BoolFlag{Name: "start-tls", Usage: "StartTLS on ldap:// URLs"},
					&cli.StringFlag{Name: "ca-file", Usage: "CA certificates (PEM) of the directory's certificate (default: the system's)"},
					&cli.StringSliceFlag{Name: "group-map", Usage: "'DIRECTORY-GROUP=radmfa-group' (the group's DN, or its CN), repeatable: the first a user is in gives their group"},
				},
				Action: withEnv(directoryAdd),
			},
			{
				Name: "list", Usage: "list directories", Flags: []cli.Flag{jsonFlag},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 0, ""); err != nil {
						return err
					}
					ds, err := e.store.Directories(c.Context)
					if err != nil {
						return friendly(err)
					}
					out := make([]directoryJSON, 0, len(ds))
					for _, d := range ds {
						out = append(out, toDirectoryJSON(d))
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tURLS\tBASE-DN\tLOGIN-ATTR\tFILTER")
					for _, d := range out {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, strings.Join(d.URLs, " "), d.BaseDN, d.LoginAttr, dash(d.UserFilter))
					}
					return tw.Flush()
				}),
			},
			{
				Name: "show", Usage: "show a directory (never its bind password)", ArgsUsage: "NAME", Flags: []cli.Flag{jsonFlag},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					d, err := e.store.Directory(c.Context, c.Args().First())
					if err != nil {
						return friendly(err)
					}
					return writeJSON(c.App.Writer, toDirectoryJSON(d))
				}),
			},
			{
				Name: "remove", Usage: "remove a directory (its users stay, as users added by hand)", ArgsUsage: "NAME",
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					if err := e.store.DeleteDirectory(c.Context, e.by, c.Args().First()); err != nil {
						return friendly(err)
					}
					fmt.Fprintf(c.App.Writer, "directory %s removed\n", c.Args().First())
					return nil
				}),
			},
			{
				Name: "test", Usage: "bind, count the matching users and show a few", ArgsUsage: "NAME",
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					d, err := e.store.Directory(c.Context, c.Args().First())
					if err != nil {
						return friendly(err)
					}
					entries, err := directory.Users(c.Context, d)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "directory %s: bound as %s; %d users match\n", d.Name, d.BindDN, len(entries))
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "LOGIN\tEMAIL\tGROUP\tDISABLED\tDN")
					for _, en := range entries[:min(len(entries), 10)] {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", en.Login, dash(en.Email), dash(directory.GroupOf(d, en.Groups)), yesNo(en.Disabled), en.DN)
					}
					return tw.Flush()
				}),
			},
			{
				Name: "sync", Usage: "create, update and disable users to match the directory", ArgsUsage: "NAME",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "dry-run", Usage: "say what would change, change nothing"}, jsonFlag},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					d, err := e.store.Directory(c.Context, c.Args().First())
					if err != nil {
						return friendly(err)
					}
					res, err := syncDirectory(c.Context, e.store, d, e.by, c.Bool("dry-run"))
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, res)
					}
					for _, ch := range res.Changes {
						fmt.Fprintln(c.App.Writer, ch)
					}
					prefix := ""
					if c.Bool("dry-run") {
						prefix = "dry run: "
					}
					fmt.Fprintln(c.App.Writer, prefix+res.Summary())
					return nil
				}),
			},
		},
	}
}

// syncDirectory reads d and syncs it, with a summary audit row.
func syncDirectory(ctx context.Context, st store.Store, d store.Directory, by string, dry bool) (directory.Result, error) {
	entries, err := directory.Users(ctx, d)
	if err != nil {
		st.Audit(context.WithoutCancel(ctx), store.AuditEvent{Actor: by, Action: "directory.sync", Result: "error", Detail: "name=" + d.Name + " " + err.Error()})
		return directory.Result{}, err
	}
	res, err := directory.Sync(ctx, st, d, entries, by, dry)
	if err != nil {
		return res, err
	}
	if !dry {
		st.Audit(ctx, store.AuditEvent{Actor: by, Action: "directory.sync", Result: "ok", Detail: res.Summary()})
	}
	return res, nil
}

func directoryAdd(c *cli.Context, e *env) error {
	if err := usage(c, 1, "NAME --url URL --bind-dn DN --bind-password-file F --base-dn DN"); err != nil {
		return err
	}
	name := c.Args().First()
	if !nameRE.MatchString(name) {
		return fmt.Errorf("directory name %q: 1-64 letters, digits, '.', '_' or '-'", name)
	}
	pw, err := flagOrFile(c, "bind-password", 4096)
	if err != nil {
		return err
	}
	d := store.Directory{Name: name, URLs: c.StringSlice("url"), BindDN: c.String("bind-dn"), BindPassword: []byte(pw),
		BaseDN: c.String("base-dn"), UserFilter: c.String("user-filter"), LoginAttr: c.String("login-attr"),
		EmailAttr: c.String("email-attr"), GroupAttr: c.String("group-attr"), StartTLS: c.Bool("start-tls")}
	if f := c.String("ca-file"); f != "" {
		if d.CACert, err = os.ReadFile(f); err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
	}
	for _, m := range c.StringSlice("group-map") {
		i := strings.LastIndex(m, "=")
		if i <= 0 || i == len(m)-1 {
			return fmt.Errorf("--group-map %q: want DIRECTORY-GROUP=radmfa-group", m)
		}
		d.GroupMap = append(d.GroupMap, store.GroupMapping{Directory: m[:i], Group: m[i+1:]})
	}
	if d, err = e.store.CreateDirectory(c.Context, e.by, d); err != nil {
		return friendly(err)
	}
	fmt.Fprintf(c.App.Writer, "directory %s added; check it with: radmfa directory test %s\n", d.Name, d.Name)
	return nil
}

// dirChecker checks directory passwords against the directory each user
// comes from.
type dirChecker struct{ st store.Store }

func (d dirChecker) CheckPassword(ctx context.Context, u store.User, password string) error {
	dir, err := d.st.Directory(ctx, u.Source)
	if err != nil {
		return err
	}
	_, err = directory.CheckPassword(ctx, dir, u.Name, password)
	if errors.Is(err, directory.ErrBadPassword) {
		return auth.ErrWrongPassword
	}
	return err
}

// directorySyncer syncs every directory every period inside serve.
type directorySyncer struct {
	st      store.Store
	log     *slog.Logger
	every   time.Duration
	runs    *prometheus.CounterVec
	users   *prometheus.GaugeVec
	changes *prometheus.CounterVec
}

func newDirectorySyncer(st store.Store, log *slog.Logger, every time.Duration, reg prometheus.Registerer) *directorySyncer {
	s := &directorySyncer{st: st, log: log, every: every,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "radmfa_directory_syncs_total",
			Help: "Directory syncs, by directory and result (ok, error)."}, []string{"directory", "result"}),
		users: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "radmfa_directory_users",
			Help: "Users the directory had at its last sync."}, []string{"directory"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "radmfa_directory_changes_total",
			Help: "Users created, updated, disabled and enabled by syncs."}, []string{"directory", "change"})}
	reg.MustRegister(s.runs, s.users, s.changes)
	return s
}

// run syncs at once and then every period until ctx ends.
func (s *directorySyncer) run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		s.once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *directorySyncer) once(ctx context.Context) {
	ds, err := s.st.Directories(ctx)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.Error("directory: list", "err", err)
		}
		return
	}
	for _, d := range ds {
		res, err := syncDirectory(ctx, s.st, d, "directory:"+d.Name, false)
		if err != nil {
			s.runs.WithLabelValues(d.Name, "error").Inc()
			s.log.Error("directory: sync failed; users stay as they are", "directory", d.Name, "err", err)
			continue
		}
		s.runs.WithLabelValues(d.Name, "ok").Inc()
		s.users.WithLabelValues(d.Name).Set(float64(res.Seen))
		for k, n := range map[string]int{"created": res.Created, "updated": res.Updated, "disabled": res.Disabled, "enabled": res.Enabled} {
			s.changes.WithLabelValues(d.Name, k).Add(float64(n))
		}
		s.log.Info("directory: "+res.Summary(), "directory", d.Name)
	}
}
