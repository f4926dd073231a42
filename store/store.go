// Package store is the contract of radmfa's state: users, tokens, RADIUS
// clients, push devices and the audit log. It holds the interfaces (Store,
// and Logins, the seam the login path uses), the types, the errors callers
// branch on, and the sealing of secrets at rest with a master key that is
// not in the database. Backends live in packages of their own (store/sqlite,
// the embedded default); store/storetest is the suite every backend and
// every decorator passes.
package store

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict means the record changed since it was read; re-read and retry.
	ErrConflict = errors.New("changed concurrently")
	// ErrInvalid reports a change the record's state does not allow.
	ErrInvalid = errors.New("not allowed")
	ErrClosed  = errors.New("store closed")
)

// TokenState is where a token is in its life.
type TokenState string

// Token states. Assigned and active tokens can log in; an assigned token
// becomes active at its first successful login.
const (
	StateInventory TokenState = "inventory"
	StateAssigned  TokenState = "assigned"
	StateActive    TokenState = "active"
	StateRevoked   TokenState = "revoked"
)

// Usable reports whether a token in state s may authenticate.
func (s TokenState) Usable() bool { return s == StateAssigned || s == StateActive }

// Token types.
const (
	TypeTOTP = "totp"
	TypeHOTP = "hotp"
	// TypePush is a TOTP token bound to a phone: it answers pushes, and
	// its codes log in when push is not at hand.
	TypePush = "push"
)

// Origin says how a token came to exist.
const (
	OriginSoft     = "soft"     // enrolled by QR code
	OriginHardware = "hardware" // imported into the inventory
)

// RequestKeySize is the size of a TokenAuth.RequestKey.
const RequestKeySize = 16

// LockForever is the LockedUntil value of a token only an admin can unlock.
const LockForever = int64(1<<63 - 1)

// User is a person who logs in.
type User struct {
	ID        int64
	Name      string
	Email     string
	Group     string
	Disabled  bool
	CreatedAt time.Time
	// PushLockedUntil (Unix seconds) refuses push logins after a fraud report.
	PushLockedUntil int64
	// FailureTAT (Unix milliseconds) is the user's budget of failed
	// logins, shared by every instance: a token bucket kept as its
	// theoretical arrival time (GCRA). FailureCharge spends it.
	FailureTAT int64
	// Source is the directory the user is synced from ("" for a user
	// added by hand), ExternalID their entry there (the DN).
	Source     string
	ExternalID string
}

// Directory is an LDAP directory (Active Directory, OpenLDAP) users are
// synced from.
type Directory struct {
	ID           int64
	Name         string
	URLs         []string // ldap:// or ldaps://, tried in order
	BindDN       string
	BindPassword []byte // sealed at rest
	BaseDN       string
	UserFilter   string // an LDAP filter; "" for every person
	LoginAttr    string // sAMAccountName, uid, userPrincipalName
	EmailAttr    string
	GroupAttr    string // memberOf
	StartTLS     bool
	CACert       []byte // PEM: the CA of the directory's certificate
	// GroupMap maps a directory group (its DN, or its CN) to a radmfa
	// group; a user gets the first mapped group they are in.
	GroupMap  []GroupMapping
	CreatedAt time.Time
}

// GroupMapping maps a directory group to a radmfa group.
type GroupMapping struct {
	Directory string `json:"directory"`
	Group     string `json:"group"`
}

// DirectorySecretAD is the associated data a directory's bind password is
// sealed with.
func DirectorySecretAD(name string) string { return "radmfa/directory-bind\x00" + name }

// PushLocked reports whether push logins are refused for u at now.
func (u User) PushLocked(now time.Time) bool { return now.Unix() < u.PushLockedUntil }

// FailureLimit is the per-user rate limit of failed logins: Burst at once,
// then one more per Every.
type FailureLimit struct {
	Burst int
	Every time.Duration
}

// MaxTAT is the latest FailureTAT at which a user may still try at now.
func (l FailureLimit) MaxTAT(now time.Time) int64 {
	return now.UnixMilli() + int64(l.Burst-1)*l.Every.Milliseconds()
}

// Limited reports whether u has spent their failed logins at now.
func (l FailureLimit) Limited(u User, now time.Time) bool { return u.FailureTAT > l.MaxTAT(now) }

// FailureCharge spends one failed login of a user's budget (see
// User.FailureTAT): the new TAT is min(max(TAT, now) + Every,
// now + Burst*Every).
type FailureCharge struct {
	UserID int64
	Limit  FailureLimit
}

// Token is one OTP token record. Seed is filled only by the methods that say
// so, and is always sealed at rest.
type Token struct {
	ID        int64
	Serial    string
	User      string // empty when unassigned
	Type      string // totp, hotp, push (a TOTP token bound to a phone)
	Origin    string
	State     TokenState
	Algorithm string
	Digits    int
	Period    int
	Seed      []byte

	// Counter is the next HOTP counter that may be accepted.
	Counter uint64
	// LastStep is the last TOTP step accepted; codes at or before it are refused.
	LastStep int64
	// Drift is the offset in steps between the token's clock and ours.
	Drift int64

	PINHash     string // argon2id, empty when the token has no PIN
	FailCount   int
	LockedUntil int64 // Unix seconds; 0 not locked; LockForever until an admin unlocks
	LastUsed    time.Time
	CreatedAt   time.Time
	Description string
	// Version increases with every change; auth updates compare it.
	Version int64
	// LastRequest is the RequestKey of the login that last accepted a
	// code of the token (nil when none was given).
	LastRequest []byte

	Manufacturer string // hardware tokens, from the import
	Model        string
	// ValidFrom and ValidUntil bound when the token may log in (zero: no bound).
	ValidFrom  time.Time
	ValidUntil time.Time
}

// Valid reports whether the token's validity period includes now.
func (t Token) Valid(now time.Time) bool {
	return (t.ValidFrom.IsZero() || !now.Before(t.ValidFrom)) && (t.ValidUntil.IsZero() || now.Before(t.ValidUntil))
}

// HasPIN reports whether the password must start with the token's PIN.
func (t Token) HasPIN() bool { return t.PINHash != "" }

// Locked reports whether the token is locked at now.
func (t Token) Locked(now time.Time) bool { return t.LockedUntil != 0 && now.Unix() < t.LockedUntil }

// TokenFilter selects tokens to list; zero fields match everything.
type TokenFilter struct {
	User  string
	State TokenState
}

// Client is a RADIUS client (a NAS) known by its source address.
type Client struct {
	ID                          int64
	Name                        string
	Prefix                      netip.Prefix
	Secret                      []byte // filled by Clients and Client
	RequireMessageAuthenticator bool
	NASType                     string
	// NumberMatching overrides the server's number matching for push
	// logins from this client: "on", "off", or "" for the server default.
	NumberMatching string
	// FirstFactor is what the user types before the code: "pin" (the
	// token's PIN, if it has one; also "" and "none") or "directory" (the
	// user's directory password, checked by an LDAP bind).
	FirstFactor string
	// UserVerification overrides the server's requirement that a push
	// approval carry the device owner's WebAuthn assertion: "on", "off",
	// or "" for the server default.
	UserVerification string
	// NASTimeout and NASRetries are how long the NAS waits for an answer
	// and how often it resends before it gives up; 0 takes the NAS type's
	// known defaults. A push is answered within that budget.
	NASTimeout time.Duration
	NASRetries int
	// CertCN or CertFingerprint ("sha256:" and 64 hex digits) make a
	// RadSec client (RFC 6614), known by its TLS certificate; its Prefix,
	// when valid, also limits where it may connect from.
	CertCN          string
	CertFingerprint string
	CreatedAt       time.Time
}

// Activatable reports whether a token of this type and origin takes an
// activation code: push tokens (bound to a phone) and soft TOTP/HOTP
// tokens (whose seed the user's self-enrollment shows once). Hardware
// tokens' seeds come from their vendor.
func Activatable(typ, origin string) bool {
	return typ == TypePush || (origin == OriginSoft && (typ == "totp" || typ == "hotp"))
}

// RadSec reports whether the client speaks RADIUS over TLS and is known by
// its certificate rather than its source address.
func (c Client) RadSec() bool { return c.CertCN != "" || c.CertFingerprint != "" }

// AcctStatus is an Accounting-Request's Acct-Status-Type (RFC 2866).
type AcctStatus string

// Accounting status types radmfa records.
const (
	AcctStart   AcctStatus = "start"
	AcctInterim AcctStatus = "interim"
	AcctStop    AcctStatus = "stop"
	// AcctOn and AcctOff: the NAS started or stopped; its sessions still
	// open are over.
	AcctOn  AcctStatus = "on"
	AcctOff AcctStatus = "off"
)

// AcctRecord is one Accounting-Request, as recorded.
type AcctRecord struct {
	At     time.Time
	Status AcctStatus
	Client string // the RADIUS client it came from
	// NAS is the NAS-Identifier, else the NAS-IP-Address, else the client:
	// Acct-Session-Id is unique per NAS.
	NAS            string
	SessionID      string
	User           string
	FramedIP       string
	CallingStation string
	SessionTime    int64 // Acct-Session-Time, seconds
	InOctets       int64 // with Acct-Input-Gigawords
	OutOctets      int64
	TerminateCause string
}

// Session is a user's session on a NAS, as its accounting told.
type Session struct {
	ID             int64
	Client         string
	NAS            string
	SessionID      string
	User           string
	FramedIP       string
	CallingStation string
	Start          time.Time
	Updated        time.Time // the last accounting record
	Stop           time.Time // zero while the session is active
	Duration       time.Duration
	InOctets       int64
	OutOctets      int64
	TerminateCause string
}

// Active reports whether the session has not stopped.
func (s Session) Active() bool { return s.Stop.IsZero() }

// SessionFilter selects sessions, newest first; zero fields match
// everything.
type SessionFilter struct {
	User   string // case-insensitive
	Active bool   // only sessions not stopped
	// Latest: only each user's newest session.
	Latest bool
	Limit  int
}

// AuditEvent is one row of the audit log.
type AuditEvent struct {
	ID     int64
	At     time.Time
	Actor  string // "cli:<os user>", "radius:<client>", ...
	Action string // "user.add", "token.enroll", "auth", ...
	User   string
	Serial string
	Client string
	Result string // "ok", "accept", "reject", "error", ...
	Detail string // never a secret
}

// AuditFilter selects audit rows, newest last; zero fields match
// everything.
type AuditFilter struct {
	User   string // case-insensitive
	Serial string
	Action string
	Client string
	// Result matches a result or its kind: "reject" matches "reject" and
	// every "reject:<reason>".
	Result string
	Since  time.Time // at or after
	Until  time.Time // before
	Limit  int       // the newest Limit rows
}

// TokenAuth is the outcome of one login for one token.
type TokenAuth struct {
	ID int64
	// Accepted: the compare-and-set of an accepted code. Version and
	// UserID are what the login read; Counter/LastStep/Drift the new
	// values. Recording fails with ErrConflict, writing nothing, unless
	// the token still has Version, is still usable and still belongs to
	// UserID, and that user is enabled.
	Accepted bool
	// Activate: the token was read 'assigned'; its first accept makes it
	// 'active'.
	Activate bool
	UserID   int64
	Version  int64
	Counter  uint64
	LastStep int64
	Drift    int64
	// Failed counts a failure; at LockAfter consecutive failures the token
	// is locked until LockUntil.
	Failed    bool
	LockAfter int
	LockUntil int64
	// RequestKey, recorded with an accept as the token's LastRequest,
	// names the request that carried the code (RFC 5080's duplicate key,
	// hashed to RequestKeySize bytes): a retransmission of that request
	// is told from a replay of its code.
	RequestKey []byte
	// MaxFailureTAT, when not 0, makes an accept also require that the
	// user's FailureTAT is at most this: a user who has spent their
	// failed logins on another instance is not accepted on a read that
	// predates it.
	MaxFailureTAT int64
}

// AuthCommit is what one login records, atomically: its token changes
// (at most one accepted token) and its audit row.
type AuthCommit struct {
	At     time.Time
	Tokens []TokenAuth
	Audit  AuditEvent
	// Charge, when set, spends one of the user's failed logins in the
	// same transaction (a refusal that could be a guess).
	Charge *FailureCharge
}

// BulkItem is one user to create, with tokens already assigned to them.
// Tokens with an empty User and no owner go to the inventory.
type BulkItem struct {
	User   *User
	Tokens []Token
	// Devices[j], when it has a public key, binds Tokens[j] (a push token)
	// to a phone.
	Devices []Device
}

// ReplyAttr is an attribute added to the Access-Accept of a user group or
// of a client, written as the dictionary names it.
type ReplyAttr struct {
	ID     int64
	Scope  string // "group" or "client"
	Target string // the group or client name
	Attr   string
	Value  string
}

// DeletedUser reports what happened to a deleted user's tokens.
type DeletedUser struct {
	ToInventory []string // hardware tokens, back in the inventory
	Deleted     []string // soft tokens, deleted with their seeds
}

// Logins is the seam between the login decision (package auth) and a
// backend: read a user's login state, then record the outcome against the
// state that was read. Every backend and every decorator implements it,
// and store/storetest holds them to it:
//
//   - a code is accepted at most once: of any number of concurrent
//     CommitAuth calls that accept one token at one version, exactly one
//     succeeds and the others return ErrConflict, writing nothing;
//   - an accept based on a stale read (the token changed, was revoked,
//     moved to another user, or the user was disabled) returns ErrConflict
//     and writes nothing; the caller reads again and decides again;
//   - refusals record their failure counts and lock the token at the
//     threshold; every recorded login has its audit row in the same
//     transaction, and CommitAuth returns only once both are durable.
type Logins interface {
	// LoginState returns a user and all their tokens, with seeds. With
	// fresh false a decorator may answer from memory, which may be older
	// than the newest change: CommitAuth's compare-and-set catches that
	// for an accept, and the caller reads again with fresh true before it
	// refuses a login. A backend always reads its newest state.
	LoginState(ctx context.Context, name string, fresh bool) (LoginState, error)
	// CommitAuth records a login's outcome: its token changes and its
	// audit row.
	CommitAuth(ctx context.Context, c AuthCommit) error
}

// LoginState is what a login is decided on.
type LoginState struct {
	User   User
	Tokens []Token // with seeds
	// Cached: read from memory, possibly older than the newest change.
	Cached bool
}

// Store is radmfa's persistence contract: the login seam and the admin's
// records. Mutating admin methods record their audit row (actor by) in the
// same transaction as the change.
type Store interface {
	Logins

	CreateUser(ctx context.Context, by string, u User) (User, error)
	User(ctx context.Context, name string) (User, error)
	Users(ctx context.Context) ([]User, error)
	SetUserDisabled(ctx context.Context, by, name string, disabled bool) error
	// UpdateUser reads a user, lets fn change their email, group,
	// disabled flag, source and external id, and writes them back with an
	// audit row (action) in one transaction.
	UpdateUser(ctx context.Context, by, name, action string, fn func(*User) error) (User, error)
	DeleteUser(ctx context.Context, by, name string) (DeletedUser, error)

	// CreateToken stores t (with its Seed) and returns it with ID and times set.
	CreateToken(ctx context.Context, by string, t Token) (Token, error)
	// Token returns one token with its seed.
	Token(ctx context.Context, serial string) (Token, error)
	// Tokens lists tokens without seeds, ordered by serial.
	Tokens(ctx context.Context, f TokenFilter) ([]Token, error)
	// UserTokens returns a user and all their tokens with seeds, as they
	// are now (LoginState with fresh true).
	UserTokens(ctx context.Context, name string) (User, []Token, error)
	// UpdateToken reads a token with its seed, lets fn change it, and writes
	// it back with an audit row (action) in one transaction. If fn returns an
	// error nothing is written. Serial, ID, CreatedAt are not changed; a Seed
	// set to nil destroys it, and the device and activation bound to it.
	UpdateToken(ctx context.Context, by, serial, action string, fn func(*Token) error) (Token, error)
	DeleteToken(ctx context.Context, by, serial string) error
	// ExistingSerials returns which of serials are taken.
	ExistingSerials(ctx context.Context, serials []string) ([]string, error)
	// Bulk creates users and tokens in one transaction, all or nothing.
	Bulk(ctx context.Context, by, action string, items []BulkItem) error

	CreateClient(ctx context.Context, by string, c Client) (Client, error)
	Client(ctx context.Context, name string) (Client, error)
	Clients(ctx context.Context) ([]Client, error)
	// UpdateClient reads a client with its secret, lets fn change it, and
	// writes it back with an audit row in one transaction; its Name, ID
	// and CreatedAt stay.
	UpdateClient(ctx context.Context, by, name string, fn func(*Client) error) (Client, error)
	DeleteClient(ctx context.Context, by, name string) error
	// ClientsVersion changes whenever the clients or reply attributes do.
	ClientsVersion(ctx context.Context) (int64, error)

	CreateDirectory(ctx context.Context, by string, d Directory) (Directory, error)
	// Directory returns one directory with its bind password.
	Directory(ctx context.Context, name string) (Directory, error)
	Directories(ctx context.Context) ([]Directory, error)
	DeleteDirectory(ctx context.Context, by, name string) error

	AddReplyAttr(ctx context.Context, by string, a ReplyAttr) (ReplyAttr, error)
	ReplyAttrs(ctx context.Context) ([]ReplyAttr, error)
	DeleteReplyAttr(ctx context.Context, by string, id int64) error

	// SetActivation issues (or replaces) the single-use activation code of
	// a push token or a soft TOTP/HOTP token (Activatable); only a hash of
	// the code is kept.
	SetActivation(ctx context.Context, by string, a Activation) error
	// Activate binds a push token to a device (d with a public key), or
	// gives a soft TOTP/HOTP token its seed (d empty), if code hashes to the
	// token's pending activation: in one transaction it checks the code,
	// stores seed and device, and deletes the activation. A wrong code counts towards
	// maxAttempts (then the activation is void); the error is ErrActivation.
	// Its audit rows name by (the device API gives the source address).
	Activate(ctx context.Context, by, serial string, codeHash []byte, now time.Time, maxAttempts int, seed []byte, d Device) (Token, error)
	// Device returns the device a token is bound to.
	Device(ctx context.Context, serial string) (Device, error)
	// UpdateDevice changes a device through fn; with an action, an audit
	// row is written in the same transaction.
	UpdateDevice(ctx context.Context, by, serial, action string, fn func(*Device) error) (Device, error)
	// UserDevices returns the devices of a user's usable push tokens.
	UserDevices(ctx context.Context, user string) ([]Device, error)
	// SetPushLock refuses (until > now) or allows (until 0) a user's push logins.
	SetPushLock(ctx context.Context, by, user string, until time.Time, detail string) error

	// Setting and SetSetting keep small named values (the device API's
	// public URL and certificate pin) for the CLI beside a running server.
	Setting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error

	// RecordAccounting records an Accounting-Request in the session it
	// belongs to (by client, NAS and Acct-Session-Id), creating the
	// session when its Start was missed; it returns once that is durable.
	RecordAccounting(ctx context.Context, r AcctRecord) error
	Sessions(ctx context.Context, f SessionFilter) ([]Session, error)

	Audit(ctx context.Context, e AuditEvent) error
	AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// PruneAudit deletes the audit rows from before a time and, when it
	// deleted any, records that it did (an audit row of its own); it
	// returns how many went.
	PruneAudit(ctx context.Context, by string, before time.Time) (int64, error)

	Close() error
}
