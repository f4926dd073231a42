package radius

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// EAP (RFC 3748) as RADIUS carries it (RFC 3579): radmfa speaks EAP-GTC
// (type 6), whose response is the typed password, so EAP relayed by a NAS
// (strongSwan's eap-radius, 802.1X) is decided like PAP.
const (
	attrEAPMessage = 79

	eapRequest  = 1
	eapResponse = 2
	eapSuccess  = 3
	eapFailure  = 4

	eapTypeIdentity = 1
	eapTypeNak      = 3
	eapTypeGTC      = 6

	// eapSessionTTL bounds an EAP conversation between its round trips
	// (a push held open is one round trip).
	eapSessionTTL = 10 * time.Minute
	// maxEAPSessions bounds the conversations remembered: beyond it a new
	// one is refused, so a flood of EAP-Identities grows no memory.
	maxEAPSessions = 1 << 16
	eapStatePrefix = "radmfa-eap:"
)

// eapPacket is one EAP packet.
type eapPacket struct {
	code, id byte
	typ      byte // for a Request or Response
	data     []byte
}

// eapMessage returns the EAP packet of an Access-Request, reassembled from
// its EAP-Message attributes; ok is false when it has none, err when it is
// malformed.
func eapMessage(pkt *radius.Packet) (p eapPacket, ok bool, err error) {
	var b []byte
	for _, a := range pkt.Attributes {
		if a.Type == attrEAPMessage {
			b = append(b, a.Attribute...)
			ok = true
		}
	}
	if !ok {
		return p, false, nil
	}
	if len(b) < 4 {
		return p, true, fmt.Errorf("EAP packet of %d bytes", len(b))
	}
	if n := int(binary.BigEndian.Uint16(b[2:4])); n != len(b) {
		return p, true, fmt.Errorf("EAP packet of %d bytes with length field %d", len(b), n)
	}
	p.code, p.id = b[0], b[1]
	if p.code == eapRequest || p.code == eapResponse {
		if len(b) < 5 {
			return p, true, fmt.Errorf("EAP request or response without a type")
		}
		p.typ, p.data = b[4], b[5:]
	}
	return p, true, nil
}

// encode is the packet's wire form.
func (p eapPacket) encode() []byte {
	n := 4
	if p.code == eapRequest || p.code == eapResponse {
		n += 1 + len(p.data)
	}
	b := make([]byte, n)
	b[0], b[1] = p.code, p.id
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	if n > 4 {
		b[4] = p.typ
		copy(b[5:], p.data)
	}
	return b
}

// addEAP adds an EAP packet to a reply as EAP-Message attributes of at most
// 253 bytes each.
func addEAP(reply *radius.Packet, p eapPacket) {
	b := p.encode()
	for len(b) > 0 {
		n := min(len(b), 253)
		reply.Attributes.Add(attrEAPMessage, radius.Attribute(b[:n]))
		b = b[n:]
	}
}

// eapTypeName names an EAP method for the audit log.
func eapTypeName(t byte) string {
	switch t {
	case 4:
		return "md5"
	case 5:
		return "otp"
	case eapTypeGTC:
		return "gtc"
	case 13:
		return "tls"
	case 21:
		return "ttls"
	case 25:
		return "peap"
	case 26:
		return "mschapv2"
	case 43:
		return "fast"
	}
	return fmt.Sprintf("type%d", t)
}

// eapSession is one EAP conversation between its round trips, known by
// the RADIUS State of the Access-Challenge that continues it.
type eapSession struct {
	client   string
	identity string
	// id is the Identifier of the EAP-Request sent; the response carries it.
	id byte
	// authState continues auth's own challenge (a push's number, a
	// token reset) inside the conversation.
	authState []byte
	expires   time.Time
}

// eapSessions holds the conversations.
type eapSessions struct {
	mu sync.Mutex
	m  map[string]eapSession
}

func newEAPSessions() *eapSessions { return &eapSessions{m: map[string]eapSession{}} }

// put remembers a conversation and returns its State; ok is false when
// too many are open.
func (e *eapSessions) put(s eapSession, now time.Time) ([]byte, bool) {
	var b [16]byte
	rand.Read(b[:])
	state := eapStatePrefix + hex.EncodeToString(b[:])
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) >= maxEAPSessions {
		for k, v := range e.m {
			if now.After(v.expires) {
				delete(e.m, k)
			}
		}
		if len(e.m) >= maxEAPSessions {
			return nil, false
		}
	}
	s.expires = now.Add(eapSessionTTL)
	e.m[state] = s
	return []byte(state), true
}

// take returns and forgets the conversation a State names.
func (e *eapSessions) take(state []byte, now time.Time) (eapSession, bool) {
	if !strings.HasPrefix(string(state), eapStatePrefix) {
		return eapSession{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.m[string(state)]
	delete(e.m, string(state))
	if !ok || now.After(s.expires) {
		return eapSession{}, false
	}
	return s, true
}

// eapRound is an Access-Request's EAP conversation: what the answer wraps.
type eapRound struct {
	session eapSession
	respID  byte // the EAP Identifier of the response being answered
}

// wrap puts an auth answer into EAP: EAP-Success in an Access-Accept,
// EAP-Failure in an Access-Reject, and a new EAP-Request/GTC (the
// challenge's message as its prompt) in an Access-Challenge whose State
// continues the conversation. ok is false when no conversation can be
// kept (the reply is then a Reject).
func (s *Server) wrapEAP(reply *radius.Packet, round *eapRound, authState []byte, prompt string) bool {
	switch reply.Code {
	case radius.CodeAccessAccept:
		addEAP(reply, eapPacket{code: eapSuccess, id: round.respID})
	case radius.CodeAccessChallenge:
		sess := round.session
		sess.id = round.respID + 1
		sess.authState = authState
		state, ok := s.eap.put(sess, s.now())
		if !ok {
			return false
		}
		reply.Attributes.Del(rfc2865.State_Type)
		rfc2865.State_Set(reply, state)
		if prompt == "" {
			prompt = s.cfg.EAPPrompt
		}
		addEAP(reply, eapPacket{code: eapRequest, id: sess.id, typ: eapTypeGTC, data: []byte(prompt)})
	default:
		addEAP(reply, eapPacket{code: eapFailure, id: round.respID})
	}
	return true
}
