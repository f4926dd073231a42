package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"hash"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// Client is a NAS allowed to send requests, known by its source address.
type Client struct {
	Name      string
	Prefix    netip.Prefix
	Secret    []byte
	RequireMA bool
	NASType   string
	// NumberMatching overrides the push number matching default: "on", "off", "".
	NumberMatching string
	// UserVerification overrides the server's requirement of the device
	// owner's verification of push approvals: "on", "off", "".
	UserVerification string
	// FirstFactor is what users type before the code: "" or "pin" (the
	// token's PIN), "directory" (their directory password).
	FirstFactor string
	// Attrs are added to every Access-Accept sent to this client.
	Attrs []Attr
	// NASTimeout and NASRetries are how long the NAS waits for an answer
	// and how often it sends a request again; 0: its NAS type's defaults.
	NASTimeout time.Duration
	NASRetries int
	// CertCN or CertFingerprint ("sha256:HEX") make a RadSec client, known
	// by its certificate (Prefix, when valid, limits where from); it is
	// never looked up by a UDP packet's source.
	CertCN          string
	CertFingerprint string

	macs  *macPool // HMAC-MD5 keyed with Secret; set by NewTable
	actor string   // "radius:" + Name for the audit log; set by NewTable
}

// actorName is the client's name in the audit log.
func (c *Client) actorName() string {
	if c.actor == "" {
		return "radius:" + c.Name
	}
	return c.actor
}

// macPool hands out HMAC-MD5 states keyed with one secret. Keying costs two
// MD5 blocks and two allocations; every request checks a
// Message-Authenticator and every reply carries one.
type macPool struct{ p sync.Pool }

func newMACPool(secret []byte) *macPool {
	key := append([]byte(nil), secret...)
	m := &macPool{}
	m.p.New = func() any { return hmac.New(md5.New, key) }
	return m
}

// mac returns a fresh HMAC-MD5 keyed with the client's secret; putMAC
// gives it back.
func (c *Client) mac() hash.Hash {
	if c.macs == nil {
		return hmac.New(md5.New, c.Secret)
	}
	h := c.macs.p.Get().(hash.Hash)
	h.Reset()
	return h
}

// putMAC returns h, from mac, to the client's pool.
func (c *Client) putMAC(h hash.Hash) {
	if c.macs != nil {
		c.macs.p.Put(h)
	}
}

// noChallenges are the NAS types that cannot show an Access-Challenge's
// prompt: OpenVPN's RADIUS plugin takes one for a refusal, and pam_radius
// builds without challenge support. Their push logins get no number to
// match (a challenge they would not show).
var noChallenges = map[string]bool{"openvpn": true, "pam_radius": true}

// ShowsChallenges reports whether the client's NAS can show an
// Access-Challenge to the user (by its NAS type).
func (c *Client) ShowsChallenges() bool { return !noChallenges[strings.ToLower(c.NASType)] }

// nasDeadline is how long a NAS waits for an answer before it sends a
// request again, and how many times it does, by NAS type, as the vendors
// ship them.
type nasDeadline struct {
	timeout time.Duration
	retries int
}

// nasDefaults are the known NAS types' timeouts and retries; others get
// defaultNAS.
var nasDefaults = map[string]nasDeadline{
	"fortigate":  {5 * time.Second, 0},  // remoteauthtimeout 5 s
	"asa":        {10 * time.Second, 0}, // aaa-server timeout 10 s
	"paloalto":   {3 * time.Second, 3},  // server profile: timeout 3 s, 3 retries
	"openvpn":    {1 * time.Second, 0},  // radiusplugin.cnf: wait=1, retry=1 (sends once)
	"strongswan": {14 * time.Second, 0}, // eap-radius: 4 retransmits backing off from 2 s, about 14 s
	"pfsense":    {5 * time.Second, 0},  // authentication timeout 5 s
	"softether":  {10 * time.Second, 0},
	"pam_radius": {3 * time.Second, 0}, // pam_radius_auth.conf timeout 3 s
}

// defaultNAS is the deadline of a NAS of unknown type: 5 s, sent three
// times in all, as radclient does.
var defaultNAS = nasDeadline{5 * time.Second, 2}

// Deadline is how long the client's NAS waits for an answer in all (its
// timeout for each of its tries) and its timeout and retries.
func (c *Client) Deadline() (total, timeout time.Duration, retries int) {
	d, ok := nasDefaults[strings.ToLower(c.NASType)]
	if !ok {
		d = defaultNAS
	}
	if c.NASTimeout > 0 {
		d.timeout = c.NASTimeout
		d.retries = c.NASRetries
	} else if c.NASRetries > 0 {
		d.retries = c.NASRetries
	}
	return d.timeout * time.Duration(d.retries+1), d.timeout, d.retries
}

// answerMargin is how long before the NAS's deadline a held request is
// answered: a tenth of it, from 250 ms to 2 s (the reply's way back, the
// NAS's timer running a little early).
func answerMargin(total time.Duration) time.Duration {
	return min(max(total/10, 250*time.Millisecond), 2*time.Second)
}

// AnswerBy is when a request the client's NAS sent at start must be
// answered by.
func (c *Client) AnswerBy(start time.Time) time.Time {
	total, _, _ := c.Deadline()
	return start.Add(total - answerMargin(total))
}

// Table is an immutable snapshot of the clients and reply attributes.
type Table struct {
	clients []Client // UDP clients, most specific prefix first
	radsec  []Client // RadSec clients
	groups  map[string][]Attr
}

// RadSec reports whether c is known by its certificate.
func (c *Client) RadSec() bool { return c.CertCN != "" || c.CertFingerprint != "" }

// NewTable makes a snapshot; groupAttrs are added to the Access-Accept of
// users in that group.
func NewTable(clients []Client, groupAttrs map[string][]Attr) *Table {
	cs := make([]Client, 0, len(clients))
	var rs []Client
	for _, c := range clients {
		if c.Prefix.IsValid() {
			c.Prefix = c.Prefix.Masked()
			if c.Prefix.Addr().Is4In6() {
				c.Prefix = netip.PrefixFrom(c.Prefix.Addr().Unmap(), c.Prefix.Bits()-96)
			}
		}
		c.macs = newMACPool(c.Secret)
		c.actor = "radius:" + c.Name
		if c.RadSec() {
			rs = append(rs, c)
		} else {
			cs = append(cs, c)
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Prefix.Bits() > cs[j].Prefix.Bits() })
	return &Table{clients: cs, radsec: rs, groups: groupAttrs}
}

// Lookup finds the client with the most specific prefix holding addr.
func (t *Table) Lookup(addr netip.Addr) *Client {
	addr = addr.Unmap()
	for i := range t.clients {
		if t.clients[i].Prefix.Contains(addr) {
			return &t.clients[i]
		}
	}
	return nil
}

// GroupAttrs are the reply attributes of a user group.
func (t *Table) GroupAttrs(group string) []Attr { return t.groups[group] }

// Len is the number of clients.
func (t *Table) Len() int { return len(t.clients) + len(t.radsec) }

// NotRequiringMA names the clients that accept Access-Requests without
// Message-Authenticator.
func (t *Table) NotRequiringMA() []string {
	var out []string
	for _, c := range t.clients {
		if !c.RequireMA {
			out = append(out, c.Name)
		}
	}
	return out
}
