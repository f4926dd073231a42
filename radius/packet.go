package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"hash"

	"layeh.com/radius"
)

const (
	attrMessageAuthenticator = 80
	attrProxyState           = 33
	maLen                    = 16
)

var (
	errMalformed = errors.New("malformed attributes")
	errBadMA     = errors.New("bad Message-Authenticator")
)

// findMA returns the offset of the Message-Authenticator value in a raw
// packet, or -1 when there is none. The packet's attribute area must be
// well formed (radius.Parse checked it).
func findMA(b []byte) (int, error) {
	length := int(binary.BigEndian.Uint16(b[2:4]))
	found := -1
	for i := 20; i < length; {
		if i+2 > length {
			return -1, errMalformed
		}
		t, l := b[i], int(b[i+1])
		if l < 2 || i+l > length {
			return -1, errMalformed
		}
		if t == attrMessageAuthenticator {
			if l != 2+maLen || found >= 0 {
				return -1, errBadMA // wrong size, or twice
			}
			found = i + 2
		}
		i += l
	}
	return found, nil
}

// verifyRequestMA checks a request's Message-Authenticator (RFC 3579 3.2):
// HMAC-MD5 (mac, keyed with the shared secret and fresh) over the packet
// with the attribute's value zeroed. It reports whether the attribute was
// present.
func verifyRequestMA(b []byte, mac hash.Hash) (present bool, err error) {
	off, err := findMA(b)
	if err != nil || off < 0 {
		return false, err
	}
	length := int(binary.BigEndian.Uint16(b[2:4]))
	var got [maLen]byte
	copy(got[:], b[off:off+maLen])
	mac.Write(b[:off])
	var zero [maLen]byte
	mac.Write(zero[:])
	mac.Write(b[off+maLen : length])
	var sum [md5.Size]byte
	if !hmac.Equal(mac.Sum(sum[:0]), got[:]) {
		return true, errBadMA
	}
	return true, nil
}

// newReply starts a reply to req whose first attribute is a zeroed
// Message-Authenticator, filled in by encodeReply; Proxy-State attributes
// are copied in order (RFC 2865 5.33).
func newReply(req *radius.Packet, code radius.Code) *radius.Packet {
	p := req.Response(code)
	p.Attributes = make(radius.Attributes, 0, 8)
	p.Attributes.Add(attrMessageAuthenticator, make(radius.Attribute, maLen))
	for _, avp := range req.Attributes {
		if avp.Type == attrProxyState {
			p.Attributes.Add(attrProxyState, avp.Attribute)
		}
	}
	return p
}

// encodeReply signs a reply made by newReply: the Message-Authenticator is
// computed (mac: HMAC-MD5 keyed with p.Secret, fresh) with the request
// authenticator in place (RFC 3579 3.2), then the Response Authenticator
// over the whole packet (RFC 2865 3).
func encodeReply(p *radius.Packet, mac hash.Hash) ([]byte, error) {
	b, err := p.MarshalBinary() // Authenticator is still the request's
	if err != nil {
		return nil, err
	}
	if len(b) < 20+2+maLen || b[20] != attrMessageAuthenticator {
		return nil, errors.New("radius: reply does not start with Message-Authenticator")
	}
	var sum [md5.Size]byte
	mac.Write(b)
	copy(b[22:22+maLen], mac.Sum(sum[:0]))
	h := md5.New()
	h.Write(b)
	h.Write(p.Secret)
	copy(b[4:20], h.Sum(sum[:0]))
	return b, nil
}
