package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"hash"
	"net/netip"
	"sort"
	"strings"
	"sync"
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
	// Attrs are added to every Access-Accept sent to this client.
	Attrs []Attr

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

// Table is an immutable snapshot of the clients and reply attributes.
type Table struct {
	clients []Client // most specific prefix first
	groups  map[string][]Attr
}

// NewTable makes a snapshot; groupAttrs are added to the Access-Accept of
// users in that group.
func NewTable(clients []Client, groupAttrs map[string][]Attr) *Table {
	cs := make([]Client, len(clients))
	for i, c := range clients {
		c.Prefix = c.Prefix.Masked()
		if c.Prefix.Addr().Is4In6() {
			c.Prefix = netip.PrefixFrom(c.Prefix.Addr().Unmap(), c.Prefix.Bits()-96)
		}
		c.macs = newMACPool(c.Secret)
		c.actor = "radius:" + c.Name
		cs[i] = c
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Prefix.Bits() > cs[j].Prefix.Bits() })
	return &Table{clients: cs, groups: groupAttrs}
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
func (t *Table) Len() int { return len(t.clients) }

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
