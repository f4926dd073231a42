package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/store"
)

type auditJSON struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	User   string    `json:"user,omitempty"`
	Serial string    `json:"serial,omitempty"`
	Client string    `json:"client,omitempty"`
	Result string    `json:"result"`
	Detail string    `json:"detail,omitempty"`
}

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "show the audit log: admin actions and authentication outcomes",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "user", Usage: "only rows about this user"},
			&cli.StringFlag{Name: "serial", Usage: "only rows about this token"},
			&cli.StringFlag{Name: "client", Usage: "only rows about this RADIUS client"},
			&cli.StringFlag{Name: "action", Usage: "only rows of this action (auth: logins; user.add, token.enroll, push.answer, ...)"},
			&cli.StringFlag{Name: "result", Usage: "only rows with this result, or of this kind: reject matches every reject:REASON"},
			&cli.StringFlag{Name: "since", Usage: "only rows from this time on: a duration back from now (24h) or a time (2026-12-01, 2026-12-01T08:00, RFC 3339)"},
			&cli.StringFlag{Name: "until", Usage: "only rows before this time (as --since)"},
			&cli.IntFlag{Name: "limit", Value: 1000, Usage: "at most this many rows, the newest (0: all)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "jsonl", Usage: "print JSON lines, one row a line, oldest first (a SIEM's import; with --limit 0 for all)"},
		},
		Subcommands: []*cli.Command{{
			Name: "prune", Usage: "delete the audit rows older than --keep (a row records that it did)",
			Flags: []cli.Flag{&cli.StringFlag{Name: "keep", Required: true, Usage: "how long rows are kept: 400d, 90d, 720h"}},
			Action: withEnv(func(c *cli.Context, e *env) error {
				if err := usage(c, 0, "--keep 400d"); err != nil {
					return err
				}
				keep, err := parseKeep(c.String("keep"))
				if err != nil {
					return err
				}
				n, err := e.store.PruneAudit(c.Context, e.by, time.Now().Add(-keep))
				if err != nil {
					return friendly(err)
				}
				fmt.Fprintf(c.App.Writer, "%d audit rows older than %s deleted\n", n, c.String("keep"))
				return nil
			}),
		}},
		Action: withEnv(func(c *cli.Context, e *env) error {
			if err := usage(c, 0, ""); err != nil {
				return err
			}
			now := time.Now()
			f := store.AuditFilter{User: c.String("user"), Serial: c.String("serial"), Client: c.String("client"),
				Action: c.String("action"), Result: c.String("result"), Limit: c.Int("limit")}
			if f.Limit < 0 {
				return fmt.Errorf("--limit must not be negative")
			}
			var err error
			if f.Since, err = parseWhen("--since", c.String("since"), now); err != nil {
				return err
			}
			if f.Until, err = parseWhen("--until", c.String("until"), now); err != nil {
				return err
			}
			if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
				return fmt.Errorf("--since %s is not before --until %s", c.String("since"), c.String("until"))
			}
			rows, err := e.store.AuditEvents(c.Context, f)
			if err != nil {
				return friendly(err)
			}
			if c.Bool("jsonl") {
				enc := json.NewEncoder(c.App.Writer)
				for _, r := range rows {
					if err := enc.Encode(auditJSON{At: r.At, Actor: r.Actor, Action: r.Action, User: r.User, Serial: r.Serial,
						Client: r.Client, Result: r.Result, Detail: r.Detail}); err != nil {
						return err
					}
				}
				return nil
			}
			if c.Bool("json") {
				out := make([]auditJSON, 0, len(rows))
				for _, r := range rows {
					out = append(out, auditJSON{At: r.At, Actor: r.Actor, Action: r.Action, User: r.User, Serial: r.Serial,
						Client: r.Client, Result: r.Result, Detail: r.Detail})
				}
				return writeJSON(c.App.Writer, out)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tUSER\tSERIAL\tCLIENT\tRESULT\tDETAIL")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Local().Format("2006-01-02 15:04:05.000"),
					r.Actor, r.Action, dash(r.User), dash(r.Serial), dash(r.Client), r.Result, r.Detail)
			}
			return tw.Flush()
		}),
	}
}

// parseKeep reads a retention: days (400d) or a Go duration (720h), at
// least an hour.
func parseKeep(v string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("--keep %q: want days (400d) or a duration (720h)", v)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("--keep %q: want days (400d) or a duration (720h)", v)
		}
	}
	if d < time.Hour {
		return 0, fmt.Errorf("--keep %q: keep at least an hour", v)
	}
	return d, nil
}

// parseWhen reads a point in time: a duration back from now ("24h", "90m")
// or a date or time in local time ("2026-12-01", "2026-12-01T08:00",
// "2026-12-01 08:00") or RFC 3339. "" is no time.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%s %s: a duration back from now must not be negative", flag, v)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want a duration back from now (24h) or a time (2026-12-01, 2026-12-01T08:00, RFC 3339)", flag, v)
}

// pruneAudit deletes the audit rows older than keep at start and hourly
// until ctx ends.
func pruneAudit(ctx context.Context, st store.Store, keep time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := st.PruneAudit(ctx, "serve", time.Now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("audit: prune", "err", err)
		case n > 0:
			log.Info("audit: old rows deleted", "rows", n, "keep", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
