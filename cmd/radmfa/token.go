package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
)

// tokenJSON is how tokens appear in --json output. It never holds a seed.
type tokenJSON struct {
	Serial string `json:"serial"`
	User   string `json:"user,omitempty"`
	Type   string `json:"type"`
	Origin string `json:"origin"`
	State  string `json:"state"`
	// Locked and Expired are conditions of a token in its State: one
	// word for where the token is in its life, these for why it cannot
	// log in now.
	Locked      bool        `json:"locked,omitempty"`
	Expired     bool        `json:"expired,omitempty"`
	Algorithm   string      `json:"algorithm"`
	Digits      int         `json:"digits"`
	Period      int         `json:"period,omitempty"`
	Counter     *uint64     `json:"counter,omitempty"`
	Drift       int64       `json:"drift_steps"`
	PIN         bool        `json:"pin"`
	FailCount   int         `json:"fail_count"`
	LockedUntil *time.Time  `json:"locked_until,omitempty"`
	LastUsed    string      `json:"last_used,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
	Maker       string      `json:"manufacturer,omitempty"`
	Model       string      `json:"model,omitempty"`
	ValidFrom   string      `json:"valid_from,omitempty"`
	ValidUntil  string      `json:"valid_until,omitempty"`
	Description string      `json:"description,omitempty"`
	Device      *deviceJSON `json:"device,omitempty"` // push tokens: the phone
}

func toTokenJSON(t store.Token, now time.Time) tokenJSON {
	out := tokenJSON{Serial: t.Serial, User: t.User, Type: t.Type, Origin: t.Origin, State: string(t.State),
		Algorithm: t.Algorithm, Digits: t.Digits, Period: t.Period, Drift: t.Drift,
		PIN: t.HasPIN(), FailCount: t.FailCount, CreatedAt: t.CreatedAt}
	if t.Type == string(otp.HOTP) {
		c := t.Counter
		out.Counter = &c
	}
	if t.Locked(now) {
		out.Locked = true
		if t.LockedUntil != store.LockForever {
			lu := time.Unix(t.LockedUntil, 0).UTC()
			out.LockedUntil = &lu
		}
	}
	if !t.LastUsed.IsZero() {
		out.LastUsed = t.LastUsed.Format(time.RFC3339)
	}
	out.Maker, out.Model, out.Description = t.Manufacturer, t.Model, t.Description
	if !t.ValidFrom.IsZero() {
		out.ValidFrom = t.ValidFrom.UTC().Format(time.RFC3339)
	}
	if !t.ValidUntil.IsZero() {
		out.ValidUntil = t.ValidUntil.UTC().Format(time.RFC3339)
		if !t.Valid(now) && t.State.Usable() {
			out.Expired = true
		}
	}
	return out
}

// stateText is the token's state with its conditions: "active",
// "active, locked", "assigned, expired".
func (t tokenJSON) stateText() string {
	s := t.State
	if t.Locked {
		s += ", locked"
	}
	if t.Expired {
		s += ", expired"
	}
	return s
}

var tokenStates = []string{"inventory", "assigned", "active", "revoked", "locked"}

func tokenCommand() *cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	cmd := &cli.Command{
		Name:  "token",
		Usage: "manage tokens",
		Subcommands: []*cli.Command{
			{
				Name: "enroll", Usage: "create a soft token for a user and show its QR code", ArgsUsage: "USER",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "type", Value: "totp", Usage: "totp, hotp or push (a phone, enrolled with an activation code)"},
					&cli.IntFlag{Name: "digits", Value: 6, Usage: "6 or 8"},
					&cli.StringFlag{Name: "algorithm", Value: "SHA1", Usage: "SHA1, SHA256 or SHA512 (most apps only do SHA1)"},
					&cli.IntFlag{Name: "period", Value: 30, Usage: "TOTP period in seconds: 30 or 60"},
					&cli.StringFlag{Name: "pin", Usage: "PIN typed before the code (4-32 characters); prefer --pin-file"},
					&cli.StringFlag{Name: "pin-file", Usage: "read the PIN from this file ('-' for stdin)"},
					&cli.BoolFlag{Name: "no-qr", Usage: "do not draw the QR code"},
					&cli.StringFlag{Name: "qr-png", Usage: "also write the QR code to this new PNG file (0600: it holds the secret), for an enrollment letter or a helpdesk screen"},
					&cli.BoolFlag{Name: "email", Usage: "email the user a link to the self-enrollment page, where the activation code shows the token's QR code once (needs --smtp-addr and --smtp-from, and a running serve with --http-addr)"},
					&cli.StringFlag{Name: "to", Usage: "with --email: this address instead of the user's"},
					&cli.BoolFlag{Name: "code-separately", Usage: "with --email: the email carries only the link; the activation code is printed here, for another channel (as RSA recommends)"},
					jsonFlag,
				}, pushEnrollFlags()...),
				Action: withEnv(tokenEnroll),
			},
			{
				Name: "list", Usage: "list tokens",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "user", Usage: "only this user's tokens"},
					&cli.StringFlag{Name: "state", Usage: "only tokens in this state: " + strings.Join(tokenStates, ", ")},
					jsonFlag,
				},
				Action: withEnv(tokenList),
			},
			{
				Name: "show", Usage: "show a token (never its seed)", ArgsUsage: "SERIAL", Flags: []cli.Flag{jsonFlag},
				Action: withEnv(func(c *cli.Context, e *env) error {
					serial, err := serialArg(c, 1, "SERIAL")
					if err != nil {
						return err
					}
					t, err := e.store.Token(c.Context, serial)
					if err != nil {
						return friendly(err)
					}
					tj := toTokenJSON(t, time.Now())
					if tj.Device, err = tokenDevice(c.Context, e.store, t); err != nil {
						return friendly(err)
					}
					return printToken(c, tj)
				}),
			},
			{
				Name: "resync", Usage: "re-align a token from two consecutive codes", ArgsUsage: "SERIAL CODE1 CODE2",
				Flags: otpRuleFlags(),
				Action: withEnv(func(c *cli.Context, e *env) error {
					serial, err := serialArg(c, 3, "SERIAL CODE1 CODE2")
					if err != nil {
						return err
					}
					if _, err := e.auth.Resync(c.Context, e.by, serial, c.Args().Get(1), c.Args().Get(2)); err != nil {
						return friendly(err)
					}
					fmt.Fprintf(c.App.Writer, "token %s resynchronised\n", serial)
					return nil
				}),
			},
			tokenSimple("unlock", "clear a token's lock and failure count", func(c *cli.Context, e *env, s string) error {
				_, err := e.auth.Unlock(c.Context, e.by, s)
				return err
			}, "unlocked"),
			{
				Name: "set-pin", Usage: "set or clear a token's PIN", ArgsUsage: "SERIAL",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "pin", Usage: "the new PIN (4-32 characters); prefer --pin-file"},
					&cli.StringFlag{Name: "pin-file", Usage: "read the PIN from this file ('-' for stdin)"},
					&cli.BoolFlag{Name: "clear", Usage: "remove the PIN"},
				},
				Action: withEnv(func(c *cli.Context, e *env) error {
					serial, err := serialArg(c, 1, "SERIAL")
					if err != nil {
						return err
					}
					pin, err := readPIN(c)
					if err != nil {
						return err
					}
					if (pin == "") == !c.Bool("clear") {
						return errors.New("give exactly one of --pin/--pin-file and --clear")
					}
					if _, err := e.auth.SetPIN(c.Context, e.by, serial, pin); err != nil {
						return friendly(err)
					}
					if pin == "" {
						fmt.Fprintf(c.App.Writer, "token %s PIN cleared\n", serial)
					} else {
						fmt.Fprintf(c.App.Writer, "token %s PIN set\n", serial)
					}
					return nil
				}),
			},
			tokenSimple("revoke", "make a token unusable for good", func(c *cli.Context, e *env, s string) error {
				_, err := e.auth.Revoke(c.Context, e.by, s)
				return err
			}, "revoked"),
			tokenSimple("delete", "delete a token and its seed", func(c *cli.Context, e *env, s string) error {
				return e.store.DeleteToken(c.Context, e.by, s)
			}, "deleted"),
			{
				Name:      "check",
				Usage:     "authenticate USER with PASSWORD (PIN+code) as the server does; '-' reads the password from stdin. An accepted code is used up; a refusal counts towards no lockout unless --count",
				ArgsUsage: "USER PASSWORD",
				Flags: append(otpRuleFlags(), &cli.BoolFlag{Name: "count",
					Usage: "count a refusal towards the token's lock and the user's rate limit, as a login's would"}),
				Action: withEnv(func(c *cli.Context, e *env) error {
					if err := usage(c, 2, "USER PASSWORD"); err != nil {
						return err
					}
					pw := c.Args().Get(1)
					if pw == "-" {
						line, err := bufio.NewReader(os.Stdin).ReadString('\n')
						if err != nil && !errors.Is(err, io.EOF) {
							return fmt.Errorf("read password: %w", err)
						}
						pw = strings.TrimRight(line, "\r\n")
					}
					r := e.auth.Authenticate(c.Context, auth.Request{User: c.Args().First(), Password: pw, Actor: e.by, Client: "cli",
						Diagnostic: !c.Bool("count")})
					if r.Decision != auth.Accept {
						note := ""
						if !c.Bool("count") {
							note = "; not counted towards lockout or rate limits (--count to count it)"
						}
						fmt.Fprintf(c.App.Writer, "reject (%s)%s\n", r.Reason, note)
						return exitError{code: 1, msg: "authentication rejected"}
					}
					fmt.Fprintf(c.App.Writer, "accept (token %s)\n", r.Serial)
					return nil
				}),
			},
		},
	}
	cmd.Subcommands = append(cmd.Subcommands, inventoryCommands()...)
	return cmd
}

func serialArg(c *cli.Context, n int, args string) (string, error) {
	if err := usage(c, n, args); err != nil {
		return "", err
	}
	s := c.Args().First()
	return s, auth.ValidSerial(s)
}

func tokenSimple(name, help string, fn func(*cli.Context, *env, string) error, done string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: help, ArgsUsage: "SERIAL",
		Action: withEnv(func(c *cli.Context, e *env) error {
			serial, err := serialArg(c, 1, "SERIAL")
			if err != nil {
				return err
			}
			if err := fn(c, e, serial); err != nil {
				return friendly(err)
			}
			fmt.Fprintf(c.App.Writer, "token %s %s\n", serial, done)
			return nil
		}),
	}
}

// readPIN returns the PIN from --pin or --pin-file, or "".
func readPIN(c *cli.Context) (string, error) {
	if c.IsSet("pin") && c.String("pin") == "" {
		return "", errors.New("--pin is empty")
	}
	return flagOrFile(c, "pin", 1024)
}

// flagOrFile returns the value of --NAME, or of the file --NAME-file names
// ('-': stdin, at most max bytes) without its line end; "" when neither is
// given. Secrets belong in files: the command line is visible to others.
func flagOrFile(c *cli.Context, name string, max int64) (string, error) {
	if c.IsSet(name) && c.IsSet(name+"-file") {
		return "", fmt.Errorf("give --%s or --%s-file, not both", name, name)
	}
	f := c.String(name + "-file")
	if f == "" {
		return c.String(name), nil
	}
	var b []byte
	var err error
	if f == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, max))
	} else {
		b, err = os.ReadFile(f)
	}
	if err != nil {
		return "", fmt.Errorf("--%s-file: %w", name, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("--%s-file is empty", name)
	}
	return v, nil
}

func tokenEnroll(c *cli.Context, e *env) error {
	if err := usage(c, 1, "USER"); err != nil {
		return err
	}
	alg, err := otp.ParseAlgorithm(c.String("algorithm"))
	if err != nil {
		return fmt.Errorf("--algorithm %q: want SHA1, SHA256 or SHA512", c.String("algorithm"))
	}
	typ := otp.Type(strings.ToLower(c.String("type")))
	if typ == auth.TypePush {
		return tokenEnrollPush(c, e)
	}
	if typ != otp.TOTP && typ != otp.HOTP {
		return fmt.Errorf("--type %q: want totp, hotp or push", c.String("type"))
	}
	for _, f := range pushEnrollFlags() {
		if n := f.Names()[0]; c.IsSet(n) && n != "serial" && !(c.Bool("email") && strings.HasPrefix(n, "activation-")) {
			return fmt.Errorf("--%s is for --type push or --email", n)
		}
	}
	p := otp.Params{Type: typ, Algorithm: alg, Digits: c.Int("digits"), Period: c.Int("period")}
	if typ == otp.HOTP {
		p.Period = 0
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "otp: invalid token parameters: "))
	}
	pin, err := readPIN(c)
	if err != nil {
		return err
	}
	if c.Bool("email") {
		return tokenEnrollEmail(c, e, p, pin)
	}
	for _, f := range []string{"to", "code-separately"} {
		if c.IsSet(f) {
			return fmt.Errorf("--%s is for --email", f)
		}
	}
	req := auth.EnrollRequest{User: c.Args().First(), Params: p, PIN: pin}
	var en auth.Enrolled
	if serial := c.String("serial"); serial != "" {
		if err := auth.ValidSerial(serial); err != nil {
			return err
		}
		en, err = e.auth.EnrollInventory(c.Context, e.by, serial, req)
	} else {
		en, err = e.auth.Enroll(c.Context, e.by, req)
	}
	if err != nil {
		return friendly(err)
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, map[string]string{"serial": en.Token.Serial, "uri": en.URI})
	}
	w := c.App.Writer
	desc := fmt.Sprintf("%s, %s, %d digits", p.Type, p.Algorithm, p.Digits)
	if p.Type == otp.TOTP {
		desc += fmt.Sprintf(", %d s", p.Period)
	}
	if f := c.String("qr-png"); f != "" {
		if err := writeQRPNG(f, en.URI); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "Serial: %s\nUser:   %s\nType:   %s\nPIN:    %s\nURI:    %s\n", en.Token.Serial, en.Token.User, desc, yesNo(pin != ""), en.URI)
	fmt.Fprintln(w, "The URI holds the token's secret: do not store or mail it.")
	if f := c.String("qr-png"); f != "" {
		fmt.Fprintf(w, "QR code written to %s (it holds the secret too: delete it once used).\n", f)
	}
	if !c.Bool("no-qr") {
		// Last, so that an 80x24 terminal shows all of it.
		fmt.Fprintln(w, "Scan this QR code with the authenticator app:")
		return drawQR(w, en.URI)
	}
	return nil
}

func tokenList(c *cli.Context, e *env) error {
	if err := usage(c, 0, ""); err != nil {
		return err
	}
	f := store.TokenFilter{User: c.String("user")}
	state := c.String("state")
	lockedOnly := state == "locked"
	switch {
	case state == "" || lockedOnly:
	case slices.Contains(tokenStates, state):
		f.State = store.TokenState(state)
	default:
		return fmt.Errorf("--state %q: want one of %s", state, strings.Join(tokenStates, ", "))
	}
	if f.User != "" {
		if _, err := e.store.User(c.Context, f.User); err != nil {
			return friendly(err)
		}
	}
	toks, err := e.store.Tokens(c.Context, f)
	if err != nil {
		return friendly(err)
	}
	now := time.Now()
	out := make([]tokenJSON, 0, len(toks))
	for _, t := range toks {
		if lockedOnly && !t.Locked(now) {
			continue
		}
		out = append(out, toTokenJSON(t, now))
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, out)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tUSER\tTYPE\tORIGIN\tSTATE\tPIN\tFAILS\tLAST-USED")
	for _, t := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%d\t%s\n", t.Serial, dash(t.User), t.Type, t.Origin, t.stateText(), yesNo(t.PIN), t.FailCount, dash(t.LastUsed))
	}
	return tw.Flush()
}

func printToken(c *cli.Context, t tokenJSON) error {
	if c.Bool("json") {
		return writeJSON(c.App.Writer, t)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Serial:\t%s\nUser:\t%s\nType:\t%s\nOrigin:\t%s\nState:\t%s\nAlgorithm:\t%s\nDigits:\t%d\n",
		t.Serial, dash(t.User), t.Type, t.Origin, t.stateText(), t.Algorithm, t.Digits)
	if t.Period != 0 {
		fmt.Fprintf(tw, "Period:\t%d s\nDrift:\t%d steps\n", t.Period, t.Drift)
	}
	if t.Counter != nil {
		fmt.Fprintf(tw, "Next counter:\t%d\n", *t.Counter)
	}
	fmt.Fprintf(tw, "PIN:\t%s\nFailures:\t%d\n", yesNo(t.PIN), t.FailCount)
	if t.LockedUntil != nil {
		fmt.Fprintf(tw, "Locked until:\t%s\n", t.LockedUntil.Format(time.RFC3339))
	} else if t.Locked {
		fmt.Fprintf(tw, "Locked until:\tunlocked by an admin\n")
	}
	fmt.Fprintf(tw, "Last used:\t%s\nCreated:\t%s\n", dash(t.LastUsed), t.CreatedAt.Format(time.RFC3339))
	if t.Maker != "" || t.Model != "" {
		fmt.Fprintf(tw, "Manufacturer:\t%s\nModel:\t%s\n", dash(t.Maker), dash(t.Model))
	}
	if t.ValidFrom != "" || t.ValidUntil != "" {
		fmt.Fprintf(tw, "Valid:\t%s to %s\n", dash(t.ValidFrom), dash(t.ValidUntil))
	}
	if t.Description != "" {
		fmt.Fprintf(tw, "Description:\t%s\n", t.Description)
	}
	if d := t.Device; d != nil {
		fmt.Fprintf(tw, "Mobile app:\t\nTarget:\t%s\nDevice Type:\t%s\nApp version:\t%s\nPush OTP:\t%s\nDelivery:\t%s\nEnrolled:\t%s\nLast seen:\t%s\n",
			dash(d.Target), dash(d.DeviceType), dash(d.AppVersion), d.PushOTP, d.Delivery, dash(d.EnrolledAt), dash(d.LastSeen))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
