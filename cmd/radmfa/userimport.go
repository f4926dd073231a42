package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/internal/mailer"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
)

// importRow is one user of a users CSV.
type importRow struct {
	line               int
	name, email, group string
	token              string // "", totp, hotp or push: enrolled by email
}

// readUsersCSV reads name,email,group[,token] rows (a header is
// recognised and skipped) and checks every one; all problems are returned
// at once.
func readUsersCSV(r io.Reader) ([]importRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var rows []importRow
	var errs []string
	seen := map[string]int{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if line == 1 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "name") {
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) < 1 || len(rec) > 4 {
			errs = append(errs, fmt.Sprintf("line %d: want name,email,group[,token]", line))
			continue
		}
		for len(rec) < 4 {
			rec = append(rec, "")
		}
		row := importRow{line: line, name: strings.TrimSpace(rec[0]), email: strings.TrimSpace(rec[1]), group: strings.TrimSpace(rec[2]),
			token: strings.ToLower(strings.TrimSpace(rec[3]))}
		if err := auth.ValidUserName(row.name); err != nil {
			errs = append(errs, fmt.Sprintf("line %d: %v", line, err))
		}
		if row.email != "" && (!strings.Contains(row.email, "@") || strings.ContainsAny(row.email, " \t")) {
			errs = append(errs, fmt.Sprintf("line %d: %q is not an email address", line, row.email))
		}
		switch row.token {
		case "", "totp", "hotp", "push":
		default:
			errs = append(errs, fmt.Sprintf("line %d: token %q: want totp, hotp, push or nothing", line, row.token))
		}
		if row.token != "" && row.email == "" {
			errs = append(errs, fmt.Sprintf("line %d: a token is enrolled by email: %s has no email address", line, row.name))
		}
		if prev, ok := seen[strings.ToLower(row.name)]; ok {
			errs = append(errs, fmt.Sprintf("line %d: %s is on line %d already", line, row.name, prev))
		}
		seen[strings.ToLower(row.name)] = line
		rows = append(rows, row)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return rows, nil
}

// userImport creates the users of a CSV file in one transaction (all or
// nothing), then enrolls the tokens the file asks for by email.
func userImport(c *cli.Context, e *env) error {
	if err := usage(c, 1, "FILE"); err != nil {
		return err
	}
	f, err := os.Open(c.Args().First())
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := readUsersCSV(io.LimitReader(f, 256<<20))
	if err != nil {
		return fmt.Errorf("%s: %w; nothing imported", c.Args().First(), err)
	}
	existing, err := e.store.Users(c.Context)
	if err != nil {
		return friendly(err)
	}
	have := map[string]bool{}
	for _, u := range existing {
		have[strings.ToLower(u.Name)] = true
	}
	var clash []string
	tokens := 0
	for _, r := range rows {
		if have[strings.ToLower(r.name)] {
			clash = append(clash, fmt.Sprintf("line %d: user %s exists", r.line, r.name))
		}
		if r.token != "" {
			tokens++
		}
	}
	if len(clash) > 0 {
		return fmt.Errorf("%s; nothing imported", strings.Join(clash, "; "))
	}
	var m *mailer.Mailer
	var pubURL string
	if tokens > 0 {
		// Checked before anything is written: an import that cannot send
		// its enrollments imports nothing.
		mm, err := newMailer(c)
		if err != nil {
			return fmt.Errorf("%w; nothing imported", err)
		}
		m = mm
		if pubURL, _, err = deviceAPIEndpoint(c, e.store); err != nil {
			return fmt.Errorf("%w; nothing imported", err)
		}
	}
	prog := &progress{tty: term.IsTerminal(int(os.Stderr.Fd()))}
	items := make([]store.BulkItem, len(rows))
	for i, r := range rows {
		items[i] = store.BulkItem{User: &store.User{Name: r.name, Email: r.email, Group: r.group}}
		prog.tick("checked")
	}
	prog.done()
	if err := e.store.Bulk(c.Context, e.by, "user.import", items); err != nil {
		return fmt.Errorf("%w; nothing imported", friendly(err))
	}
	fmt.Fprintf(c.App.Writer, "%d users imported\n", len(rows))
	var failed []string
	for _, r := range rows {
		if r.token == "" {
			continue
		}
		prog.tick("enrollment emails")
		var en auth.PushEnrolled
		var err error
		if r.token == auth.TypePush {
			en, err = e.auth.EnrollPush(c.Context, e.by, auth.PushEnrollRequest{User: r.name})
		} else {
			en, err = e.auth.EnrollSelf(c.Context, e.by, auth.SelfEnrollRequest{User: r.name,
				Params: otp.Params{Type: otp.Type(r.token), Algorithm: otp.SHA1, Digits: 6, Period: 30}})
		}
		if err == nil {
			err = sendEnrollmentQuiet(c, e, m, pubURL, r.email, r.name, en, r.token)
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r.name, err))
		}
	}
	prog.done()
	if tokens > 0 {
		fmt.Fprintf(c.App.Writer, "%d enrollment emails sent\n", tokens-len(failed))
	}
	if len(failed) > 0 {
		return fmt.Errorf("enrollment emails not sent (the users are imported; enroll them again): %s", strings.Join(failed, "; "))
	}
	return nil
}
