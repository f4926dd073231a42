package radius

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"unicode/utf8"

	"layeh.com/radius"
)

// attrNames are the attributes of RFC 2865, 2866 and 2869 a NAS sends or
// radmfa answers with, by number, for --debug-packets.
var attrNames = map[radius.Type]string{
	1: "User-Name", 2: "User-Password", 3: "CHAP-Password", 4: "NAS-IP-Address", 5: "NAS-Port", 6: "Service-Type",
	7: "Framed-Protocol", 8: "Framed-IP-Address", 9: "Framed-IP-Netmask", 11: "Filter-Id", 12: "Framed-MTU",
	18: "Reply-Message", 24: "State", 25: "Class", 26: "Vendor-Specific", 27: "Session-Timeout", 28: "Idle-Timeout",
	30: "Called-Station-Id", 31: "Calling-Station-Id", 32: "NAS-Identifier", 33: "Proxy-State", 44: "Acct-Session-Id",
	60: "CHAP-Challenge", 61: "NAS-Port-Type", 64: "Tunnel-Type", 65: "Tunnel-Medium-Type", 77: "Connect-Info",
	79: "EAP-Message", 80: "Message-Authenticator", 81: "Tunnel-Private-Group-ID", 87: "NAS-Port-Id", 95: "NAS-IPv6-Address",
}

// secretAttrs are never printed: the password a user typed, and
// EAP-Message (an EAP-GTC response carries the typed password).
var secretAttrs = map[radius.Type]bool{2: true, 3: true, 79: true}

// ipAttrs hold an IPv4 address.
var ipAttrs = map[radius.Type]bool{4: true, 8: true, 9: true}

// describePacket renders a packet for --debug-packets: its code,
// Identifier and every attribute by name, passwords hidden.
func describePacket(p *radius.Packet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s id=%d", p.Code, p.Identifier)
	for _, a := range p.Attributes {
		name, ok := attrNames[a.Type]
		if !ok {
			name = fmt.Sprintf("Attr-%d", a.Type)
		}
		b.WriteString(" ")
		b.WriteString(name)
		b.WriteString("=")
		switch {
		case secretAttrs[a.Type]:
			fmt.Fprintf(&b, "(hidden, %d bytes)", len(a.Attribute))
		case ipAttrs[a.Type] && len(a.Attribute) == 4:
			b.WriteString(net.IP(a.Attribute).String())
		case a.Type == 26 && len(a.Attribute) >= 4:
			fmt.Fprintf(&b, "vendor:%d:%s", binary.BigEndian.Uint32(a.Attribute), hex.EncodeToString(a.Attribute[4:]))
		case a.Type == 80 || a.Type == 24:
			b.WriteString("0x" + hex.EncodeToString(a.Attribute))
		case printable(a.Attribute):
			fmt.Fprintf(&b, "%q", string(a.Attribute))
		case len(a.Attribute) == 4:
			fmt.Fprintf(&b, "%d", binary.BigEndian.Uint32(a.Attribute))
		default:
			b.WriteString("0x" + hex.EncodeToString(a.Attribute))
		}
	}
	return b.String()
}

func printable(v []byte) bool {
	if len(v) == 0 || !utf8.Valid(v) {
		return false
	}
	for _, r := range string(v) {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// debugPacket logs a packet received from or sent to a NAS, when
// Config.DebugPackets is set.
func (s *Server) debugPacket(dir string, peer netip.AddrPort, client string, p *radius.Packet) {
	if !s.cfg.DebugPackets {
		return
	}
	s.log.Info("radius: packet "+dir, "peer", peer, "client", client, "packet", describePacket(p))
}
