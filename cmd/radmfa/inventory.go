package main

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
)

func inventoryCommands() []*cli.Command {
	keyFlags := []cli.Flag{
		&cli.StringFlag{Name: "password", Usage: "PSKC password (PBKDF2); prefer --password-file"},
		&cli.StringFlag{Name: "password-file", Usage: "read the PSKC password from this file ('-' for stdin)"},
		&cli.StringFlag{Name: "key-file", Usage: "file holding the pre-shared key in hex (16 bytes for AES-128)"},
	}
	return []*cli.Command{
		{
			Name: "import", Usage: "import hardware tokens into the inventory from a PSKC file (RFC 6030) or a seed CSV; all or nothing",
			ArgsUsage: "FILE",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "format", Value: "auto", Usage: "pskc, csv (serial,secret,type,digits,period_or_counter) or auto"},
				&cli.StringFlag{Name: "private-key", Usage: "PEM RSA private key, for PSKC files encrypted to your certificate"},
				&cli.BoolFlag{Name: "dry-run", Usage: "check everything, write nothing"},
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			}, keyFlags...),
			Action: withEnv(tokenImport),
		},
		{
			Name: "export", Usage: "export tokens with their seeds to an encrypted PSKC file (migration to another server)",
			ArgsUsage: "FILE",
			Flags: append([]cli.Flag{
				&cli.StringSliceFlag{Name: "serial", Usage: "export these tokens (repeatable; default: every token with a seed that is not revoked)"},
				&cli.StringFlag{Name: "state", Usage: "only tokens in this state"},
			}, keyFlags...),
			Action: withEnv(tokenExport),
		},
		{
			Name: "assign", Usage: "hand an inventory (hardware) token to a user", ArgsUsage: "SERIAL USER",
			Action: withEnv(func(c *cli.Context, e *env) error {
				serial, err := serialArg(c, 2, "SERIAL USER")
				if err != nil {
					return err
				}
				if _, err := e.auth.Assign(c.Context, e.by, serial, c.Args().Get(1)); err != nil {
					return friendly(err)
				}
				fmt.Fprintf(c.App.Writer, "token %s assigned to %s\n", serial, c.Args().Get(1))
				return nil
			}),
		},
		tokenSimple("unassign", "take a hardware token back into the inventory (seed and counter kept, PIN cleared)", func(c *cli.Context, e *env, s string) error {
			_, err := e.auth.Unassign(c.Context, e.by, s)
			return err
		}, "back in the inventory"),
		tokenSimple("return", "put a revoked soft or push token back into the inventory, its seed and phone binding destroyed", func(c *cli.Context, e *env, s string) error {
			_, err := e.auth.Return(c.Context, e.by, s)
			return err
		}, "returned to the inventory (seed destroyed; enroll it anew with token enroll USER --serial SERIAL)"),
		{
			Name: "lost", Usage: "revoke a lost token; with --replacement, enroll a temporary TOTP token for its user", ArgsUsage: "SERIAL",
			Flags: []cli.Flag{
				&cli.DurationFlag{Name: "replacement", Usage: "issue a temporary replacement valid this long (e.g. 72h)"},
				&cli.BoolFlag{Name: "no-qr", Usage: "do not draw the QR code"},
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			},
			Action: withEnv(func(c *cli.Context, e *env) error {
				serial, err := serialArg(c, 1, "SERIAL")
				if err != nil {
					return err
				}
				t, en, err := e.auth.Lost(c.Context, e.by, serial, c.Duration("replacement"))
				if err != nil {
					return friendly(err)
				}
				if c.Bool("json") {
					out := map[string]string{"revoked": serial, "user": t.User}
					if en != nil {
						out["replacement"], out["uri"] = en.Token.Serial, en.URI
						out["valid_until"] = en.Token.ValidUntil.UTC().Format(time.RFC3339)
					}
					return writeJSON(c.App.Writer, out)
				}
				fmt.Fprintf(c.App.Writer, "token %s revoked (reported lost by %s)\n", serial, t.User)
				if en != nil {
					fmt.Fprintf(c.App.Writer, "temporary replacement %s for %s, valid until %s\nURI: %s\n", en.Token.Serial, t.User,
						en.Token.ValidUntil.UTC().Format(time.RFC3339), en.URI)
					if !c.Bool("no-qr") {
						return drawQR(c.App.Writer, en.URI)
					}
				}
				return nil
			}),
		},
	}
}

// readPSKCKeys returns the pre-shared key and password the flags give.
func readPSKCKeys(c *cli.Context) (psk []byte, password string, err error) {
	if password, err = flagOrFile(c, "password", 4096); err != nil {
		return nil, "", err
	}
	if f := c.String("key-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, "", fmt.Errorf("--key-file: %w", err)
		}
		psk, err = hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || (len(psk) != 16 && len(psk) != 24 && len(psk) != 32) {
			return nil, "", fmt.Errorf("--key-file %s: want 16, 24 or 32 bytes in hex", f)
		}
	}
	if psk != nil && password != "" {
		return nil, "", errors.New("give a password or a key file, not both")
	}
	return psk, password, nil
}

// progress draws a counter on a terminal's stderr.
type progress struct {
	tty  bool
	n    int
	last time.Time
}

func (p *progress) tick(what string) {
	p.n++
	if p.tty && time.Since(p.last) > 100*time.Millisecond {
		fmt.Fprintf(os.Stderr, "\r%s: %d", what, p.n)
		p.last = time.Now()
	}
}

func (p *progress) done() {
	if p.tty && p.n > 0 {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}

func tokenImport(c *cli.Context, e *env) error {
	if err := usage(c, 1, "FILE"); err != nil {
		return err
	}
	psk, password, err := readPSKCKeys(c)
	if err != nil {
		return err
	}
	path := c.Args().First()
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	format := c.String("format")
	if format == "auto" {
		head, _ := br.Peek(512)
		head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
		format = "csv"
		if bytes.HasPrefix(head, []byte("<")) || strings.EqualFold(filepath.Ext(path), ".xml") || strings.EqualFold(filepath.Ext(path), ".pskcxml") {
			format = "pskc"
		}
	}
	prog := &progress{tty: term.IsTerminal(int(os.Stderr.Fd()))}
	var keys []otp.PSKCKey
	var problems []auth.ImportProblem
	switch format {
	case "pskc":
		var rsaKey *rsa.PrivateKey
		if f := c.String("private-key"); f != "" {
			if rsaKey, err = loadRSAKey(f); err != nil {
				return err
			}
		}
		err = otp.ReadPSKC(br, otp.PSKCOptions{PreSharedKey: psk, Password: password, PrivateKey: rsaKey}, func(k otp.PSKCKey) error {
			keys = append(keys, k)
			prog.tick("read")
			return nil
		})
		var pe *otp.PSKCError
		if errors.As(err, &pe) {
			problems, err = pe.Problems, nil
		}
	case "csv":
		if psk != nil || password != "" {
			return errors.New("a seed CSV is not encrypted: --password and --key-file are for PSKC")
		}
		keys, problems, err = readSeedCSV(br, prog)
	default:
		return fmt.Errorf("--format %q: want pskc, csv or auto", format)
	}
	prog.done()
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	res, err := e.auth.ImportKeys(c.Context, e.by, "token.import", keys, problems, c.Bool("dry-run"))
	var ie *auth.ImportError
	if errors.As(err, &ie) && c.Bool("json") {
		writeJSON(c.App.Writer, map[string]any{"imported": 0, "problems": ie.Problems})
		return exitError{code: 1, msg: fmt.Sprintf("import refused, nothing imported: %d problem(s)", len(ie.Problems))}
	}
	if err != nil {
		return friendly(err)
	}
	verb, note := "imported", ""
	if c.Bool("dry-run") {
		verb, note = "would import", " (dry run: nothing written)"
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, map[string]any{"imported": res.Tokens, "by_type": res.ByType, "dry_run": c.Bool("dry-run")})
	}
	fmt.Fprintf(c.App.Writer, "%s %d tokens into the inventory (hotp %d, totp %d)%s\n", verb, res.Tokens, res.ByType["hotp"], res.ByType["totp"], note)
	return nil
}

// loadRSAKey reads a PEM RSA private key (PKCS#1 or PKCS#8).
func loadRSAKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--private-key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("--private-key %s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if rk, ok := k.(*rsa.PrivateKey); err == nil && ok {
		return rk, nil
	}
	return nil, fmt.Errorf("--private-key %s: not an RSA private key", path)
}

// readSeedCSV reads serial,secret,type,digits,period_or_counter lines (a
// header line is optional; the secret is hex or base32). The separator is
// a comma, a semicolon (what spreadsheets write where the comma is the
// decimal mark) or a tab, whichever the first line uses. A problem names
// the line and the serial, never the line itself: it holds a secret.
func readSeedCSV(r io.Reader, prog *progress) ([]otp.PSKCKey, []auth.ImportProblem, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("CSV: %w", err)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = csvSeparator(data)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	var keys []otp.PSKCKey
	var problems []auth.ImportProblem
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("CSV: %w", err)
		}
		id := fmt.Sprintf("line %d", line)
		if line == 1 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "serial") {
			continue
		}
		if len(rec) > 0 && auth.ValidSerial(strings.TrimSpace(rec[0])) == nil {
			id += " (" + strings.TrimSpace(rec[0]) + ")"
		}
		if len(rec) != 5 {
			problems = append(problems, auth.ImportProblem{KeyID: id, Msg: fmt.Sprintf("%d fields, want serial,secret,type,digits,period_or_counter", len(rec))})
			continue
		}
		k, err := csvKey(rec)
		if err != nil {
			problems = append(problems, auth.ImportProblem{KeyID: id, Msg: err.Error()})
			continue
		}
		k.KeyID = id
		keys = append(keys, k)
		prog.tick("read")
	}
	if len(keys) == 0 && len(problems) == 0 {
		problems = append(problems, auth.ImportProblem{Msg: "the file holds no tokens"})
	}
	return keys, problems, nil
}

func csvKey(rec []string) (otp.PSKCKey, error) {
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	k := otp.PSKCKey{Serial: rec[0]}
	sec, err := decodeSeed(rec[1])
	if err != nil {
		return k, err
	}
	k.Secret = sec
	digits, err := strconv.Atoi(rec[3])
	if err != nil {
		return k, fmt.Errorf("digits %q is not a number", rec[3])
	}
	n, err := strconv.ParseUint(rec[4], 10, 63)
	if err != nil {
		return k, fmt.Errorf("period_or_counter %q is not a number", rec[4])
	}
	k.Params = otp.Params{Type: otp.Type(strings.ToLower(rec[2])), Algorithm: otp.SHA1, Digits: digits}
	switch k.Params.Type {
	case otp.TOTP:
		k.Params.Period = int(n)
	case otp.HOTP:
		k.Counter = n
	default:
		return k, fmt.Errorf("type %q: want totp or hotp", rec[2])
	}
	if err := k.Params.Validate(); err != nil {
		return k, errors.New(strings.TrimPrefix(err.Error(), "otp: "))
	}
	return k, nil
}

// decodeSeed reads a secret in hex or base32 (never echoed in errors).
func decodeSeed(s string) ([]byte, error) {
	if len(s)%2 == 0 && len(s) >= 2 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	b, err := otp.DecodeSecret(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("secret is neither hex nor base32")
	}
	if len(b) > 128 {
		return nil, errors.New("secret longer than 128 bytes")
	}
	return b, nil
}

func tokenExport(c *cli.Context, e *env) error {
	if err := usage(c, 1, "FILE"); err != nil {
		return err
	}
	psk, password, err := readPSKCKeys(c)
	if err != nil {
		return err
	}
	if psk == nil && password == "" {
		return errors.New("an export holds every seed: give --password-file or --key-file to encrypt it")
	}
	if psk != nil && len(psk) != 16 {
		return errors.New("--key-file: export uses AES-128: 16 bytes")
	}
	var serials []string
	if s := c.StringSlice("serial"); len(s) > 0 {
		serials = s
	} else {
		f := store.TokenFilter{State: store.TokenState(c.String("state"))}
		toks, err := e.store.Tokens(c.Context, f)
		if err != nil {
			return friendly(err)
		}
		for _, t := range toks {
			if t.State != store.StateRevoked {
				serials = append(serials, t.Serial)
			}
		}
	}
	var keys []otp.PSKCKey
	for _, s := range serials {
		t, err := e.store.Token(c.Context, s)
		if err != nil {
			return friendly(err)
		}
		if t.Seed == nil || t.State == store.StateRevoked {
			if len(c.StringSlice("serial")) > 0 {
				return fmt.Errorf("token %s has no usable seed to export", s)
			}
			continue
		}
		typ := otp.Type(t.Type)
		if t.Type == auth.TypePush {
			typ = otp.TOTP // its TOTP side; the phone binding does not move
		}
		keys = append(keys, otp.PSKCKey{Serial: t.Serial, Manufacturer: t.Manufacturer, Model: t.Model, Issuer: c.String("issuer"),
			UserID: t.User, Secret: t.Seed, Counter: t.Counter, Drift: t.Drift, NotBefore: t.ValidFrom, NotAfter: t.ValidUntil,
			Params: otp.Params{Type: typ, Algorithm: otp.Algorithm(t.Algorithm), Digits: t.Digits, Period: t.Period}})
	}
	out, err := os.OpenFile(c.Args().First(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("export: %w (the file must not exist)", err)
	}
	if err := otp.WritePSKC(out, keys, otp.PSKCEncryption{PreSharedKey: psk, Password: password}); err != nil {
		out.Close()
		os.Remove(c.Args().First())
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := e.store.Audit(c.Context, store.AuditEvent{Actor: e.by, Action: "token.export", Result: "ok",
		Detail: fmt.Sprintf("%d tokens to %s", len(keys), filepath.Base(c.Args().First()))}); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "exported %d tokens to %s (encrypted; mode 0600)\n", len(keys), c.Args().First())
	return nil
}

// csvSeparator is the separator of a seed CSV: of comma, semicolon and
// tab, the one its first line (not a comment) has most of; a comma when
// it has none.
func csvSeparator(data []byte) rune {
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		best, n := ',', bytes.Count(line, []byte(","))
		for _, sep := range []rune{';', '\t'} {
			if c := bytes.Count(line, []byte(string(sep))); c > n {
				best, n = sep, c
			}
		}
		return best
	}
	return ','
}
