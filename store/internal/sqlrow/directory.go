package sqlrow

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/radmfa/radmfa/store"
)

// DirectoryCols is the column list of a directory row.
const DirectoryCols = `id, name, urls, bind_dn, bind_password, base_dn, user_filter, login_attr, email_attr, group_attr,
	start_tls, ca_cert, group_map, created_at`

// DirectoryInsert adds a directory: $1..$13 are DirectoryArgs.
const DirectoryInsert = `INSERT INTO directories(name, urls, bind_dn, bind_password, base_dn, user_filter, login_attr, email_attr,
	group_attr, start_tls, ca_cert, group_map, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

// UserUpdate writes a user's changeable fields: $1 the id, then email,
// group, disabled, source, external id.
const UserUpdate = `UPDATE users SET email = $2, grp = $3, disabled = $4, source = $5, external_id = $6 WHERE id = $1`

// CheckDirectory checks a directory to be created and returns its sealed
// bind password and the arguments of DirectoryInsert.
func CheckDirectory(sealer *store.Sealer, d store.Directory, now time.Time) (store.Directory, []any, error) {
	bad := func(why string) (store.Directory, []any, error) {
		return store.Directory{}, nil, fmt.Errorf("store: directory %q: %s: %w", d.Name, why, store.ErrInvalid)
	}
	if d.Name == "" || len(d.URLs) == 0 || d.BaseDN == "" || d.LoginAttr == "" {
		return bad("needs a URL, a base DN and a login attribute")
	}
	for _, u := range d.URLs {
		p, err := url.Parse(u)
		// No credentials in a URL: they would show in every error that
		// names it; the bind password is sealed on its own.
		if err != nil || (p.Scheme != "ldap" && p.Scheme != "ldaps") || p.Host == "" || p.User != nil {
			return bad(fmt.Sprintf("URL %q is not ldap:// or ldaps://", u))
		}
	}
	for _, m := range d.GroupMap {
		if m.Directory == "" || m.Group == "" {
			return bad("a group mapping needs both sides")
		}
	}
	d.CreatedAt = now.UTC().Truncate(time.Second)
	sealed, err := sealer.Seal(d.BindPassword, store.DirectorySecretAD(d.Name))
	if err != nil {
		return store.Directory{}, nil, err
	}
	gm, _ := json.Marshal(d.GroupMap)
	return d, []any{d.Name, strings.Join(d.URLs, " "), d.BindDN, sealed, d.BaseDN, d.UserFilter, d.LoginAttr, d.EmailAttr,
		d.GroupAttr, d.StartTLS, d.CACert, string(gm), d.CreatedAt.Unix()}, nil
}

// ScanDirectory reads a row of DirectoryCols, opening the bind password.
func ScanDirectory(sc Scanner, sealer *store.Sealer) (store.Directory, error) {
	var d store.Directory
	var urls, gm string
	var sealed []byte
	var created int64
	if err := sc.Scan(&d.ID, &d.Name, &urls, &d.BindDN, &sealed, &d.BaseDN, &d.UserFilter, &d.LoginAttr, &d.EmailAttr,
		&d.GroupAttr, &d.StartTLS, &d.CACert, &gm, &created); err != nil {
		return store.Directory{}, err
	}
	d.URLs = strings.Fields(urls)
	if err := json.Unmarshal([]byte(gm), &d.GroupMap); err != nil {
		return store.Directory{}, fmt.Errorf("directory %q: group map: %w", d.Name, err)
	}
	d.CreatedAt = UnixTime(created)
	var err error
	if d.BindPassword, err = sealer.Open(sealed, store.DirectorySecretAD(d.Name)); err != nil {
		return store.Directory{}, fmt.Errorf("directory %q bind password: %w", d.Name, err)
	}
	return d, nil
}

// UserChanges describes what changed in a user, for an audit row.
func UserChanges(old, u store.User) string {
	var d changes
	d.add("email", old.Email, u.Email)
	d.add("group", old.Group, u.Group)
	d.add("disabled", old.Disabled, u.Disabled)
	d.add("source", old.Source, u.Source)
	d.add("dn", old.ExternalID, u.ExternalID)
	return d.String()
}
