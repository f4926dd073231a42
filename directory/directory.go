// Package directory reads users from LDAP directories (Active Directory,
// OpenLDAP) with github.com/go-ldap/ldap/v3, syncs them into the store,
// and checks directory passwords by binding as the user. The URLs of a
// directory are tried in order: the second is used when the first is
// down.
package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/radmfa/radmfa/store"
)

// Errors callers branch on.
var (
	// ErrUnreachable: no URL of the directory answered.
	ErrUnreachable = errors.New("directory: unreachable")
	// ErrBadPassword: the directory refused the user's password (or
	// knows no such user).
	ErrBadPassword = errors.New("directory: wrong password")
)

// Timeout bounds each connection and operation.
const Timeout = 5 * time.Second

// pageSize is how many entries one page of a paged search (RFC 2696)
// holds: a directory of 100,000 users is read in 200 round trips.
const pageSize = 500

// Entry is a user as the directory has them.
type Entry struct {
	DN       string
	Login    string
	Email    string
	Groups   []string // group DNs (memberOf)
	Disabled bool     // Active Directory's userAccountControl ACCOUNTDISABLE (bit 2)
}

// tlsConfig is the TLS of a directory's connections: its CA when given,
// else the system's; TLS 1.2 or later.
func tlsConfig(d store.Directory, host string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if len(d.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(d.CACert) {
			return nil, fmt.Errorf("directory %s: the CA file holds no PEM certificate", d.Name)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// dial connects to the first URL of d that answers (with StartTLS when
// asked) and binds as dn with password.
func dial(ctx context.Context, d store.Directory, dn, password string) (*ldap.Conn, error) {
	var errs []error
	for _, raw := range d.URLs {
		if ctx.Err() != nil {
			break
		}
		u, err := url.Parse(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tc, err := tlsConfig(d, u.Hostname())
		if err != nil {
			return nil, err
		}
		c, err := ldap.DialURL(raw, ldap.DialWithDialer(&net.Dialer{Timeout: Timeout}), ldap.DialWithTLSConfig(tc))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", raw, err))
			continue
		}
		c.SetTimeout(Timeout)
		if d.StartTLS && u.Scheme == "ldap" {
			if err := c.StartTLS(tc); err != nil {
				c.Close()
				errs = append(errs, fmt.Errorf("%s: StartTLS: %w", raw, err))
				continue
			}
		}
		if err := c.Bind(dn, password); err != nil {
			c.Close()
			if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return nil, ErrBadPassword
			}
			errs = append(errs, fmt.Errorf("%s: bind: %w", raw, err))
			continue
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
}

// filter is the search filter of d's users, and of one login when login
// is not "".
func filter(d store.Directory, login string) string {
	f := d.UserFilter
	if f == "" {
		f = "(objectClass=person)"
	}
	if !strings.HasPrefix(f, "(") {
		f = "(" + f + ")"
	}
	who := "(" + d.LoginAttr + "=*)"
	if login != "" {
		who = "(" + d.LoginAttr + "=" + ldap.EscapeFilter(login) + ")"
	}
	return "(&" + f + who + ")"
}

func (e *Entry) fill(d store.Directory, le *ldap.Entry) {
	e.DN = le.DN
	e.Login = le.GetAttributeValue(d.LoginAttr)
	if d.EmailAttr != "" {
		e.Email = le.GetAttributeValue(d.EmailAttr)
	}
	if d.GroupAttr != "" {
		e.Groups = le.GetAttributeValues(d.GroupAttr)
	}
	if uac, err := strconv.ParseInt(le.GetAttributeValue("userAccountControl"), 10, 64); err == nil && uac&2 != 0 {
		e.Disabled = true
	}
}

// Users reads every user of d in one paged search.
func Users(ctx context.Context, d store.Directory) ([]Entry, error) {
	c, err := dial(ctx, d, d.BindDN, string(d.BindPassword))
	if errors.Is(err, ErrBadPassword) {
		return nil, fmt.Errorf("directory %s: the bind DN's password is refused", d.Name)
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	attrs := []string{d.LoginAttr, "userAccountControl"}
	for _, a := range []string{d.EmailAttr, d.GroupAttr} {
		if a != "" {
			attrs = append(attrs, a)
		}
	}
	req := ldap.NewSearchRequest(d.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter(d, ""), attrs, nil)
	res, err := c.SearchWithPaging(req, pageSize)
	if err != nil {
		return nil, fmt.Errorf("directory %s: search: %w", d.Name, err)
	}
	out := make([]Entry, 0, len(res.Entries))
	for _, le := range res.Entries {
		var e Entry
		e.fill(d, le)
		if e.Login != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

// CheckPassword verifies a user's directory password by binding as them:
// the user is found with the directory's bind DN, then bound to. The
// password is never kept.
func CheckPassword(ctx context.Context, d store.Directory, login, password string) (Entry, error) {
	if password == "" {
		return Entry{}, ErrBadPassword // an empty password is an anonymous bind, never a proof
	}
	c, err := dial(ctx, d, d.BindDN, string(d.BindPassword))
	if errors.Is(err, ErrBadPassword) {
		return Entry{}, fmt.Errorf("%w: directory %s refuses the bind DN's password", ErrUnreachable, d.Name)
	}
	if err != nil {
		return Entry{}, err
	}
	defer c.Close()
	attrs := []string{d.LoginAttr, "userAccountControl"}
	req := ldap.NewSearchRequest(d.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(Timeout/time.Second), false,
		filter(d, login), attrs, nil)
	res, err := c.Search(req)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: search: %w", ErrUnreachable, err)
	}
	if len(res.Entries) != 1 {
		return Entry{}, ErrBadPassword
	}
	var e Entry
	e.fill(d, res.Entries[0])
	if err := c.Bind(e.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return Entry{}, ErrBadPassword
		}
		return Entry{}, fmt.Errorf("%w: bind: %w", ErrUnreachable, err)
	}
	return e, nil
}
