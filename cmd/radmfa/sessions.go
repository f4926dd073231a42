package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/store"
)

type sessionJSON struct {
	User           string     `json:"user"`
	Client         string     `json:"client"`
	NAS            string     `json:"nas"`
	SessionID      string     `json:"session_id"`
	FramedIP       string     `json:"framed_ip,omitempty"`
	CallingStation string     `json:"calling_station,omitempty"`
	Start          time.Time  `json:"start"`
	Stop           *time.Time `json:"stop,omitempty"`
	Active         bool       `json:"active"`
	DurationSec    int64      `json:"duration_seconds"`
	InOctets       int64      `json:"input_octets"`
	OutOctets      int64      `json:"output_octets"`
	TerminateCause string     `json:"terminate_cause,omitempty"`
}

func sessionsCommand() *cli.Command {
	return &cli.Command{
		Name:  "sessions",
		Usage: "list the VPN sessions the NAS's accounting reported, newest first",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "active", Usage: "only sessions not stopped"},
			&cli.StringFlag{Name: "user", Usage: "only this user's sessions"},
			&cli.IntFlag{Name: "limit", Value: 1000, Usage: "at most this many sessions, the newest (0: all)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: withEnv(func(c *cli.Context, e *env) error {
			if err := usage(c, 0, ""); err != nil {
				return err
			}
			if c.Int("limit") < 0 {
				return fmt.Errorf("--limit must not be negative")
			}
			rows, err := e.store.Sessions(c.Context, store.SessionFilter{User: c.String("user"), Active: c.Bool("active"), Limit: c.Int("limit")})
			if err != nil {
				return friendly(err)
			}
			if c.Bool("json") {
				out := make([]sessionJSON, 0, len(rows))
				for _, r := range rows {
					j := sessionJSON{User: r.User, Client: r.Client, NAS: r.NAS, SessionID: r.SessionID, FramedIP: r.FramedIP,
						CallingStation: r.CallingStation, Start: r.Start, Active: r.Active(), DurationSec: int64(r.Duration / time.Second),
						InOctets: r.InOctets, OutOctets: r.OutOctets, TerminateCause: r.TerminateCause}
					if !r.Active() {
						stop := r.Stop
						j.Stop = &stop
					}
					out = append(out, j)
				}
				return writeJSON(c.App.Writer, out)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tSTART\tSTOP\tDURATION\tCLIENT\tNAS\tSESSION\tFRAMED-IP\tCALLING-STATION\tIN\tOUT\tCAUSE")
			for _, r := range rows {
				stop := "active"
				if !r.Active() {
					stop = r.Stop.Local().Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(r.User), r.Start.Local().Format("2006-01-02 15:04:05"),
					stop, r.Duration, r.Client, r.NAS, r.SessionID, dash(r.FramedIP), dash(r.CallingStation),
					octets(r.InOctets), octets(r.OutOctets), dash(r.TerminateCause))
			}
			return tw.Flush()
		}),
	}
}

// octets is a byte count for people: 1.5 MiB.
func octets(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
