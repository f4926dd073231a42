package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/store"
)

func reportCommand() *cli.Command {
	// Fresh flags for every command: urfave/cli writes what it parsed
	// into the flag structs.
	formatFlags := func(more ...cli.Flag) []cli.Flag {
		return append([]cli.Flag{&cli.StringFlag{Name: "format", Value: "table", Usage: "table, csv or json"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (--format json), as every list command"}}, more...)
	}
	return &cli.Command{
		Name:  "report",
		Usage: "reports: who holds which token, the inventory, authentications",
		Subcommands: []*cli.Command{
			{Name: "users-with-tokens", Usage: "one row per user and token, with the phone of push tokens", Flags: formatFlags(), Action: withEnv(reportUsersWithTokens)},
			{Name: "tokens", Usage: "token counts by state and type", Flags: formatFlags(), Action: withEnv(reportTokens)},
			{
				Name: "auth", Usage: "accepts, rejects and pushes per user and per client, from the audit log",
				Flags:  formatFlags(&cli.DurationFlag{Name: "since", Value: 24 * time.Hour, Usage: "how far back"}),
				Action: withEnv(reportAuth),
			},
		},
	}
}

// format is the report's output format: --json is --format json.
func format(c *cli.Context) string {
	if c.Bool("json") {
		return "json"
	}
	return c.String("format")
}

// table is a report: a header and rows, printed in the chosen format.
type table struct {
	header []string
	rows   [][]string
}

func (t table) print(c *cli.Context) error {
	w := c.App.Writer
	switch format(c) {
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.header, "\t")))
		for _, r := range t.rows {
			d := make([]string, len(r))
			for i, v := range r {
				d[i] = dash(v)
			}
			fmt.Fprintln(tw, strings.Join(d, "\t"))
		}
		return tw.Flush()
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(t.header)
		for _, r := range t.rows {
			cw.Write(r)
		}
		cw.Flush()
		return cw.Error()
	case "json":
		out := make([]map[string]string, 0, len(t.rows))
		for _, r := range t.rows {
			m := make(map[string]string, len(r))
			for i, v := range r {
				m[t.header[i]] = v
			}
			out = append(out, m)
		}
		return writeJSON(w, out)
	}
	return fmt.Errorf("--format %q: want table, csv or json", c.String("format"))
}

func checkFormat(c *cli.Context) error {
	if c.Bool("json") && c.IsSet("format") && c.String("format") != "json" {
		return fmt.Errorf("--json and --format %s: give one", c.String("format"))
	}
	switch format(c) {
	case "table", "csv", "json":
		return usage(c, 0, "")
	}
	return fmt.Errorf("--format %q: want table, csv or json", c.String("format"))
}

func reportUsersWithTokens(c *cli.Context, e *env) error {
	if err := checkFormat(c); err != nil {
		return err
	}
	users, err := e.store.Users(c.Context)
	if err != nil {
		return friendly(err)
	}
	toks, err := e.store.Tokens(c.Context, store.TokenFilter{})
	if err != nil {
		return friendly(err)
	}
	byUser := map[string][]store.Token{}
	for _, t := range toks {
		if t.User != "" {
			byUser[strings.ToLower(t.User)] = append(byUser[strings.ToLower(t.User)], t)
		}
	}
	latest, err := e.store.Sessions(c.Context, store.SessionFilter{Latest: true})
	if err != nil {
		return friendly(err)
	}
	lastSession := map[string]store.Session{}
	for _, s := range latest {
		lastSession[strings.ToLower(s.User)] = s
	}
	now := time.Now()
	t := table{header: []string{"user", "email", "group", "user_disabled", "last_login", "last_session", "session_active",
		"serial", "type", "origin", "state", "last_used", "target", "device_type", "push_otp"}}
	for _, u := range users {
		ut := byUser[strings.ToLower(u.Name)]
		// The user's last login: the newest use of any of their tokens;
		// their last session: the newest the NAS's accounting reported.
		var lastLogin time.Time
		for _, tok := range ut {
			if tok.LastUsed.After(lastLogin) {
				lastLogin = tok.LastUsed
			}
		}
		userCols := []string{u.Name, u.Email, u.Group, strconv.FormatBool(u.Disabled), rfc3339(lastLogin), "", ""}
		if s, ok := lastSession[strings.ToLower(u.Name)]; ok {
			userCols[5], userCols[6] = rfc3339(s.Start), strconv.FormatBool(s.Active())
		}
		if len(ut) == 0 {
			t.rows = append(t.rows, append(userCols, "", "", "", "", "", "", "", ""))
			continue
		}
		for _, tok := range ut {
			st := string(tok.State)
			if tok.Locked(now) {
				st = "locked"
			}
			last := ""
			if !tok.LastUsed.IsZero() {
				last = tok.LastUsed.UTC().Format(time.RFC3339)
			}
			target, devType, pushState := "", "", store.PushNotApplicable
			if tok.Type == auth.TypePush {
				d, err := tokenDevice(c.Context, e.store, tok)
				if err != nil {
					return friendly(err)
				}
				target, devType, pushState = d.Target, d.DeviceType, d.PushOTP
			}
			t.rows = append(t.rows, append(slices.Clone(userCols), tok.Serial, tok.Type,
				tok.Origin, st, last, target, devType, pushState))
		}
	}
	return t.print(c)
}

// rfc3339 is t in UTC as RFC 3339, or "" for no time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func reportTokens(c *cli.Context, e *env) error {
	if err := checkFormat(c); err != nil {
		return err
	}
	toks, err := e.store.Tokens(c.Context, store.TokenFilter{})
	if err != nil {
		return friendly(err)
	}
	type key struct{ state, typ, origin string }
	counts := map[key]int{}
	for _, t := range toks {
		counts[key{string(t.State), t.Type, t.Origin}]++
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	order := map[string]int{"inventory": 0, "assigned": 1, "active": 2, "revoked": 3}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.state != b.state {
			return order[a.state] < order[b.state]
		}
		if a.typ != b.typ {
			return a.typ < b.typ
		}
		return a.origin < b.origin
	})
	t := table{header: []string{"state", "type", "origin", "count"}}
	for _, k := range keys {
		t.rows = append(t.rows, []string{k.state, k.typ, k.origin, strconv.Itoa(counts[k])})
	}
	t.rows = append(t.rows, []string{"total", "", "", strconv.Itoa(len(toks))})
	return t.print(c)
}

func reportAuth(c *cli.Context, e *env) error {
	if err := checkFormat(c); err != nil {
		return err
	}
	if c.Duration("since") <= 0 {
		return errors.New("--since must be positive (e.g. 24h, 720h)")
	}
	since := time.Now().Add(-c.Duration("since"))
	type counts struct{ accepts, rejects, challenges, pushes int }
	per := map[[2]string]*counts{} // (kind, name)
	add := func(kind, name string, f func(*counts)) {
		k := [2]string{kind, name}
		if per[k] == nil {
			per[k] = &counts{}
		}
		f(per[k])
	}
	for _, action := range []string{"auth", "push.request"} {
		ev, err := e.store.AuditEvents(c.Context, store.AuditFilter{Since: since, Action: action})
		if err != nil {
			return friendly(err)
		}
		for _, a := range ev {
			var f func(*counts)
			switch {
			case action == "push.request":
				f = func(n *counts) { n.pushes++ }
			case strings.HasPrefix(a.Result, "accept"):
				f = func(n *counts) { n.accepts++ }
			case strings.HasPrefix(a.Result, "challenge"):
				f = func(n *counts) { n.challenges++ }
			default:
				f = func(n *counts) { n.rejects++ }
			}
			add("user", a.User, f)
			add("client", a.Client, f)
		}
	}
	keys := make([][2]string, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] > keys[j][0] // users first
		}
		return keys[i][1] < keys[j][1]
	})
	t := table{header: []string{"by", "name", "accepts", "rejects", "challenges", "pushes"}}
	for _, k := range keys {
		n := per[k]
		t.rows = append(t.rows, []string{k[0], k[1], strconv.Itoa(n.accepts), strconv.Itoa(n.rejects), strconv.Itoa(n.challenges), strconv.Itoa(n.pushes)})
	}
	return t.print(c)
}
