package radius

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/radmfa/radmfa/store"
)

// Accounter records accounting (RFC 2866); store.Store is one.
type Accounter interface {
	RecordAccounting(ctx context.Context, r store.AcctRecord) error
}

// acctInFlight bounds the Accounting-Requests being recorded at once; more
// are dropped (the NAS resends them), so accounting never takes the
// evaluation slots of logins.
const acctInFlight = 256

// HandleAccounting processes one datagram read from an accounting socket:
// an Accounting-Request is verified with the client's secret, recorded,
// and answered with an Accounting-Response once it is durable (RFC 2866
// 4.1: never before); a retransmission is answered from the reply cache.
// Status-Server is answered too (RFC 5997). It never panics on any input.
func (s *Server) HandleAccounting(conn PacketConn, b []byte, src netip.AddrPort) {
	if client := s.datagramClient(b, src, "accounting"); client != nil {
		s.handleAccounting(conn, b, src, client)
	}
}

// handleAccounting processes one accounting packet of client's.
func (s *Server) handleAccounting(conn PacketConn, b []byte, src netip.AddrPort, client *Client) {
	data := make([]byte, len(b))
	copy(data, b)
	pkt, err := radius.Parse(data, client.Secret)
	if err != nil {
		s.drop(DropMalformed, "client", client.Name, "err", err)
		return
	}
	switch pkt.Code {
	case radius.CodeAccountingRequest:
		s.metrics.Requests.WithLabelValues("accounting_request").Inc()
	case radius.CodeStatusServer:
		s.metrics.Requests.WithLabelValues("status_server").Inc()
		mac := client.mac()
		_, err := verifyRequestMA(data, mac)
		client.putMAC(mac)
		if err != nil {
			s.drop(DropBadMA, "client", client.Name, "src", src)
			return
		}
		// RFC 5997 3.2: on the accounting port, Accounting-Response.
		if b, err := acctResponse(pkt).Encode(); err == nil {
			if _, err := conn.WriteToUDPAddrPort(b, src); err == nil {
				s.metrics.Responses.WithLabelValues("status_server").Inc()
			}
		}
		return
	case radius.CodeAccessRequest:
		s.metrics.Requests.WithLabelValues("access_request").Inc()
		s.drop(DropWrongPort, "client", client.Name, "src", src)
		return
	default:
		s.metrics.Requests.WithLabelValues("other").Inc()
		s.drop(DropUnsupportedCode, "client", client.Name, "code", pkt.Code)
		return
	}
	if !radius.IsAuthenticRequest(data, client.Secret) {
		s.drop(DropBadAcctAuth, "client", client.Name, "src", src)
		if ok, held := s.logs.allow(DropBadAcctAuth, client.Name, s.now()); ok {
			s.log.Warn("radius: Accounting-Request with a bad Request Authenticator dropped (wrong shared secret?)", "client", client.Name, "src", src, "held_back", held)
		}
		return
	}
	s.debugPacket("in", src, client.Name, pkt)
	key, ok := s.admit(conn, src, client, pkt, s.acctSem)
	if !ok {
		return
	}
	c := *client
	go func() {
		defer func() {
			<-s.acctSem
			s.wg.Done()
		}()
		s.account(conn, src, &c, pkt, key)
	}()
}

// account records one Accounting-Request and answers it.
func (s *Server) account(conn PacketConn, src netip.AddrPort, client *Client, pkt *radius.Packet, key dupKey) {
	rec, ok := acctRecord(client, pkt, s.now())
	if ok {
		if s.acct == nil {
			s.cache.abort(key)
			s.drop(DropAcctNotRecorded, "client", client.Name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
		err := s.acct.RecordAccounting(ctx, rec)
		cancel()
		if err != nil {
			s.cache.abort(key)
			s.drop(DropAcctNotRecorded, "client", client.Name)
			if ok, held := s.logs.allow(DropAcctNotRecorded, client.Name, s.now()); ok {
				msg := "radius: accounting not recorded; the NAS will resend it"
				if errors.Is(err, store.ErrInvalid) {
					msg = "radius: accounting record refused; fix the NAS's accounting attributes"
				}
				s.log.Warn(msg, "client", client.Name, "status", rec.Status, "held_back", held, "err", err)
			}
			return
		}
	}
	reply := acctResponse(pkt)
	s.debugPacket("out", src, client.Name, reply)
	b, err := reply.Encode() // signs the Response Authenticator
	if err != nil {
		s.cache.abort(key)
		s.drop(DropSendFailed, "err", err)
		return
	}
	s.cache.finish(key, b, s.now())
	if _, err := conn.WriteToUDPAddrPort(b, src); err != nil {
		s.drop(DropSendFailed, "err", err)
		return
	}
	s.metrics.Responses.WithLabelValues("accounting_response").Inc()
}

// acctResponse is the Accounting-Response to req: Proxy-State copied back
// and no Message-Authenticator (RFC 2866 answers carry none; RadSec and
// FreeRADIUS's radclient expect none).
func acctResponse(req *radius.Packet) *radius.Packet {
	p := req.Response(radius.CodeAccountingResponse)
	p.Attributes = nil
	for _, avp := range req.Attributes {
		if avp.Type == attrProxyState {
			p.Attributes.Add(attrProxyState, avp.Attribute)
		}
	}
	return p
}

// acctRecord is what an Accounting-Request records; ok is false for a
// status radmfa keeps no session for (it is answered all the same).
func acctRecord(client *Client, pkt *radius.Packet, now time.Time) (store.AcctRecord, bool) {
	r := store.AcctRecord{
		At:             now,
		Client:         client.Name,
		NAS:            rfc2865.NASIdentifier_GetString(pkt),
		SessionID:      rfc2866.AcctSessionID_GetString(pkt),
		User:           rfc2865.UserName_GetString(pkt),
		CallingStation: rfc2865.CallingStationID_GetString(pkt),
		SessionTime:    int64(rfc2866.AcctSessionTime_Get(pkt)),
		InOctets:       int64(rfc2869.AcctInputGigawords_Get(pkt))<<32 | int64(rfc2866.AcctInputOctets_Get(pkt)),
		OutOctets:      int64(rfc2869.AcctOutputGigawords_Get(pkt))<<32 | int64(rfc2866.AcctOutputOctets_Get(pkt)),
	}
	if ip := rfc2865.FramedIPAddress_Get(pkt); ip != nil {
		r.FramedIP = ip.String()
	}
	if r.NAS == "" {
		if ip := rfc2865.NASIPAddress_Get(pkt); ip != nil {
			r.NAS = ip.String()
		} else {
			r.NAS = client.Name
		}
	}
	if delay := rfc2866.AcctDelayTime_Get(pkt); delay > 0 && delay < 86400 {
		// RFC 2866 5.2: the event happened this many seconds before.
		r.At = now.Add(-time.Duration(delay) * time.Second)
	}
	switch rfc2866.AcctStatusType_Get(pkt) {
	case rfc2866.AcctStatusType_Value_Start:
		r.Status = store.AcctStart
	case rfc2866.AcctStatusType_Value_InterimUpdate:
		r.Status = store.AcctInterim
	case rfc2866.AcctStatusType_Value_Stop:
		r.Status = store.AcctStop
		if _, ok := pkt.Lookup(rfc2866.AcctTerminateCause_Type); ok {
			r.TerminateCause = rfc2866.AcctTerminateCause_Get(pkt).String()
		}
	case rfc2866.AcctStatusType_Value_AccountingOn:
		r.Status = store.AcctOn
	case rfc2866.AcctStatusType_Value_AccountingOff:
		r.Status = store.AcctOff
	default:
		return r, false
	}
	return r, true
}
