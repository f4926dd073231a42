package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/internal/mailer"
	"github.com/radmfa/radmfa/otp"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/web"
)

// enrollMail is the enrollment email's text: the link to the
// self-enrollment page and, unless it goes another way, the activation
// code. Never the token's secret.
func enrollMail(issuer, user, link, code string, expires time.Time, push bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n", user)
	if push {
		fmt.Fprintf(&b, "you can now approve %s logins on your phone. Open this link on the phone you will\n"+
			"approve logins with (on a computer, the page shows a QR code to scan with the phone):\n\n    %s\n\n", issuer, link)
	} else {
		fmt.Fprintf(&b, "a sign-in token for %s is waiting for you. Open this link on your phone or computer:\n\n    %s\n\n", issuer, link)
	}
	if code != "" {
		fmt.Fprintf(&b, "and enter this activation code there:\n\n    %s\n\n", code)
	} else {
		b.WriteString("Your administrator gives you the activation code another way.\n\n")
	}
	if push {
		fmt.Fprintf(&b, "The page installs the authenticator (add it to the home screen on iPhone) and asks to show\n"+
			"notifications: allow them, so that login requests reach you. The code works once, until %s.\n\n", expires.UTC().Format("2006-01-02 15:04 MST"))
	} else {
		fmt.Fprintf(&b, "The page shows a QR code to scan with an authenticator app (Google Authenticator, Microsoft\n"+
			"Authenticator, FreeOTP, ...). The code works once, until %s.\n\n", expires.UTC().Format("2006-01-02 15:04 MST"))
	}
	b.WriteString("If you did not expect this email, tell your administrator and do not open the link.\n")
	return b.String()
}

// tokenEnrollEmail creates a token that waits for the user's
// self-enrollment and emails them the link.
func tokenEnrollEmail(c *cli.Context, e *env, p otp.Params, pin string) error {
	if c.IsSet("serial") {
		return errors.New("--serial and --email: an emailed enrollment makes a new token")
	}
	if c.IsSet("qr-png") {
		return errors.New("--qr-png and --email: the QR code is shown on the enrollment page, once")
	}
	r, err := enrollmentRecipient(c, e, c.Args().First())
	if err != nil {
		return err
	}
	en, err := e.auth.EnrollSelf(c.Context, e.by, auth.SelfEnrollRequest{User: r.user, Params: p, PIN: pin,
		Lifetime: c.Duration("activation-lifetime"), CodeLength: c.Int("activation-length")})
	if err != nil {
		return friendly(err)
	}
	return sendEnrollment(c, e, r.m, r.pubURL, r.to, r.user, en, string(p.Type))
}

// recipient is where an emailed enrollment goes, and how.
type recipient struct {
	m      *mailer.Mailer
	pubURL string // the device API's address, for the link
	to     string
	user   string // the user's name as stored
}

// enrollmentRecipient checks the mail settings and finds where an
// enrollment for the user goes.
func enrollmentRecipient(c *cli.Context, e *env, user string) (recipient, error) {
	m, err := newMailer(c)
	if err != nil {
		return recipient{}, err
	}
	pubURL, _, err := deviceAPIEndpoint(c, e.store)
	if err != nil {
		return recipient{}, err
	}
	u, err := e.store.User(c.Context, user)
	if err != nil {
		return recipient{}, friendly(err)
	}
	to := c.String("to")
	if to == "" {
		to = u.Email
	}
	if to == "" {
		return recipient{}, fmt.Errorf("user %s has no email address: give --to ADDRESS", u.Name)
	}
	return recipient{m: m, pubURL: pubURL, to: to, user: u.Name}, nil
}

// sendEnrollment emails the link to an enrollment waiting on the
// self-enrollment page (and its code, unless --code-separately), and
// prints the link. A token whose email did not go out is removed.
func sendEnrollment(c *cli.Context, e *env, m *mailer.Mailer, pubURL, to, user string, en auth.PushEnrolled, kind string) error {
	link, err := deliverEnrollment(c, e, m, pubURL, to, user, en, kind)
	if err != nil {
		return err
	}
	separately := c.Bool("code-separately")
	if c.Bool("json") {
		out := map[string]string{"serial": en.Token.Serial, "enroll_url": link, "sent_to": to, "expires": en.Expires.UTC().Format(time.RFC3339)}
		if separately {
			out["activation_code"] = en.Code
		}
		return writeJSON(c.App.Writer, out)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "Serial:  %s\nUser:    %s\nType:    %s, waiting for the user's self-enrollment\nSent to: %s\nLink:    %s\nExpires: %s\n",
		en.Token.Serial, user, kind, to, link, en.Expires.UTC().Format(time.RFC3339))
	if separately {
		fmt.Fprintf(w, "Activation code (give it to the user another way, e.g. by phone): %s\n", en.Code)
	}
	return nil
}

// sendEnrollmentQuiet is sendEnrollment printing nothing (an import).
func sendEnrollmentQuiet(c *cli.Context, e *env, m *mailer.Mailer, pubURL, to, user string, en auth.PushEnrolled, kind string) error {
	_, err := deliverEnrollment(c, e, m, pubURL, to, user, en, kind)
	return err
}

// deliverEnrollment emails an enrollment's link (and its code, unless
// --code-separately) and audits it; a token whose email did not go out is
// removed.
func deliverEnrollment(c *cli.Context, e *env, m *mailer.Mailer, pubURL, to, user string, en auth.PushEnrolled, kind string) (string, error) {
	link := pubURL + web.PathEnroll + "?serial=" + url.QueryEscape(en.Token.Serial)
	code := en.Code
	if c.Bool("code-separately") {
		code = ""
	}
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()
	if err := m.Send(ctx, to, "Set up your sign-in token", enrollMail(c.String("issuer"), user, link, code, en.Expires, kind == auth.TypePush)); err != nil {
		// Nobody can enroll a token whose email did not go out.
		if derr := e.store.DeleteToken(context.WithoutCancel(c.Context), e.by, en.Token.Serial); derr != nil {
			return "", fmt.Errorf("%w (and token %s could not be removed: %v)", err, en.Token.Serial, derr)
		}
		return "", err
	}
	if err := e.store.Audit(c.Context, store.AuditEvent{Actor: e.by, Action: "token.enroll_email", User: user,
		Serial: en.Token.Serial, Result: "sent", Detail: "to=" + to}); err != nil {
		return "", friendly(err)
	}
	return link, nil
}
