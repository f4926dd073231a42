// Package geoip says where a login comes from: the city and country of
// the address a VPN concentrator sends as Calling-Station-Id, from a
// MaxMind-format database (GeoLite2-City or GeoIP2-City, .mmdb) the
// administrator downloads, read with github.com/oschwald/maxminddb-golang.
package geoip

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Locator looks addresses up in a database.
type Locator struct {
	db *maxminddb.Reader
}

// Open opens a .mmdb file.
func Open(file string) (*Locator, error) {
	db, err := maxminddb.Open(file)
	if err != nil {
		return nil, fmt.Errorf("geoip: %s: %w", file, err)
	}
	if t := db.Metadata.DatabaseType; !strings.Contains(t, "City") && !strings.Contains(t, "Country") {
		db.Close()
		return nil, fmt.Errorf("geoip: %s is a %q database, not a City or Country one", file, t)
	}
	return &Locator{db: db}, nil
}

// Close closes the database.
func (l *Locator) Close() error { return l.db.Close() }

// record is the part of a City record radmfa shows.
type record struct {
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
}

// Locate says where station (a Calling-Station-Id) is: "City, Country",
// "Country", "private address", or "unknown" (not an address, or not in
// the database). It never fails: a login is not refused for its place.
func (l *Locator) Locate(station string) string {
	addr, err := netip.ParseAddr(strings.TrimSpace(station))
	if err != nil {
		return "unknown"
	}
	addr = addr.Unmap()
	if addr.IsPrivate() || addr.IsLoopback() || addr.IsLinkLocalUnicast() || addr.IsUnspecified() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(addr) {
		return "private address"
	}
	var r record
	res := l.db.Lookup(addr)
	if !res.Found() || res.Decode(&r) != nil {
		return "unknown"
	}
	country := r.Country.Names["en"]
	if country == "" {
		country = r.Country.ISOCode
	}
	city := r.City.Names["en"]
	switch {
	case city != "" && country != "":
		return city + ", " + country
	case country != "":
		return country
	}
	return "unknown"
}
