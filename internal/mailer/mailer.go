// Package mailer sends radmfa's emails (enrollment links) over SMTP with
// github.com/wneessen/go-mail: STARTTLS, implicit TLS or none, and SMTP
// authentication when a user is given.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Config is where mail goes out.
type Config struct {
	Addr         string // host:port of the SMTP server
	From         string // the sender address
	User         string // SMTP user; "" for none
	PasswordFile string // the SMTP password, in a file
	// TLS is "starttls" (required), "implicit" (TLS from the first byte,
	// port 465) or "none" (a relay on the same host only).
	TLS string
}

// Mailer sends mail.
type Mailer struct {
	cfg      Config
	host     string
	port     int
	password string
}

// New checks cfg and reads its password.
func New(cfg Config) (*Mailer, error) {
	if cfg.Addr == "" || cfg.From == "" {
		return nil, errors.New("mail: --smtp-addr and --smtp-from are needed to send email")
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mail: --smtp-addr %q: want host:port", cfg.Addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("mail: --smtp-addr %q: bad port", cfg.Addr)
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("mail: --smtp-from %q is not an email address", cfg.From)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = "starttls"
	case "starttls", "implicit", "none":
	default:
		return nil, fmt.Errorf("mail: --smtp-tls %q: want starttls, implicit or none", cfg.TLS)
	}
	m := &Mailer{cfg: cfg, host: host, port: p}
	if cfg.User != "" {
		if cfg.PasswordFile == "" {
			return nil, errors.New("mail: --smtp-user needs --smtp-password-file")
		}
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("mail: --smtp-password-file: %w", err)
		}
		m.password = strings.TrimRight(string(b), "\r\n")
	}
	return m, nil
}

// Send sends one plain-text message to one recipient.
func (m *Mailer) Send(ctx context.Context, to, subject, body string) error {
	if _, err := mail.ParseAddress(to); err != nil {
		return fmt.Errorf("mail: %q is not an email address", to)
	}
	msg := gomail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(to); err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(subject)
	msg.SetBodyString(gomail.TypeTextPlain, body)
	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTimeout(20 * time.Second)}
	switch m.cfg.TLS {
	case "starttls":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSMandatory))
	case "implicit":
		opts = append(opts, gomail.WithSSLPort(false))
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if m.cfg.User != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(m.cfg.User), gomail.WithPassword(m.password))
	}
	c, err := gomail.NewClient(m.host, opts...)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: sending to %s through %s: %w", to, m.cfg.Addr, err)
	}
	return nil
}
