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
	NASTimeout                  string    `json:"nas_timeout"`
	NASRetries                  int       `json:"nas_retries"`
	NASDeadline                 string    `json:"nas_deadline"` // timeout x (retries+1)
	RadSec                      bool      `json:"radsec"`
	CertCN                      string    `json:"cert_cn,omitempty"`
	CertFingerprint             string    `json:"cert_fingerprint,omitempty"`
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
				Flags: clientFlags(true),
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME (--cidr CIDR (--secret S | --secret-file F) | --radsec (--cert-cn CN | --cert-fingerprint sha256:HEX))"); err != nil {
						return err
					}
					name := c.Args().First()
					if !nameRE.MatchString(name) {
						return fmt.Errorf("client name %q: 1-64 letters, digits, '.', '_' or '-'", name)
					}
					cl := store.Client{Name: name}
					if err := applyClientFlags(c, &cl, true); err != nil {
						return err
					}
					cl, err := e.store.CreateClient(c.Context, e.by, cl)
					if err != nil {
						return friendly(err)
					}
					if cl.RadSec() {
						fmt.Fprintf(c.App.Writer, "client %s added for RadSec, known by its certificate (%s)\n", cl.Name, certName(cl))
					} else {
						fmt.Fprintf(c.App.Writer, "client %s added for %s\n", cl.Name, cl.Prefix)
					}
					switch {
					case cl.RadSec():
						fmt.Fprintln(c.App.Writer, "its requests are authenticated by the TLS connection; the shared secret is \"radsec\" (RFC 6614)")
					case cl.RequireMessageAuthenticator:
						fmt.Fprintln(c.App.Writer, "Access-Requests without Message-Authenticator are dropped (BlastRADIUS); for a NAS that cannot send it: client set NAME --require-message-authenticator=false")
					default:
						fmt.Fprintln(c.App.ErrWriter, "warning: this client's Access-Requests can be forged without Message-Authenticator (BlastRADIUS, CVE-2024-3596); require it as soon as the NAS sends it")
					}
					printDeadline(c, cl)
					if !cl.RadSec() && len(cl.Secret) < 16 {
						fmt.Fprintln(c.App.ErrWriter, "warning: a shared secret shorter than 16 characters is weak; use a long random one")
					}
					return nil
				}),
			},
			{
				Name: "set", Usage: "change a client: only the flags given change", ArgsUsage: "NAME",
				Flags: clientFlags(false),
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 1, "NAME [flags of client add]"); err != nil {
						return err
					}
					if c.NumFlags() == 0 {
						return errors.New("nothing to change: give one of the flags of client add")
					}
					cl, err := e.store.UpdateClient(c.Context, e.by, c.Args().First(), func(cl *store.Client) error {
						return applyClientFlags(c, cl, false)
					})
					if err != nil {
						return friendly(err)
					}
					fmt.Fprintf(c.App.Writer, "client %s changed; a running server picks it up within seconds\n", cl.Name)
					if !cl.RequireMessageAuthenticator {
						fmt.Fprintln(c.App.ErrWriter, "warning: this client's Access-Requests can be forged without Message-Authenticator (BlastRADIUS, CVE-2024-3596); require it as soon as the NAS sends it")
					}
					printDeadline(c, cl)
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
					fmt.Fprintln(tw, "NAME\tCIDR\tRADSEC\tREQUIRE-MA\tNAS-TYPE\tNAS-DEADLINE\tCREATED")
					for _, cl := range out {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cl.Name, dash(cl.CIDR), yesNo(cl.RadSec), yesNo(cl.RequireMessageAuthenticator), dash(cl.NASType),
							cl.NASDeadline, cl.CreatedAt.Format(time.RFC3339))
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
					fmt.Fprintf(c.App.Writer, "Name:       %s\nCIDR:       %s\nRequire-MA: %s\nNAS type:   %s\nNumber matching: %s\nNAS deadline: %s (%s x %d tries)\nSecret:     (%d characters, sealed)\nCreated:    %s\n",
						j.Name, dash(j.CIDR), yesNo(j.RequireMessageAuthenticator), dash(j.NASType), j.NumberMatching, j.NASDeadline, j.NASTimeout, j.NASRetries+1,
						len(cl.Secret), j.CreatedAt.Format(time.RFC3339))
					if cl.RadSec() {
						fmt.Fprintf(c.App.Writer, "RadSec:     known by %s\n", certName(cl))
					}
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

// clientFlags are the flags of client add (forAdd) and client set.
func clientFlags(forAdd bool) []cli.Flag {
	ma := &cli.BoolFlag{Name: "require-message-authenticator", Value: true, Usage: "drop Access-Requests without Message-Authenticator (the default, against BlastRADIUS, CVE-2024-3596); --require-message-authenticator=false for a NAS that cannot send it"}
	nm := &cli.StringFlag{Name: "number-matching", Value: "default", Usage: "push number matching for this client: on, off or default (serve --number-matching)"}
	if !forAdd {
		ma.Value, nm.Value = false, ""
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "cidr", Usage: "source address or network of the NAS (for a RadSec client: optional, limits where it may connect from)"},
		&cli.StringFlag{Name: "secret", Usage: "shared secret (visible in the process list: prefer --secret-file)"},
		&cli.StringFlag{Name: "secret-file", Usage: "read the shared secret from this file ('-' for stdin)"},
		ma,
		&cli.StringFlag{Name: "nas-type", Usage: "the NAS's kind: asa, paloalto, fortigate, pfsense, strongswan, softether, openvpn, pam_radius, ...: sets its default timeout and retries; openvpn and pam_radius cannot show an Access-Challenge, so their push logins get no number matching"},
		nm,
		&cli.StringFlag{Name: "first-factor", Usage: "what users type before the code: pin (the token's PIN, where it has one; the default) or directory (their directory password, checked by an LDAP bind: password+code, or the password then the code or a push)"},
		&cli.StringFlag{Name: "user-verification", Value: map[bool]string{true: "default", false: ""}[forAdd], Usage: "push approvals from this client's logins need the phone owner's WebAuthn verification: on, off or default (serve --require-user-verification)"},
		&cli.DurationFlag{Name: "nas-timeout", Usage: "how long the NAS waits for an answer before it sends again (0: its type's default); a push is answered within timeout x (retries+1)"},
		&cli.IntFlag{Name: "nas-retries", Usage: "how many times the NAS sends a request again after a timeout"},
		&cli.BoolFlag{Name: "radsec", Usage: "a RadSec (RADIUS over TLS) client, known by its certificate: give --cert-cn or --cert-fingerprint"},
		&cli.StringFlag{Name: "cert-cn", Usage: "RadSec: the NAS certificate's subject CN (or a DNS name it carries)"},
		&cli.StringFlag{Name: "cert-fingerprint", Usage: "RadSec: the NAS certificate's fingerprint, sha256:HEX (openssl x509 -noout -fingerprint -sha256)"},
	}
}

// applyClientFlags sets the fields of cl that flags were given for (all
// of them when adding).
func applyClientFlags(c *cli.Context, cl *store.Client, adding bool) error {
	set := func(name string) bool { return adding || c.IsSet(name) }
	radsec := c.Bool("radsec") || c.IsSet("cert-cn") || c.IsSet("cert-fingerprint") || (!adding && cl.RadSec())
	if c.IsSet("cidr") || (adding && !radsec) {
		if c.String("cidr") == "" && !radsec {
			return errors.New("--cidr is required (the NAS's source address or network)")
		}
		if c.String("cidr") != "" {
			p, err := parsePrefix(c.String("cidr"))
			if err != nil {
				return err
			}
			cl.Prefix = p
		} else {
			cl.Prefix = netip.Prefix{}
		}
	}
	switch {
	case c.IsSet("secret") || c.IsSet("secret-file"):
		secret, err := readSecret(c)
		if err != nil {
			return err
		}
		cl.Secret = []byte(secret)
	case adding && radsec:
		// RFC 6614 2.3: the shared secret over TLS is "radsec".
		cl.Secret = []byte("radsec")
	case adding:
		return errors.New("give exactly one of --secret and --secret-file")
	}
	if set("require-message-authenticator") {
		cl.RequireMessageAuthenticator = c.Bool("require-message-authenticator")
	}
	if set("nas-type") {
		cl.NASType = c.String("nas-type")
	}
	if c.IsSet("first-factor") {
		switch ff := c.String("first-factor"); ff {
		case "pin", "none":
			cl.FirstFactor = ""
		case "directory":
			cl.FirstFactor = ff
		default:
			return fmt.Errorf("--first-factor %q: want pin or directory", ff)
		}
	}
	for flag, field := range map[string]*string{"number-matching": &cl.NumberMatching, "user-verification": &cl.UserVerification} {
		if !set(flag) {
			continue
		}
		switch v := c.String(flag); v {
		case "on", "off":
			*field = v
		case "default":
			*field = ""
		default:
			return fmt.Errorf("--%s %q: want on, off or default", flag, v)
		}
	}
	if cl.NumberMatching == "on" && !(&radius.Client{NASType: cl.NASType}).ShowsChallenges() {
		return fmt.Errorf("--number-matching on: a %s NAS cannot show the number (it takes the Access-Challenge that carries it for a refusal)", cl.NASType)
	}
	if set("nas-timeout") {
		if d := c.Duration("nas-timeout"); d < 0 || d > time.Minute || (d > 0 && d < 100*time.Millisecond) {
			return fmt.Errorf("--nas-timeout %s: want 0 (the NAS type's default) or 100ms to 60s", d)
		}
		cl.NASTimeout = c.Duration("nas-timeout")
	}
	if set("nas-retries") {
		if n := c.Int("nas-retries"); n < 0 || n > 10 {
			return fmt.Errorf("--nas-retries %d: want 0 to 10", n)
		}
		cl.NASRetries = c.Int("nas-retries")
	}
	if c.Bool("radsec") && !c.IsSet("cert-cn") && !c.IsSet("cert-fingerprint") && !cl.RadSec() {
		return errors.New("--radsec: give --cert-cn CN or --cert-fingerprint sha256:HEX, what the NAS's certificate is known by")
	}
	if c.IsSet("cert-cn") {
		cl.CertCN = c.String("cert-cn")
	}
	if c.IsSet("cert-fingerprint") {
		fp := strings.ToLower(strings.ReplaceAll(c.String("cert-fingerprint"), ":", ""))
		fp = strings.Replace(fp, "sha256", "sha256:", 1)
		if !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+64 {
			return fmt.Errorf("--cert-fingerprint %q: want sha256: and 64 hex digits", c.String("cert-fingerprint"))
		}
		cl.CertFingerprint = fp
	}
	return nil
}

// certName is what a RadSec client is known by, for people.
func certName(cl store.Client) string {
	var parts []string
	if cl.CertCN != "" {
		parts = append(parts, "CN "+cl.CertCN)
	}
	if cl.CertFingerprint != "" {
		parts = append(parts, cl.CertFingerprint)
	}
	return strings.Join(parts, ", ")
}

// deadlineOf is the client's NAS deadline as the server applies it.
func deadlineOf(cl store.Client) (total, timeout time.Duration, retries int) {
	return (&radius.Client{NASType: cl.NASType, NASTimeout: cl.NASTimeout, NASRetries: cl.NASRetries}).Deadline()
}

// printDeadline says how long a push may take from this client.
func printDeadline(c *cli.Context, cl store.Client) {
	total, timeout, retries := deadlineOf(cl)
	how := "challenges to continue"
	if !(&radius.Client{NASType: cl.NASType}).ShowsChallenges() {
		how = "rejects saying the phone did not answer in time"
	}
	src := "its NAS type's default"
	if cl.NASTimeout > 0 {
		src = "--nas-timeout"
	}
	fmt.Fprintf(c.App.Writer, "the NAS waits %s (%s x %d tries, %s); a push the phone has not answered by then %s\n",
		total, timeout, retries+1, src, how)
}

func toClientJSON(c store.Client) clientJSON {
	nm := c.NumberMatching
	if nm == "" {
		nm = "default"
	}
	total, timeout, retries := deadlineOf(c)
	j := clientJSON{Name: c.Name, RequireMessageAuthenticator: c.RequireMessageAuthenticator,
		NASType: c.NASType, NumberMatching: nm, CreatedAt: c.CreatedAt, NASTimeout: timeout.String(), NASRetries: retries,
		NASDeadline: total.String(), RadSec: c.RadSec(), CertCN: c.CertCN, CertFingerprint: c.CertFingerprint}
	if c.Prefix.IsValid() {
		j.CIDR = c.Prefix.String()
	}
	return j
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
