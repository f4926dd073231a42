package radius

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"layeh.com/radius"
	"layeh.com/radius/dictionary"
)

// Attr is an encoded reply attribute, ready to add to a packet.
type Attr struct {
	Type  radius.Type
	Value radius.Attribute
}

// Dictionary names the attributes an admin may put in replies.
type Dictionary struct {
	d *dictionary.Dictionary
}

type fsFile struct {
	fs.File
	name string
}

func (f fsFile) Name() string { return f.name }

type fsOpener struct{ fsys fs.FS }

func (o fsOpener) OpenFile(name string) (dictionary.File, error) {
	name = path.Clean(strings.TrimPrefix(name, "/"))
	f, err := o.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	return fsFile{File: f, name: name}, nil
}

// LoadDictionary parses root in fsys and, if given, extra files from disk.
func LoadDictionary(fsys fs.FS, root string, extra ...string) (*Dictionary, error) {
	p := &dictionary.Parser{Opener: fsOpener{fsys}, IgnoreIdenticalAttributes: true}
	f, err := p.Opener.OpenFile(root)
	if err != nil {
		return nil, fmt.Errorf("radius: dictionary %s: %w", root, err)
	}
	d, err := p.Parse(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("radius: dictionary: %w", err)
	}
	for _, file := range extra {
		xp := &dictionary.Parser{Opener: &dictionary.FileSystemOpener{}, IgnoreIdenticalAttributes: true}
		x, err := xp.ParseFile(file)
		if err != nil {
			return nil, fmt.Errorf("radius: dictionary %s: %w", file, err)
		}
		if d, err = dictionary.Merge(d, x); err != nil {
			return nil, fmt.Errorf("radius: dictionary %s: %w", file, err)
		}
	}
	return &Dictionary{d: d}, nil
}

// Encode turns "Name" and a value written as text into an attribute.
// Vendor attributes come back as Vendor-Specific (26).
func (d *Dictionary) Encode(name, value string) (Attr, error) {
	if a := dictionary.AttributeByName(d.d.Attributes, name); a != nil {
		if len(a.OID) != 1 || a.OID[0] < 1 || a.OID[0] > 255 {
			return Attr{}, fmt.Errorf("radius: attribute %s: nested attributes are not supported", name)
		}
		v, err := encodeValue(a, d.d.Values, value)
		if err != nil {
			return Attr{}, err
		}
		return Attr{Type: radius.Type(a.OID[0]), Value: v}, nil
	}
	for _, vendor := range d.d.Vendors {
		a := dictionary.AttributeByName(vendor.Attributes, name)
		if a == nil {
			continue
		}
		if vendor.GetTypeOctets() != 1 || vendor.GetLengthOctets() != 1 || len(a.OID) != 1 || a.OID[0] > 255 {
			return Attr{}, fmt.Errorf("radius: attribute %s: vendor format not supported", name)
		}
		v, err := encodeValue(a, vendor.Values, value)
		if err != nil {
			return Attr{}, err
		}
		if len(v) > 247 {
			return Attr{}, fmt.Errorf("radius: attribute %s: value too long (%d bytes, at most 247)", name, len(v))
		}
		vsa := make(radius.Attribute, 6, 6+len(v))
		binary.BigEndian.PutUint32(vsa[:4], uint32(vendor.Number))
		vsa[4] = byte(a.OID[0])
		vsa[5] = byte(2 + len(v))
		vsa = append(vsa, v...)
		return Attr{Type: 26, Value: vsa}, nil
	}
	return Attr{}, fmt.Errorf("radius: unknown attribute %q (not in the dictionaries)", name)
}

func encodeValue(a *dictionary.Attribute, values []*dictionary.Value, s string) (radius.Attribute, error) {
	switch a.Type {
	case dictionary.AttributeString:
		if s == "" || len(s) > 253 {
			return nil, fmt.Errorf("radius: attribute %s: a string of 1 to 253 bytes", a.Name)
		}
		return radius.Attribute(s), nil
	case dictionary.AttributeOctets:
		b := []byte(s)
		if strings.HasPrefix(s, "0x") {
			var err error
			if b, err = hex.DecodeString(s[2:]); err != nil {
				return nil, fmt.Errorf("radius: attribute %s: bad hex value", a.Name)
			}
		}
		if len(b) == 0 || len(b) > 253 {
			return nil, fmt.Errorf("radius: attribute %s: 1 to 253 bytes", a.Name)
		}
		return radius.Attribute(b), nil
	case dictionary.AttributeInteger:
		for _, v := range dictionary.ValuesByAttribute(values, a.Name) {
			if strings.EqualFold(v.Name, s) {
				return radius.NewInteger(uint32(v.Number)), nil
			}
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("radius: attribute %s: %q is not a 32-bit number or a known value", a.Name, s)
		}
		return radius.NewInteger(uint32(n)), nil
	case dictionary.AttributeIPAddr:
		ip, err := netip.ParseAddr(s)
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("radius: attribute %s: %q is not an IPv4 address", a.Name, s)
		}
		b := ip.As4()
		return radius.Attribute(b[:]), nil
	}
	return nil, fmt.Errorf("radius: attribute %s: type %s not supported in replies", a.Name, a.Type)
}

// ParseAttr reads "Name=value" (or "Name = value").
func (d *Dictionary) ParseAttr(s string) (name, value string, a Attr, err error) {
	name, value, ok := strings.Cut(s, "=")
	name, value = strings.TrimSpace(name), strings.Trim(strings.TrimSpace(value), `"`)
	if !ok || name == "" {
		return "", "", Attr{}, fmt.Errorf("radius: %q: want Name=value", s)
	}
	a, err = d.Encode(name, value)
	return name, value, a, err
}
