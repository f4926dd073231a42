package main

import (
	"fmt"
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
			&cli.DurationFlag{Name: "since", Usage: "only rows younger than this (e.g. 24h)"},
			&cli.IntFlag{Name: "limit", Value: 1000, Usage: "at most this many rows, the newest (0: all)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: withEnv(func(c *cli.Context, e *env) error {
			if err := usage(c, 0, ""); err != nil {
				return err
			}
			f := store.AuditFilter{User: c.String("user"), Limit: c.Int("limit")}
			if d := c.Duration("since"); d < 0 || f.Limit < 0 {
				return fmt.Errorf("--since and --limit must not be negative")
			} else if d > 0 {
				f.Since = time.Now().Add(-d)
			}
			rows, err := e.store.AuditEvents(c.Context, f)
			if err != nil {
				return friendly(err)
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
