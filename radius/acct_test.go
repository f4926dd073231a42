package radius

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/radmfa/radmfa/store"
)

// acctRequest is a signed Accounting-Request.
func acctRequest(t testing.TB, id byte, session string, status rfc2866.AcctStatusType) []byte {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, secret)
	p.Identifier = id
	rfc2865.UserName_SetString(p, "alice")
	rfc2866.AcctSessionID_SetString(p, session)
	rfc2866.AcctStatusType_Set(p, status)
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chanConn hands each reply to c.
type chanConn struct{ c chan []byte }

func (c *chanConn) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	c.c <- append([]byte(nil), b...)
	return len(b), nil
}

// blockingAcct holds every record until release closes.
type blockingAcct struct {
	release chan struct{}
	mu      sync.Mutex
	got     []store.AcctRecord
}

func (b *blockingAcct) RecordAccounting(ctx context.Context, r store.AcctRecord) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, r)
	return nil
}

// A store that does not record accounting in time never holds up a login:
// accounting has slots of its own, and the requests beyond them are
// dropped (the NAS resends) while Access-Requests are answered.
func TestAccountingNeverBlocksLogins(t *testing.T) {
	tab := NewTable([]Client{{Name: "c", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: secret}}, nil)
	ba := &blockingAcct{release: make(chan struct{})}
	srv, err := NewServer(context.Background(), Deps{Auth: acceptAll{}, Accounting: ba, Source: staticSource{tab}})
	if err != nil {
		t.Fatal(err)
	}
	acctConn, authConn := &fakeConn{}, &chanConn{c: make(chan []byte, 1)}
	for i := range acctInFlight + 10 {
		src := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(20000+i))
		srv.HandleAccounting(acctConn, acctRequest(t, byte(i), "s", rfc2866.AcctStatusType_Value_Start), src)
	}
	if got := testutil.ToFloat64(srv.metrics.Drops.WithLabelValues(DropOverloaded)); got != 10 {
		t.Fatalf("accounting beyond its slots: %v dropped, want 10", got)
	}
	srv.HandlePacket(authConn, request(t, "alice", "123456", true, nil), netip.MustParseAddrPort("127.0.0.1:40000"))
	// Would wait for ever if the login waited on accounting.
	if b := <-authConn.c; b[0] != byte(radius.CodeAccessAccept) {
		t.Fatalf("login answered %d", b[0])
	}
	acctConn.mu.Lock()
	if len(acctConn.out) != 0 {
		t.Fatalf("accounting answered before it was recorded")
	}
	acctConn.mu.Unlock()
	close(ba.release)
	srv.wg.Wait()
	if len(acctConn.out) != acctInFlight || len(ba.got) != acctInFlight {
		t.Fatalf("%d answers, %d recorded; want %d", len(acctConn.out), len(ba.got), acctInFlight)
	}
	for _, b := range acctConn.out {
		if b[0] != byte(radius.CodeAccountingResponse) {
			t.Fatalf("answer code %d", b[0])
		}
	}
}

func TestAccountingRecord(t *testing.T) {
	c := &Client{Name: "fw"}
	tests := []struct {
		name   string
		build  func(p *radius.Packet)
		ok     bool
		status store.AcctStatus
		nas    string
		cause  string
		in     int64
	}{
		{"start with NAS-Identifier", func(p *radius.Packet) {
			rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Start)
			rfc2865.NASIdentifier_SetString(p, "fw-a")
		}, true, store.AcctStart, "fw-a", "", 0},
		{"stop with gigawords and cause", func(p *radius.Packet) {
			rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Stop)
			rfc2866.AcctInputOctets_Set(p, 5)
			p.Add(52, radius.NewInteger(2)) // Acct-Input-Gigawords
			rfc2866.AcctTerminateCause_Set(p, rfc2866.AcctTerminateCause_Value_IdleTimeout)
		}, true, store.AcctStop, "fw", "Idle-Timeout", 2<<32 | 5},
		{"NAS-IP-Address names the NAS", func(p *radius.Packet) {
			rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_AccountingOn)
			rfc2865.NASIPAddress_Set(p, []byte{192, 0, 2, 1})
		}, true, store.AcctOn, "192.0.2.1", "", 0},
		{"tunnel status answered, not recorded", func(p *radius.Packet) {
			rfc2866.AcctStatusType_Set(p, 9)
		}, false, "", "fw", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := radius.New(radius.CodeAccountingRequest, secret)
			tc.build(p)
			r, ok := acctRecord(c, p, time.Unix(1_800_000_000, 0))
			if ok != tc.ok || r.Status != tc.status || r.NAS != tc.nas || r.TerminateCause != tc.cause || r.InOctets != tc.in {
				t.Fatalf("acctRecord = %+v, %v", r, ok)
			}
		})
	}
}

func FuzzHandleAccounting(f *testing.F) {
	f.Add(acctRequest(f, 1, "s", rfc2866.AcctStatusType_Value_Start))
	f.Add([]byte{4, 1, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	tab := NewTable([]Client{{Name: "c", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: secret}}, nil)
	ba := &blockingAcct{release: make(chan struct{})}
	close(ba.release)
	srv, err := NewServer(context.Background(), Deps{Auth: rejectAll{}, Accounting: ba, Source: staticSource{tab}})
	if err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	f.Fuzz(func(t *testing.T, b []byte) {
		conn := &fakeConn{}
		srv.HandleAccounting(conn, b, src)
		srv.wg.Wait()
		for _, out := range conn.out {
			if !radius.IsAuthenticResponse(out, b, secret) {
				t.Fatalf("answer not signed for the request: %x", out)
			}
		}
	})
}
