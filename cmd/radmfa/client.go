package main

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/dictionaries"
	"github.com/radmfa/radmfa/radius"
	"github.com/radmfa/radmfa/store"
)

// clientJSON is how clients appear in --json output; never the secret.
type clientJSON struct {
	Name                        string    `json:"name"`
	CIDR                        string    `json:"cidr"`
	RequireMessageAuthenticator bool      `json:"require_message_authenticator"`
	NASType                     string    `json:"nas_type,omitempty"`
	NumberMatching              string    `json:"number_matching"` // on, off, default
	CreatedAt                   time.Time `json:"created_at"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// parsePrefix accepts a CIDR or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("--cidr %q is not an address or CIDR", s)
}

func clientCommand() *cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return &cli.Command{
		Name:  "client",
		Usage: "manage RADIUS clients (NAS, VPN concentrators); a running server picks changes up within seconds",
		Subcommands: []*cli.Command{
			{
				Name: "add", Usage: "add a client", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "cidr", Required: true, Usage: "source address or network of the NAS"},
					&cli.StringFlag{Name: "secret", Usage: "shared secret (visible in the process list: prefer --secret-file)"},
					&cli.StringFlag{Name: "secret-file", Usage: "read the shared secret from this file ('-' for stdin)"},
					&cli.BoolFlag{Name: "require-message-authenticator", Value: true, Usage: "drop Access-Requests without Message-Authenticator (the default, against BlastRADIUS, CVE-2024-3596); --require-message-authenticator=false for a NAS that cannot send it"},
					&cli.StringFlag{Name: "nas-type", Usage: "the NAS's kind: cisco, paloalto, fortigate, pfsense, strongswan, ...; openvpn and pam_radius cannot show an Access-Challenge, so their push logins get no number matching"},
					&cli.StringFlag{Name: "number-matching", Value: "default", Usage: "push number matching for this client: on, off or default (serve --number-matching)"},
				},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME --cidr CIDR (--secret S | --secret-file F)"); err != nil {
						return err
					}
					name := c.Args().First()
					if !nameRE.MatchString(name) {
						return fmt.Errorf("client name %q: 1-64 letters, digits, '.', '_' or '-'", name)
					}
					p, err := parsePrefix(c.String("cidr"))
					if err != nil {
						return err
					}
					secret, err := readSecret(c)
					if err != nil {
						return err
					}
					nm := c.String("number-matching")
					switch nm {
					case "on", "off":
					case "default":
						nm = ""
					default:
						return fmt.Errorf("--number-matching %q: want on, off or default", nm)
					}
					if nt := c.String("nas-type"); nm == "on" && !(&radius.Client{NASType: nt}).ShowsChallenges() {
						return fmt.Errorf("--number-matching on: a %s NAS cannot show the number (it takes the Access-Challenge that carries it for a refusal)", nt)
					}
					cl, err := e.store.CreateClient(c.Context, e.by, store.Client{Name: name, Prefix: p, Secret: []byte(secret),
						RequireMessageAuthenticator: c.Bool("require-message-authenticator"), NASType: c.String("nas-type"),
						NumberMatching: nm})
					if err != nil {
						return friendly(err)
					}
					fmt.Fprintf(c.App.Writer, "client %s added for %s\n", cl.Name, cl.Prefix)
					if cl.RequireMessageAuthenticator {
						fmt.Fprintln(c.App.Writer, "Access-Requests without Message-Authenticator are dropped (BlastRADIUS); for a NAS that cannot send it: client remove, then client add --require-message-authenticator=false")
					} else {
						fmt.Fprintln(c.App.ErrWriter, "warning: this client's Access-Requests can be forged without Message-Authenticator (BlastRADIUS, CVE-2024-3596); require it as soon as the NAS sends it")
					}
					if len(secret) < 16 {
						fmt.Fprintln(c.App.ErrWriter, "warning: a shared secret shorter than 16 characters is weak; use a long random one")
					}
					return nil
				}),
			},
			{
				Name: "list", Usage: "list clients", Flags: []cli.Flag{jsonFlag},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 0, ""); err != nil {
						return err
					}
					cls, err := e.store.Clients(c.Context)
					if err != nil {
						return friendly(err)
					}
					out := make([]clientJSON, 0, len(cls))
					for _, cl := range cls {
						out = append(out, toClientJSON(cl))
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tCIDR\tREQUIRE-MA\tNAS-TYPE\tCREATED")
					for _, cl := range out {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cl.Name, cl.CIDR, yesNo(cl.RequireMessageAuthenticator), dash(cl.NASType), cl.CreatedAt.Format(time.RFC3339))
					}
					return tw.Flush()
				}),
			},
			{
				Name: "show", Usage: "show a client (never its secret)", ArgsUsage: "NAME", Flags: []cli.Flag{jsonFlag},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					cl, err := e.store.Client(c.Context, c.Args().First())
					if err != nil {
						return friendly(err)
					}
					j := toClientJSON(cl)
					if c.Bool("json") {
						return writeJSON(c.App.Writer, j)
					}
					fmt.Fprintf(c.App.Writer, "Name:       %s\nCIDR:       %s\nRequire-MA: %s\nNAS type:   %s\nNumber matching: %s\nSecret:     (%d characters, sealed)\nCreated:    %s\n",
						j.Name, j.CIDR, yesNo(j.RequireMessageAuthenticator), dash(j.NASType), j.NumberMatching, len(cl.Secret), j.CreatedAt.Format(time.RFC3339))
					return nil
				}),
			},
			{
				Name: "remove", Usage: "remove a client", ArgsUsage: "NAME",
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME"); err != nil {
						return err
					}
					if err := e.store.DeleteClient(c.Context, e.by, c.Args().First()); err != nil {
						return friendly(err)
					}
					fmt.Fprintf(c.App.Writer, "client %s removed\n", c.Args().First())
					return nil
				}),
			},
		},
	}
}

func toClientJSON(c store.Client) clientJSON {
	nm := c.NumberMatching
	if nm == "" {
		nm = "default"
	}
	return clientJSON{Name: c.Name, CIDR: c.Prefix.String(), RequireMessageAuthenticator: c.RequireMessageAuthenticator,
		NASType: c.NASType, NumberMatching: nm, CreatedAt: c.CreatedAt}
}

func readSecret(c *cli.Context) (string, error) {
	if c.IsSet("secret") == c.IsSet("secret-file") {
		return "", errors.New("give exactly one of --secret and --secret-file")
	}
	secret, err := flagOrFile(c, "secret", 4096)
	if err != nil {
		return "", err
	}
	if len(secret) < 6 || len(secret) > 128 {
		return "", errors.New("a shared secret has 6 to 128 characters")
	}
	return secret, nil
}

func replyCommand() *cli.Command {
	return &cli.Command{
		Name:  "reply",
		Usage: "reply attributes added to Access-Accept, per user group or per client",
		Subcommands: []*cli.Command{
			{
				Name: "add", Usage: "add attributes, e.g. 'Filter-Id=vpn-staff' 'Cisco-AVPair=ip:inacl#1=permit ip any any'",
				ArgsUsage: "NAME=VALUE...",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "group", Usage: "for users of this group"},
					&cli.StringFlag{Name: "client", Usage: "for this client"},
					&cli.StringSliceFlag{Name: "dictionary", Usage: "extra FreeRADIUS dictionary file", EnvVars: []string{"RADMFA_DICTIONARY"}},
				},
				Action: withEnv(func(c *cli.Context, e *env) error {
					if c.NArg() == 0 || (c.String("group") == "") == (c.String("client") == "") {
						return errors.New("usage: radmfa reply add (--group G | --client C) NAME=VALUE [NAME=VALUE]")
					}
					scope, target := "group", c.String("group")
					if target == "" {
						scope, target = "client", c.String("client")
						if _, err := e.store.Client(c.Context, target); err != nil {
							return friendly(err)
						}
					}
					dict, err := radius.LoadDictionary(dictionaries.FS, dictionaries.Root, c.StringSlice("dictionary")...)
					if err != nil {
						return err
					}
					var attrs []store.ReplyAttr
					for _, arg := range c.Args().Slice() {
						name, value, _, err := dict.ParseAttr(arg)
						if err != nil {
							return errors.New(strings.TrimPrefix(err.Error(), "radius: "))
						}
						attrs = append(attrs, store.ReplyAttr{Scope: scope, Target: target, Attr: name, Value: value})
					}
					for _, a := range attrs {
						a, err := e.store.AddReplyAttr(c.Context, e.by, a)
						if err != nil {
							return friendly(err)
						}
						fmt.Fprintf(c.App.Writer, "reply attribute %d added: %s %s: %s = %s\n", a.ID, scope, target, a.Attr, a.Value)
					}
					return nil
				}),
			},
			{
				Name: "list", Usage: "list reply attributes", Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: withEnv(func(c *cli.Context, e *env) error {
					attrs, err := e.store.ReplyAttrs(c.Context)
					if err != nil {
						return friendly(err)
					}
					if c.Bool("json") {
						type j struct {
							ID     int64  `json:"id"`
							Scope  string `json:"scope"`
							Target string `json:"target"`
							Attr   string `json:"attribute"`
							Value  string `json:"value"`
						}
						out := make([]j, 0, len(attrs))
						for _, a := range attrs {
							out = append(out, j{a.ID, a.Scope, a.Target, a.Attr, a.Value})
						}
						return writeJSON(c.App.Writer, out)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tSCOPE\tTARGET\tATTRIBUTE\tVALUE")
					for _, a := range attrs {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", a.ID, a.Scope, a.Target, a.Attr, a.Value)
					}
					return tw.Flush()
				}),
			},
			{
				Name: "remove", Usage: "remove a reply attribute", ArgsUsage: "ID",
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "ID"); err != nil {
						return err
					}
					id, err := strconv.ParseInt(c.Args().First(), 10, 64)
					if err != nil {
						return fmt.Errorf("ID %q is not a number", c.Args().First())
					}
					if err := e.store.DeleteReplyAttr(c.Context, e.by, id); err != nil {
						return friendly(err)
					}
					fmt.Fprintf(c.App.Writer, "reply attribute %d removed\n", id)
					return nil
				}),
			},
		},
	}
}
