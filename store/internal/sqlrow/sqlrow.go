// Package sqlrow is what radmfa's SQL backends (store/sqlite,
// store/postgres) share beyond their drivers: the column lists of their
// common schema, reading a row of them into the store's types (opening
// sealed seeds and secrets), and the checks of a record before it is
// written. Both drivers' rows are Scanners.
package sqlrow

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/radmfa/radmfa/store"
)

// Scanner is a row of database/sql or of pgx.
type Scanner interface {
	Scan(dest ...any) error
}

// Column lists of the schema both backends have, and the joins they read
// through.
const (
	TokenCols = `t.id, t.serial, COALESCE(u.name, ''), t.type, t.origin, t.state, t.algorithm, t.digits,
	t.period, t.seed, t.counter, t.last_step, t.drift, t.pin_hash, t.fail_count, t.locked_until,
	t.last_used, t.created_at, t.description, t.version, t.manufacturer, t.model, t.valid_from, t.valid_until, t.last_request`
	TokenFrom = ` FROM tokens t LEFT JOIN users u ON u.id = t.user_id`
	// UserCols, with the prefix u. for a join (UserColsU).
	UserCols   = `id, name, email, grp, disabled, created_at, push_locked_until, fail_tat, source, external_id`
	UserColsU  = `u.id, u.name, u.email, u.grp, u.disabled, u.created_at, u.push_locked_until, u.fail_tat, u.source, u.external_id`
	ClientCols = `id, name, cidr, secret, require_ma, nas_type, number_matching, created_at, nas_timeout_ms, nas_retries, cert_cn, cert_fingerprint, user_verification, first_factor`
	DeviceCols = `t.serial, COALESCE(u.name, ''), t.state, d.public_key, d.apns_token, d.apns_invalid, d.os, d.os_version,
	d.model, d.app_version, d.notifications, d.enrolled_at, d.last_seen, d.webauthn`
	DeviceFrom = ` FROM devices d JOIN tokens t ON t.id = d.token_id LEFT JOIN users u ON u.id = t.user_id`
)

// UserDest is where a row of UserCols goes: Scan into its Dest, then
// User.
type UserDest struct {
	u       store.User
	created int64
}

// Dest is the scan destinations of UserCols.
func (d *UserDest) Dest() []any {
	return []any{&d.u.ID, &d.u.Name, &d.u.Email, &d.u.Group, &d.u.Disabled, &d.created, &d.u.PushLockedUntil, &d.u.FailureTAT,
		&d.u.Source, &d.u.ExternalID}
}

// User is the user scanned.
func (d *UserDest) User() store.User {
	u := d.u
	u.CreatedAt = UnixTime(d.created)
	return u
}

// ScanUser reads a row of UserCols.
func ScanUser(sc Scanner) (store.User, error) {
	var d UserDest
	err := sc.Scan(d.Dest()...)
	return d.User(), err
}

// ScanToken reads a row of TokenCols, after the columns scanned into pre;
// the seed is opened with sealer when withSeed.
func ScanToken(sc Scanner, sealer *store.Sealer, withSeed bool, pre ...any) (store.Token, error) {
	var t store.Token
	var state string
	var sealed []byte
	var counter int64
	var lastUsed, created, from, until int64
	err := sc.Scan(append(pre, &t.ID, &t.Serial, &t.User, &t.Type, &t.Origin, &state, &t.Algorithm, &t.Digits,
		&t.Period, &sealed, &counter, &t.LastStep, &t.Drift, &t.PINHash, &t.FailCount, &t.LockedUntil,
		&lastUsed, &created, &t.Description, &t.Version, &t.Manufacturer, &t.Model, &from, &until, &t.LastRequest)...)
	if err != nil {
		return store.Token{}, err
	}
	t.State = store.TokenState(state)
	t.Counter = uint64(counter)
	t.LastUsed = UnixTime(lastUsed)
	t.CreatedAt = UnixTime(created)
	t.ValidFrom, t.ValidUntil = UnixTime(from), UnixTime(until)
	if withSeed && sealed != nil {
		t.Seed, err = sealer.Open(sealed, store.SeedAD(t.Serial))
		if err != nil {
			return store.Token{}, fmt.Errorf("token %q seed: %w", t.Serial, err)
		}
	}
	return t, nil
}

// SealSeed seals t's seed for the database (nil for none).
func SealSeed(sealer *store.Sealer, t store.Token) ([]byte, error) {
	if t.Seed == nil {
		return nil, nil
	}
	return sealer.Seal(t.Seed, store.SeedAD(t.Serial))
}

// SealBulk seals the seeds of items, outside any transaction (sealing is
// the slow part of an import): [item][token].
func SealBulk(sealer *store.Sealer, items []store.BulkItem) ([][][]byte, error) {
	sealed := make([][][]byte, len(items))
	for i, it := range items {
		sealed[i] = make([][]byte, len(it.Tokens))
		for j, t := range it.Tokens {
			b, err := SealSeed(sealer, t)
			if err != nil {
				return nil, err
			}
			sealed[i][j] = b
		}
	}
	return sealed, nil
}

// ScanClient reads a row of ClientCols, opening the secret with sealer.
func ScanClient(sc Scanner, sealer *store.Sealer) (store.Client, error) {
	var c store.Client
	var cidr string
	var sealed []byte
	var created, timeoutMS int64
	if err := sc.Scan(&c.ID, &c.Name, &cidr, &sealed, &c.RequireMessageAuthenticator, &c.NASType, &c.NumberMatching, &created,
		&timeoutMS, &c.NASRetries, &c.CertCN, &c.CertFingerprint, &c.UserVerification, &c.FirstFactor); err != nil {
		return store.Client{}, err
	}
	if cidr != "" || !c.RadSec() {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return store.Client{}, fmt.Errorf("client %q: stored cidr %q: %w", c.Name, cidr, err)
		}
		c.Prefix = p
	}
	c.NASTimeout = time.Duration(timeoutMS) * time.Millisecond
	c.CreatedAt = UnixTime(created)
	var err error
	c.Secret, err = sealer.Open(sealed, store.SecretAD(c.Name))
	if err != nil {
		return store.Client{}, fmt.Errorf("client %q secret: %w", c.Name, err)
	}
	return c, nil
}

// NewClient checks a client to be created and returns it as it is stored
// (the prefix masked, created at now) with its sealed secret.
func NewClient(sealer *store.Sealer, c store.Client, now time.Time) (store.Client, []byte, error) {
	c.CreatedAt = now.UTC().Truncate(time.Second)
	return SealClient(sealer, c)
}

// SealClient checks a client to be written and returns it as it is stored
// (the prefix masked) with its sealed secret.
func SealClient(sealer *store.Sealer, c store.Client) (store.Client, []byte, error) {
	if (!c.Prefix.IsValid() && !c.RadSec()) || len(c.Secret) == 0 {
		return store.Client{}, nil, fmt.Errorf("store: client %q needs a prefix (or a certificate) and a secret: %w", c.Name, store.ErrInvalid)
	}
	if c.NumberMatching != "" && c.NumberMatching != "on" && c.NumberMatching != "off" {
		return store.Client{}, nil, fmt.Errorf("store: client %q: number matching %q is not on, off or empty: %w", c.Name, c.NumberMatching, store.ErrInvalid)
	}
	if c.UserVerification != "" && c.UserVerification != "on" && c.UserVerification != "off" {
		return store.Client{}, nil, fmt.Errorf("store: client %q: user verification %q is not on, off or empty: %w", c.Name, c.UserVerification, store.ErrInvalid)
	}
	switch c.FirstFactor {
	case "", "none", "pin", "directory":
	default:
		return store.Client{}, nil, fmt.Errorf("store: client %q: first factor %q is not none, pin or directory: %w", c.Name, c.FirstFactor, store.ErrInvalid)
	}
	if c.NASTimeout < 0 || c.NASTimeout > time.Minute || c.NASRetries < 0 || c.NASRetries > 10 {
		return store.Client{}, nil, fmt.Errorf("store: client %q: NAS timeout %s x %d retries is outside 0-60s x 0-10: %w", c.Name, c.NASTimeout, c.NASRetries, store.ErrInvalid)
	}
	if c.CertFingerprint != "" && !ValidFingerprint(c.CertFingerprint) {
		return store.Client{}, nil, fmt.Errorf("store: client %q: certificate fingerprint is not sha256: and 64 hex digits: %w", c.Name, store.ErrInvalid)
	}
	if c.Prefix.IsValid() {
		c.Prefix = c.Prefix.Masked()
	}
	sealed, err := sealer.Seal(c.Secret, store.SecretAD(c.Name))
	if err != nil {
		return store.Client{}, nil, err
	}
	return c, sealed, nil
}

// ClientArgs are the values of a client's columns after id, name, in
// ClientCols order up to created_at, then the rest: cidr, secret,
// require_ma, nas_type, number_matching, created_at, nas_timeout_ms,
// nas_retries, cert_cn, cert_fingerprint.
func ClientArgs(c store.Client, sealed []byte) []any {
	cidr := ""
	if c.Prefix.IsValid() {
		cidr = c.Prefix.String()
	}
	return []any{cidr, sealed, c.RequireMessageAuthenticator, c.NASType, c.NumberMatching, c.CreatedAt.Unix(),
		c.NASTimeout.Milliseconds(), c.NASRetries, c.CertCN, c.CertFingerprint, c.UserVerification, c.FirstFactor}
}

// ClientInsert adds a client: $1 the name, then ClientArgs.
const ClientInsert = `INSERT INTO clients(name, cidr, secret, require_ma, nas_type, number_matching, created_at,
	nas_timeout_ms, nas_retries, cert_cn, cert_fingerprint, user_verification, first_factor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

// ClientUpdate rewrites a client: $1 the name, then ClientArgs.
const ClientUpdate = `UPDATE clients SET cidr = $2, secret = $3, require_ma = $4, nas_type = $5, number_matching = $6,
	created_at = $7, nas_timeout_ms = $8, nas_retries = $9, cert_cn = $10, cert_fingerprint = $11, user_verification = $12, first_factor = $13 WHERE name = $1`

// ValidFingerprint reports whether f is "sha256:" and 64 lowercase hex
// digits.
func ValidFingerprint(f string) bool {
	h, ok := strings.CutPrefix(f, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, r := range h {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// ClientChanges describes what changed between two versions of a client,
// for an audit row: never the secret itself.
func ClientChanges(old, c store.Client) string {
	var d changes
	add := d.add
	add("cidr", old.Prefix, c.Prefix)
	add("require_message_authenticator", old.RequireMessageAuthenticator, c.RequireMessageAuthenticator)
	add("nas_type", old.NASType, c.NASType)
	add("number_matching", old.NumberMatching, c.NumberMatching)
	add("nas_timeout", old.NASTimeout, c.NASTimeout)
	add("nas_retries", old.NASRetries, c.NASRetries)
	add("cert_cn", old.CertCN, c.CertCN)
	add("cert_fingerprint", old.CertFingerprint, c.CertFingerprint)
	add("user_verification", old.UserVerification, c.UserVerification)
	add("first_factor", old.FirstFactor, c.FirstFactor)
	if string(old.Secret) != string(c.Secret) {
		d = append(d, "secret=changed")
	}
	return d.String()
}

// changes lists the fields that changed, for an audit row's detail.
type changes []string

// add notes field k when its value went from a to b.
func (d *changes) add(k string, a, b any) {
	if fmt.Sprint(a) != fmt.Sprint(b) {
		*d = append(*d, fmt.Sprintf("%s=%v", k, b))
	}
}

func (d changes) String() string { return strings.Join(d, " ") }

// CheckReplyAttr checks a reply attribute to be added.
func CheckReplyAttr(a store.ReplyAttr) error {
	if (a.Scope != "group" && a.Scope != "client") || a.Target == "" || a.Attr == "" {
		return fmt.Errorf("store: reply attribute needs a group or client and a name: %w", store.ErrInvalid)
	}
	return nil
}

// ReplyAttrAudit is the audit row of an added reply attribute.
func ReplyAttrAudit(by string, a store.ReplyAttr) store.AuditEvent {
	ev := store.AuditEvent{Actor: by, Action: "reply.add", Result: "ok", Detail: fmt.Sprintf("%s %s: %s", a.Scope, a.Target, a.Attr)}
	if a.Scope == "client" {
		ev.Client = a.Target
	}
	return ev
}

// DeletedDetail is the audit detail of a deleted user.
func DeletedDetail(d store.DeletedUser) string {
	return fmt.Sprintf("tokens deleted: [%s]; tokens back to inventory: [%s]",
		strings.Join(d.Deleted, " "), strings.Join(d.ToInventory, " "))
}

// ScanDevice reads a row of DeviceCols.
func ScanDevice(sc Scanner) (store.Device, error) {
	var d store.Device
	var state string
	var enrolled, seen int64
	err := sc.Scan(&d.Serial, &d.User, &state, &d.PublicKey, &d.APNsToken, &d.APNsInvalid, &d.OS, &d.OSVersion, &d.Model,
		&d.AppVersion, &d.Notifications, &enrolled, &seen, &d.WebAuthn)
	d.TokenState = store.TokenState(state)
	d.EnrolledAt, d.LastSeen = UnixTime(enrolled), UnixTime(seen)
	return d, err
}

// ScanAudit reads a row of id, at (Unix milliseconds), actor, action,
// user, serial, client, result, detail.
func ScanAudit(sc Scanner) (store.AuditEvent, error) {
	var e store.AuditEvent
	var at int64
	err := sc.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.User, &e.Serial, &e.Client, &e.Result, &e.Detail)
	e.At = time.UnixMilli(at).UTC()
	return e, err
}

// UnixTime is a stored Unix time in seconds (0: the zero time).
func UnixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// UnixOf is t as stored (the zero time: 0).
func UnixOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// Dialect is how a backend's SQL differs where AuditQuery needs it.
type Dialect struct {
	// Param is the placeholder of the nth argument (from 1).
	Param func(n int) string
	// UserCol is the audit table's user column; UserEq compares it with a
	// placeholder, without regard to case.
	UserCol string
	UserEq  func(col, param string) string
}

// AuditQuery is the query of the audit rows f selects, newest first, and
// its arguments.
func AuditQuery(d Dialect, f store.AuditFilter) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return d.Param(len(args))
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(f.Since.UnixMilli()))
	}
	if !f.Until.IsZero() {
		where = append(where, "at < "+arg(f.Until.UnixMilli()))
	}
	if f.User != "" {
		where = append(where, d.UserEq(d.UserCol, arg(f.User)))
	}
	for _, c := range []struct{ col, v string }{{"serial", f.Serial}, {"action", f.Action}, {"client", f.Client}} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(c.v))
		}
	}
	if f.Result != "" {
		p := arg(f.Result)
		where = append(where, fmt.Sprintf("(result = %[1]s OR substr(result, 1, length(%[1]s) + 1) = %[1]s || ':')", p))
	}
	q := `SELECT id, at, actor, action, ` + d.UserCol + `, serial, client, result, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	return q, args
}

// Rows is a result set of database/sql or of pgx.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Collect reads every row of rows with scan.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
