// Command radmfa-device is the reference phone: it enrolls a push token
// from an enrollment URI, lists and answers push requests, shows its
// history and computes the token's codes. It speaks only the public device
// API, as an authenticator app does; use it for tests, demos and to check a
// server from an admin's desk.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/internal/cliargs"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/push"
)

func main() {
	// Flags may follow arguments, as with radmfa: approve ID --number 42.
	app := newApp(os.Stdout, os.Stderr)
	if err := cliargs.Run(context.Background(), app, os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "radmfa-device: %v\n", err)
		os.Exit(1)
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	// A fresh flag for every command: urfave/cli writes what it parsed
	// into the flag structs.
	jsonFlag := func() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON"} }
	return &cli.App{
		Name:      "radmfa-device",
		Usage:     "the reference radmfa phone: enroll, answer pushes, show codes",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state", Value: "radmfa-device.json", Usage: "file holding the device's keys and seed (0600)", EnvVars: []string{"RADMFA_DEVICE_STATE"}},
			&cli.StringFlag{Name: "server", Usage: "device API URL to talk to (default: the one enrolled with); another instance of the same installation, which must present the same certificate", EnvVars: []string{"RADMFA_DEVICE_SERVER"}},
		},
		Commands: []*cli.Command{
			{
				Name: "enroll", Usage: "activate the push token of an enrollment URI", ArgsUsage: "URI",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "os", Value: "radmfa-device", Usage: "OS name reported (Target)"},
					&cli.StringFlag{Name: "os-version", Value: "1"},
					&cli.StringFlag{Name: "model", Value: "reference device", Usage: "device model reported (Device Type)"},
					&cli.StringFlag{Name: "app-version", Value: "1.0"},
					&cli.StringFlag{Name: "apns-token", Usage: "APNs device token (hex); none: the device polls"},
					&cli.BoolFlag{Name: "no-notifications", Usage: "report that the user did not allow notifications"},
				},
				Action: enroll,
			},
			{Name: "pending", Usage: "list pending push requests", Flags: []cli.Flag{jsonFlag()}, Action: pending},
			{
				Name: "approve", Usage: "approve a push request", ArgsUsage: "ID",
				Flags:  []cli.Flag{&cli.IntFlag{Name: "number", Usage: "the number the login prompt shows (number matching)"}},
				Action: answer(push.DecisionApprove),
			},
			{
				Name: "deny", Usage: "deny a push request", ArgsUsage: "ID",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "fraud", Usage: "report the request as fraud (locks push for the user)"}},
				Action: answer(push.DecisionDeny),
			},
			{
				Name: "otp", Usage: "print the current code",
				Flags:  []cli.Flag{&cli.Int64Flag{Name: "time", Usage: "Unix time to compute the code for (default now)"}},
				Action: code,
			},
			{Name: "history", Usage: "list past push requests", Flags: []cli.Flag{jsonFlag()}, Action: history},
		},
	}
}

func loadState(c *cli.Context) (*push.Client, error) {
	b, err := os.ReadFile(c.String("state"))
	if err != nil {
		return nil, fmt.Errorf("state: %w (enroll first)", err)
	}
	var st push.DeviceState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state %s: %w", c.String("state"), err)
	}
	if st.Serial == "" || len(st.SignKey) == 0 {
		return nil, fmt.Errorf("state %s: not an enrolled device", c.String("state"))
	}
	if srv := c.String("server"); srv != "" {
		if !strings.HasPrefix(srv, "https://") {
			return nil, fmt.Errorf("--server %q: want an https:// URL", srv)
		}
		st.URL = strings.TrimSuffix(srv, "/")
	}
	return push.NewClient(st), nil
}

func saveState(path string, st push.DeviceState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func ctx(c *cli.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Context, 30*time.Second)
}

func enroll(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("usage: radmfa-device enroll URI")
	}
	if _, err := os.Stat(c.String("state")); err == nil {
		return fmt.Errorf("state %s exists: this device is enrolled already (use another --state)", c.String("state"))
	}
	ctx, cancel := ctx(c)
	defer cancel()
	cl, err := push.Enroll(ctx, c.Args().First(), push.DeviceInfo{OS: c.String("os"), OSVersion: c.String("os-version"),
		Model: c.String("model"), AppVersion: c.String("app-version"), Notifications: !c.Bool("no-notifications")},
		c.String("apns-token"))
	if err != nil {
		return err
	}
	if err := saveState(c.String("state"), cl.State); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "enrolled token %s for %s at %s\n", cl.State.Serial, cl.State.User, cl.State.URL)
	return nil
}

func pending(c *cli.Context) error {
	cl, err := loadState(c)
	if err != nil {
		return err
	}
	ctx, cancel := ctx(c)
	defer cancel()
	reqs, err := cl.Pending(ctx)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(reqs)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tCLIENT\tFROM\tWHERE\tEXPIRES\tNUMBERS")
	for _, r := range reqs {
		nums := "-"
		if len(r.Numbers) > 0 {
			s := make([]string, len(r.Numbers))
			for i, n := range r.Numbers {
				s[i] = strconv.Itoa(n)
			}
			nums = strings.Join(s, " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.User, r.Client, dash(r.CallingStation), dash(r.Location),
			time.UnixMilli(r.Expires).Format(time.TimeOnly), nums)
	}
	return tw.Flush()
}

func answer(decision string) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != 1 {
			return fmt.Errorf("usage: radmfa-device %s ID", c.Command.Name)
		}
		cl, err := loadState(c)
		if err != nil {
			return err
		}
		if decision == push.DecisionDeny && c.Bool("fraud") {
			decision = push.DecisionFraud
		}
		ctx, cancel := ctx(c)
		defer cancel()
		res, err := cl.Answer(ctx, c.Args().First(), decision, c.Int("number"))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "%s: %s\n", c.Args().First(), res)
		return nil
	}
}

func code(c *cli.Context) error {
	cl, err := loadState(c)
	if err != nil {
		return err
	}
	st := cl.State
	alg, err := otp.ParseAlgorithm(st.Algorithm)
	if err != nil {
		return err
	}
	t := time.Now().Unix()
	if c.IsSet("time") {
		t = c.Int64("time")
	}
	p := otp.Params{Type: otp.TOTP, Algorithm: alg, Digits: st.Digits, Period: st.Period}
	fmt.Fprintln(c.App.Writer, otp.Code(st.Seed, uint64(otp.Step(t, st.Period)), p))
	return nil
}

func history(c *cli.Context) error {
	cl, err := loadState(c)
	if err != nil {
		return err
	}
	ctx, cancel := ctx(c)
	defer cancel()
	entries, err := cl.History(ctx)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(entries)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tRESULT\tDETAILS")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", time.UnixMilli(e.Time).Format(time.RFC3339), e.Result, e.Details)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
