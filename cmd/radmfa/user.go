package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/store"
)

// userJSON is how users appear in --json output.
type userJSON struct {
	Name      string      `json:"name"`
	Email     string      `json:"email,omitempty"`
	Group     string      `json:"group,omitempty"`
	Disabled  bool        `json:"disabled"`
	CreatedAt time.Time   `json:"created_at"`
	Tokens    []tokenJSON `json:"tokens,omitempty"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{Name: u.Name, Email: u.Email, Group: u.Group, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

func userCommand() *cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return &cli.Command{
		Name:  "user",
		Usage: "manage users",
		Subcommands: []*cli.Command{
			{
				Name: "add", Usage: "add a user", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "email", Usage: "e-mail address"},
					&cli.StringFlag{Name: "group", Usage: "group (selects reply attributes)"},
				},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					name := c.Args().First()
					if err := auth.ValidUserName(name); err != nil {
						return err
					}
					if email := c.String("email"); email != "" && (!strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n")) {
						return fmt.Errorf("--email %q is not an e-mail address", email)
					}
					u, err := e.store.CreateUser(c.Context, e.by, store.User{Name: name, Email: c.String("email"), Group: c.String("group")})
					if err != nil {
						return friendly(err)
					}
					fmt.Fprintf(c.App.Writer, "user %s added\n", u.Name)
					return nil
				}),
			},
			{
				Name: "import", Usage: "add the users of a CSV file (name,email,group[,token]): all or nothing; a token column (totp, hotp, push) sends each user an enrollment email", ArgsUsage: "FILE",
				Action: withEnv(userImport),
			},
			{
				Name: "list", Usage: "list users", Flags: []cli.Flag{jsonFlag},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 0, ""); err != nil {
						return err
					}
					users, err := e.store.Users(c.Context)
					if err != nil {
						return friendly(err)
					}
					if c.Bool("json") {
						out := make([]userJSON, 0, len(users))
						for _, u := range users {
							out = append(out, toUserJSON(u))
						}
						return writeJSON(c.App.Writer, out)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tEMAIL\tGROUP\tSTATUS\tCREATED")
					for _, u := range users {
						status := "enabled"
						if u.Disabled {
							status = "disabled"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, dash(u.Email), dash(u.Group), status, u.CreatedAt.Format(time.RFC3339))
					}
					return tw.Flush()
				}),
			},
			{
				Name: "show", Usage: "show a user and their tokens", ArgsUsage: "NAME", Flags: []cli.Flag{jsonFlag},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					u, err := e.store.User(c.Context, c.Args().First())
					if err != nil {
						return friendly(err)
					}
					toks, err := e.store.Tokens(c.Context, store.TokenFilter{User: u.Name})
					if err != nil {
						return friendly(err)
					}
					out := toUserJSON(u)
					for _, t := range toks {
						out.Tokens = append(out.Tokens, toTokenJSON(t, time.Now()))
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintf(tw, "Name:\t%s\nE-mail:\t%s\nGroup:\t%s\nDisabled:\t%v\nCreated:\t%s\nTokens:\t%d\n",
						u.Name, dash(u.Email), dash(u.Group), u.Disabled, u.CreatedAt.Format(time.RFC3339), len(toks))
					if u.PushLocked(time.Now()) {
						fmt.Fprintf(tw, "Push locked until:\t%s (fraud reported; radmfa user unlock-push)\n", time.Unix(u.PushLockedUntil, 0).UTC().Format(time.RFC3339))
					}
					for _, t := range out.Tokens {
						fmt.Fprintf(tw, "  %s\t%s\t%s\tlast used %s\n", t.Serial, t.Type, t.stateText(), dash(t.LastUsed))
					}
					return tw.Flush()
				}),
			},
			setDisabledCommand("disable", true),
			setDisabledCommand("enable", false),
			{
				Name: "unlock-push", Usage: "allow push logins again after a fraud report locked them", ArgsUsage: "NAME",
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					if err := e.store.SetPushLock(c.Context, e.by, c.Args().First(), time.Time{}, "unlocked by an admin"); err != nil {
						return friendly(err)
					}
					fmt.Fprintf(c.App.Writer, "user %s: push unlocked\n", c.Args().First())
					return nil
				}),
			},
			{
				Name: "delete", Usage: "delete a user: soft tokens are deleted, hardware tokens go back to the inventory", ArgsUsage: "NAME",
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					res, err := e.store.DeleteUser(c.Context, e.by, c.Args().First())
					if err != nil {
						return friendly(err)
					}
					fmt.Fprintf(c.App.Writer, "user %s deleted\n", c.Args().First())
					for _, s := range res.Deleted {
						fmt.Fprintf(c.App.Writer, "token %s deleted (soft token, seed destroyed)\n", s)
					}
					for _, s := range res.ToInventory {
						fmt.Fprintf(c.App.Writer, "token %s returned to inventory (hardware token)\n", s)
					}
					return nil
				}),
			},
		},
	}
}

func setDisabledCommand(name string, disabled bool) *cli.Command {
	return &cli.Command{
		Name: name, Usage: name + " a user", ArgsUsage: "NAME",
		Action: withEnv(func(c *cli.Context, e *env) error {
			if err := usage(c, 1, "NAME"); err != nil {
				return err
			}
			if err := e.store.SetUserDisabled(c.Context, e.by, c.Args().First(), disabled); err != nil {
				return friendly(err)
			}
			fmt.Fprintf(c.App.Writer, "user %s %sd\n", c.Args().First(), name)
			return nil
		}),
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
