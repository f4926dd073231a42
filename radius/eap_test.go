package radius

import (
	"bytes"
	"context"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/auth"
)

func TestEAPMessage(t *testing.T) {
	long := eapPacket{code: eapResponse, id: 7, typ: eapTypeGTC, data: bytes.Repeat([]byte("x"), 600)}
	tests := []struct {
		name    string
		attrs   [][]byte
		want    eapPacket
		wantErr bool
	}{
		{"identity", [][]byte{{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'}}, eapPacket{code: eapResponse, id: 1, typ: eapTypeIdentity, data: []byte("alice")}, false},
		{"success has no type", [][]byte{{3, 9, 0, 4}}, eapPacket{code: eapSuccess, id: 9}, false},
		{"split over attributes", [][]byte{long.encode()[:253], long.encode()[253:506], long.encode()[506:]}, long, false},
		{"length field too long", [][]byte{{2, 1, 0, 20, 1}}, eapPacket{}, true},
		{"too short", [][]byte{{2, 1}}, eapPacket{}, true},
		{"response without a type", [][]byte{{2, 1, 0, 4}}, eapPacket{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := radius.New(radius.CodeAccessRequest, secret)
			for _, a := range tc.attrs {
				p.Attributes.Add(attrEAPMessage, a)
			}
			got, ok, err := eapMessage(p)
			if !ok || (err != nil) != tc.wantErr {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			if !tc.wantErr && (got.code != tc.want.code || got.id != tc.want.id || got.typ != tc.want.typ || !bytes.Equal(got.data, tc.want.data)) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, ok, _ := eapMessage(radius.New(radius.CodeAccessRequest, secret)); ok {
		t.Fatal("a request without EAP-Message has one")
	}
}

// recordAuth records the request it decides and answers with res.
type recordAuth struct {
	got []auth.Request
	res auth.Result
}

func (r *recordAuth) Authenticate(_ context.Context, req auth.Request) auth.Result {
	r.got = append(r.got, req)
	return r.res
}

// The EAP conversation: an Identity is answered with EAP-Request/GTC in a
// challenge; the GTC response goes to auth as the password and is answered
// with EAP-Success; EAP-Message without Message-Authenticator is dropped
// even from a client that does not require it.
func TestEAPConversation(t *testing.T) {
	tab := NewTable([]Client{{Name: "c", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: secret}}, nil)
	ra := &recordAuth{res: auth.Result{Decision: auth.Accept}}
	srv, err := NewServer(context.Background(), Deps{Auth: ra, Source: staticSource{tab}, Config: Config{EAPPrompt: "OTP:"}})
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	exchange := func(eap []byte, state []byte, ma bool) *radius.Packet {
		t.Helper()
		conn := &fakeConn{}
		req := request(t, "alice", "", ma, func(p *radius.Packet) {
			p.Attributes.Del(rfc2865.UserPassword_Type)
			p.Attributes.Add(attrEAPMessage, eap)
			if state != nil {
				rfc2865.State_Set(p, state)
			}
		})
		srv.HandlePacket(conn, req, src)
		srv.wg.Wait()
		if len(conn.out) == 0 {
			return nil
		}
		p, err := radius.Parse(conn.out[0], secret)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := exchange([]byte{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'}, nil, false); p != nil {
		t.Fatalf("EAP without Message-Authenticator answered: %v", p.Code)
	}
	if n := testutil.ToFloat64(srv.metrics.Drops.WithLabelValues(DropMissingMA)); n != 1 {
		t.Fatalf("missing-MA drops %v", n)
	}
	p := exchange([]byte{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'}, nil, true)
	msg, _, _ := eapMessage(p)
	if p.Code != radius.CodeAccessChallenge || msg.code != eapRequest || msg.typ != eapTypeGTC || msg.id != 2 || string(msg.data) != "OTP:" {
		t.Fatalf("identity answered %v with %+v", p.Code, msg)
	}
	state := rfc2865.State_Get(p)
	p = exchange(eapPacket{code: eapResponse, id: 2, typ: eapTypeGTC, data: []byte("123456")}.encode(), state, true)
	msg, _, _ = eapMessage(p)
	if p.Code != radius.CodeAccessAccept || msg.code != eapSuccess || msg.id != 2 {
		t.Fatalf("GTC response answered %v with %+v", p.Code, msg)
	}
	if len(ra.got) != 1 || ra.got[0].Password != "123456" || ra.got[0].Method != "" || len(ra.got[0].State) != 0 {
		t.Fatalf("auth got %+v", ra.got)
	}
	// The conversation's State is used up: a second response is refused.
	ra.res = auth.Result{Reason: auth.ReasonUnknownState}
	p = exchange(eapPacket{code: eapResponse, id: 2, typ: eapTypeGTC, data: []byte("123456")}.encode(), state, true)
	msg, _, _ = eapMessage(p)
	if p.Code != radius.CodeAccessReject || msg.code != eapFailure || len(ra.got[1].State) == 0 {
		t.Fatalf("a used State answered %v with %+v; auth got %+v", p.Code, msg, ra.got[1])
	}
	// A peer that will not do GTC Naks, naming what it wants: refused,
	// with the method for the audit row.
	p = exchange([]byte{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'}, nil, true)
	p = exchange(eapPacket{code: eapResponse, id: 2, typ: eapTypeNak, data: []byte{26, 25}}.encode(), rfc2865.State_Get(p), true)
	msg, _, _ = eapMessage(p)
	if p.Code != radius.CodeAccessReject || msg.code != eapFailure || ra.got[2].Method != "eap-nak(wants mschapv2,peap)" {
		t.Fatalf("a Nak answered %v with %+v; auth got method %q", p.Code, msg, ra.got[2].Method)
	}
	// An EAP method started without our request is refused, named.
	exchange(eapPacket{code: eapResponse, id: 5, typ: 4, data: []byte{16}}.encode(), nil, true)
	if ra.got[3].Method != "eap-md5" {
		t.Fatalf("EAP-MD5 went to auth as method %q", ra.got[3].Method)
	}
}

func FuzzEAPMessage(f *testing.F) {
	f.Add([]byte{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'})
	f.Add([]byte{2, 2, 0, 6, 3, 26})
	f.Add([]byte{3, 9, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := radius.New(radius.CodeAccessRequest, secret)
		for len(b) > 0 {
			n := min(len(b), 253)
			p.Attributes.Add(attrEAPMessage, b[:n])
			b = b[n:]
		}
		msg, _, err := eapMessage(p)
		if err == nil && (msg.code == eapRequest || msg.code == eapResponse) {
			// What parses encodes back to the same packet.
			back, _, err := eapMessage(func() *radius.Packet { q := radius.New(radius.CodeAccessRequest, secret); addEAP(q, msg); return q }())
			if err != nil || back.code != msg.code || back.typ != msg.typ || !bytes.Equal(back.data, msg.data) {
				t.Fatalf("round trip: %+v -> %+v, %v", msg, back, err)
			}
		}
	})
}
