package radius

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/auth"
	"github.com/radmfa/radmfa/dictionaries"
)

var secret = []byte("testing123")

func TestTableMostSpecificWins(t *testing.T) {
	tab := NewTable([]Client{
		{Name: "wide", Prefix: netip.MustParsePrefix("10.0.0.0/8")},
		{Name: "host", Prefix: netip.MustParsePrefix("10.1.2.3/32")},
		{Name: "mid", Prefix: netip.MustParsePrefix("10.1.0.0/16")},
		{Name: "v6", Prefix: netip.MustParsePrefix("2001:db8::/32")},
	}, nil)
	tests := []struct {
		addr, want string
	}{
		{"10.1.2.3", "host"},
		{"10.1.2.4", "mid"},
		{"10.2.0.1", "wide"},
		{"::ffff:10.1.2.3", "host"},
		{"2001:db8::1", "v6"},
		{"192.0.2.1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			c := tab.Lookup(netip.MustParseAddr(tc.addr))
			got := ""
			if c != nil {
				got = c.Name
			}
			if got != tc.want {
				t.Fatalf("Lookup(%s) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

func TestReplyCache(t *testing.T) {
	c := newReplyCache(30 * time.Second)
	now := time.Unix(1000, 0)
	k := newDupKey(netip.MustParseAddrPort("127.0.0.1:5000"), 7, [16]byte{})
	if st, _ := c.begin(k, now); st != dupNew {
		t.Fatalf("first: %v", st)
	}
	if st, _ := c.begin(k, now); st != dupInFlight {
		t.Fatalf("while in flight: %v", st)
	}
	c.finish(k, []byte("reply"), now)
	if st, b := c.begin(k, now.Add(29*time.Second)); st != dupAnswered || string(b) != "reply" {
		t.Fatalf("answered: %v %q", st, b)
	}
	other := k
	other.auth[0] = 1
	if st, _ := c.begin(other, now); st != dupNew {
		t.Fatalf("other authenticator: %v", st)
	}
	c.abort(other)
	c.sweep(now.Add(31 * time.Second))
	if c.len() != 0 {
		t.Fatalf("%d entries after expiry", c.len())
	}
	if st, _ := c.begin(k, now.Add(31*time.Second)); st != dupNew {
		t.Fatalf("after expiry: %v", st)
	}
}

// TestReplyCacheBurst fills the cache past many ring blocks and chunks,
// with replies of every size up to a full packet, and checks that each
// retransmission gets its own bytes back, that answers expire oldest first,
// and that the memory of the burst is given back.
func TestReplyCacheBurst(t *testing.T) {
	c := newReplyCache(time.Second)
	t0 := time.Unix(1000, 0)
	const n = 5000
	key := func(i int) dupKey {
		return newDupKey(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(i)), byte(i), [16]byte{byte(i >> 8)})
	}
	reply := func(i int) []byte {
		b := make([]byte, 1+(i*7919)%radius.MaxPacketLength)
		for j := range b {
			b[j] = byte(i + j)
		}
		return b
	}
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Microsecond)
		if st, _ := c.begin(key(i), at); st != dupNew {
			t.Fatalf("request %d: %v", i, st)
		}
		c.finish(key(i), reply(i), at)
	}
	if len(c.chunks) < 100 || len(c.blocks) < 4 {
		t.Fatalf("%d chunks, %d blocks for %d replies: the test does not cross them", len(c.chunks), len(c.blocks), n)
	}
	check := func(at time.Time, from int) {
		t.Helper()
		for i := range n {
			st, b := c.begin(key(i), at)
			switch {
			case i < from && st != dupNew:
				t.Fatalf("request %d after its expiry: %v", i, st)
			case i < from:
				c.abort(key(i))
			case st != dupAnswered || !bytes.Equal(b, reply(i)):
				t.Fatalf("request %d: %v, %d bytes, want its %d-byte reply", i, st, len(b), len(reply(i)))
			}
		}
	}
	check(t0.Add(time.Second-time.Millisecond), 0)
	// Answers 0..1500 expired at 1 s + i us <= 1.0015 s.
	c.sweep(t0.Add(time.Second + 1500*time.Microsecond))
	if got := c.len(); got != n-1501 {
		t.Fatalf("%d entries after sweeping, want %d", got, n-1501)
	}
	check(t0.Add(time.Second+1500*time.Microsecond), 1501)
	c.sweep(t0.Add(time.Hour))
	if c.len() != 0 || len(c.chunks) != 0 || len(c.blocks) != 0 || c.peak != 0 {
		t.Fatalf("after the burst: %d entries, %d chunks, %d blocks, peak %d", c.len(), len(c.chunks), len(c.blocks), c.peak)
	}
	if len(c.spare) > spareChunks || len(c.spareBlocks) > spareBlocks {
		t.Fatalf("%d spare chunks, %d spare blocks kept", len(c.spare), len(c.spareBlocks))
	}
	// The cache works on after being emptied.
	k := key(1)
	c.begin(k, t0.Add(time.Hour))
	c.finish(k, []byte("again"), t0.Add(time.Hour))
	if st, b := c.begin(k, t0.Add(time.Hour)); st != dupAnswered || string(b) != "again" {
		t.Fatalf("after emptying: %v %q", st, b)
	}
}

// TestReplyCacheNeverMovesAnswers: the ring grows a block at a time, so
// answers already cached stay where they are (a ring copied to grow held
// the lock, and every request, for milliseconds).
func TestReplyCacheNeverMovesAnswers(t *testing.T) {
	c := newReplyCache(time.Minute)
	now := time.Unix(1000, 0)
	add := func(i int) {
		k := newDupKey(netip.MustParseAddrPort("10.0.0.2:1812"), byte(i), [16]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		c.begin(k, now)
		c.finish(k, []byte{byte(i)}, now)
	}
	add(0)
	first := &c.blocks[0][0]
	for i := 1; i < 8*answerBlock; i++ {
		add(i)
	}
	if len(c.blocks) != 8 || &c.blocks[0][0] != first {
		t.Fatalf("%d blocks; first answer moved: %v", len(c.blocks), &c.blocks[0][0] != first)
	}
}

// TestReplyCacheExpiresAsItGoes: each new answer retires expired ones, so
// a steady load keeps the cache at one TTL of answers between sweeps.
func TestReplyCacheExpiresAsItGoes(t *testing.T) {
	c := newReplyCache(time.Second)
	t0 := time.Unix(1000, 0)
	add := func(i int, at time.Time) {
		k := newDupKey(netip.MustParseAddrPort("10.0.0.3:1812"), byte(i), [16]byte{byte(i), byte(i >> 8)})
		c.begin(k, at)
		c.finish(k, []byte("r"), at)
	}
	for i := range 3000 {
		add(i, t0)
	}
	for i := 3000; i < 4500; i++ {
		add(i, t0.Add(2*time.Second))
	}
	if got := c.len(); got != 1500 {
		t.Fatalf("%d answers cached, want the 1500 unexpired", got)
	}
	// Answers 3000..4499 live in the blocks of 2048..5119; the two
	// before are freed.
	if len(c.blocks) != 3 || c.base != 2048 {
		t.Fatalf("%d blocks from %d for answers 3000..4499", len(c.blocks), c.base)
	}
}

// BenchmarkReplyCache is the cache at a steady 30 s of answers at 20,000
// requests per second, swept every 2 s as Serve does. max-us is the
// longest single request (begin, finish and any sweep): every request
// waits for the cache's lock.
func BenchmarkReplyCache(b *testing.B) {
	c := newReplyCache(30 * time.Second)
	now := time.Unix(1000, 0)
	reply := make([]byte, 38)
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	i := 0
	step := func() {
		var auth [16]byte
		binary.BigEndian.PutUint64(auth[:], uint64(i))
		k := newDupKey(src, byte(i), auth)
		c.begin(k, now)
		c.finish(k, reply, now)
		i++
		now = now.Add(50 * time.Microsecond)
		if i%40000 == 0 {
			c.sweep(now)
		}
	}
	for range 600000 {
		step()
	}
	var longest time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		step()
		longest = max(longest, time.Since(t))
	}
	b.ReportMetric(float64(longest.Microseconds()), "max-us")
}

// BenchmarkReplyCacheFill fills an empty cache with a million answers (50
// seconds at 20,000 requests per second, all kept); max-us is the longest
// single request.
func BenchmarkReplyCacheFill(b *testing.B) {
	reply := make([]byte, 38)
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	var longest time.Duration
	for b.Loop() {
		c := newReplyCache(time.Hour)
		now := time.Unix(1000, 0)
		for i := range 1 << 20 {
			var auth [16]byte
			binary.BigEndian.PutUint64(auth[:], uint64(i))
			k := newDupKey(src, byte(i), auth)
			t := time.Now()
			c.begin(k, now)
			c.finish(k, reply, now)
			longest = max(longest, time.Since(t))
			now = now.Add(50 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(longest.Microseconds()), "max-us")
}

// request builds an Access-Request, with a valid Message-Authenticator if ma.
func request(t testing.TB, user, pw string, ma bool, extra func(*radius.Packet)) []byte {
	p := radius.New(radius.CodeAccessRequest, secret)
	rfc2865.UserName_SetString(p, user)
	rfc2865.UserPassword_SetString(p, pw)
	if extra != nil {
		extra(p)
	}
	if ma {
		p.Attributes.Add(attrMessageAuthenticator, make(radius.Attribute, 16))
	}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if ma {
		off, _ := findMA(b)
		m := hmac.New(md5.New, secret)
		m.Write(b)
		copy(b[off:], m.Sum(nil))
	}
	return b
}

func TestRequestMessageAuthenticator(t *testing.T) {
	good := request(t, "u", "p", true, nil)
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name    string
		pkt     []byte
		secret  []byte
		present bool
		ok      bool
	}{
		{"valid", good, secret, true, true},
		{"absent", request(t, "u", "p", false, nil), secret, false, true},
		{"wrong secret", good, []byte("other"), true, false},
		{"tampered", tampered, secret, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewTable([]Client{{Name: "c", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: tc.secret}}, nil).
				Lookup(netip.MustParseAddr("127.0.0.1"))
			// The client's keyed HMACs are pooled: each use must start
			// from the key alone, whatever the one before left.
			for i := range 3 {
				mac := c.mac()
				present, err := verifyRequestMA(tc.pkt, mac)
				c.putMAC(mac)
				if present != tc.present || (err == nil) != tc.ok {
					t.Fatalf("use %d: got present=%v err=%v", i+1, present, err)
				}
			}
		})
	}
}

func TestEncodeReplySignsAndPutsMAFirst(t *testing.T) {
	raw := request(t, "u", "p", false, func(p *radius.Packet) {
		p.Attributes.Add(attrProxyState, radius.Attribute("ps-1"))
		p.Attributes.Add(attrProxyState, radius.Attribute("ps-2"))
	})
	req, err := radius.Parse(raw, secret)
	if err != nil {
		t.Fatal(err)
	}
	reply := newReply(req, radius.CodeAccessReject)
	rfc2865.ReplyMessage_SetString(reply, "hello")
	b, err := encodeReply(reply, hmac.New(md5.New, secret))
	if err != nil {
		t.Fatal(err)
	}
	if !radius.IsAuthenticResponse(b, raw, secret) {
		t.Fatal("response authenticator does not verify")
	}
	if b[20] != attrMessageAuthenticator || b[21] != 18 {
		t.Fatal("Message-Authenticator is not the first attribute")
	}
	// Verify the MA as a NAS would: request authenticator in place, MA zeroed.
	chk := append([]byte(nil), b...)
	copy(chk[4:20], raw[4:20])
	got := append([]byte(nil), chk[22:38]...)
	copy(chk[22:38], make([]byte, 16))
	m := hmac.New(md5.New, secret)
	m.Write(chk)
	if !hmac.Equal(m.Sum(nil), got) {
		t.Fatal("Message-Authenticator does not verify")
	}
	parsed, _ := radius.Parse(b, secret)
	var ps [][]byte
	for _, a := range parsed.Attributes {
		if a.Type == attrProxyState {
			ps = append(ps, a.Attribute)
		}
	}
	if len(ps) != 2 || string(ps[0]) != "ps-1" || string(ps[1]) != "ps-2" {
		t.Fatalf("Proxy-State = %q", ps)
	}
}

func TestDictionaryEncode(t *testing.T) {
	d, err := LoadDictionary(dictionaries.FS, dictionaries.Root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, attr, value string
		typ               radius.Type
		want              []byte
		ok                bool
	}{
		{"filter-id", "Filter-Id", "staff", 11, []byte("staff"), true},
		{"class hex", "Class", "0x0102", 25, []byte{1, 2}, true},
		{"session-timeout", "Session-Timeout", "3600", 27, []byte{0, 0, 0x0e, 0x10}, true},
		{"service-type by name", "Service-Type", "Framed-User", 6, []byte{0, 0, 0, 2}, true},
		{"cisco avpair", "Cisco-AVPair", "shell:priv-lvl=15", 26, append([]byte{0, 0, 0, 9, 1, 19}, "shell:priv-lvl=15"...), true},
		{"fortinet group", "Fortinet-Group-Name", "vpn", 26, []byte{0, 0, 0x30, 0x44, 1, 5, 'v', 'p', 'n'}, true},
		{"paloalto", "PaloAlto-User-Group", "g", 26, []byte{0, 0, 0x63, 0x75, 5, 3, 'g'}, true},
		{"microsoft dns", "MS-Primary-DNS-Server", "10.0.0.1", 26, []byte{0, 0, 1, 0x37, 28, 6, 10, 0, 0, 1}, true},
		{"juniper", "Juniper-Local-User-Name", "ro", 26, []byte{0, 0, 0x0a, 0x4c, 1, 4, 'r', 'o'}, true},
		{"unknown", "Nope-Attr", "x", 0, nil, false},
		{"bad integer", "Session-Timeout", "soon", 0, nil, false},
		{"bad ip", "MS-Primary-DNS-Server", "dns.example", 0, nil, false},
		{"empty string", "Filter-Id", "", 0, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := d.Encode(tc.attr, tc.value)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
			if tc.ok && (a.Type != tc.typ || !bytes.Equal(a.Value, tc.want)) {
				t.Fatalf("got %d %x, want %d %x", a.Type, a.Value, tc.typ, tc.want)
			}
		})
	}
}

// fakeConn records what the server writes.
type fakeConn struct {
	mu  sync.Mutex
	out [][]byte
}

func (f *fakeConn) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = append(f.out, append([]byte(nil), b...))
	return len(b), nil
}

type staticSource struct{ t *Table }

func (s staticSource) Version(context.Context) (int64, error) { return 1, nil }
func (s staticSource) Load(context.Context) (*Table, error)   { return s.t, nil }

type rejectAll struct{}

func (rejectAll) Authenticate(context.Context, auth.Request) auth.Result { return auth.Result{} }

func FuzzHandlePacket(f *testing.F) {
	f.Add(request(f, "alice", "123456", true, nil))
	f.Add(request(f, "alice", "", false, nil))
	f.Add([]byte{12, 1, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(request(f, "alice", "", true, func(p *radius.Packet) {
		p.Attributes.Add(79, []byte{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'}) // EAP-Identity
	}))
	f.Add(request(f, "alice", "", true, func(p *radius.Packet) {
		p.Attributes.Add(79, []byte{2, 2, 0, 11, 6, '1', '2', '3', '4', '5', '6'}) // EAP-GTC response
		p.Attributes.Add(24, []byte("radmfa-eap:00"))
	}))
	f.Add([]byte{1, 1, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 80, 18})
	tab := NewTable([]Client{{Name: "c", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: secret}}, nil)
	srv, err := NewServer(context.Background(), Deps{Auth: rejectAll{}, Source: staticSource{tab}})
	if err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	f.Fuzz(func(t *testing.T, b []byte) {
		conn := &fakeConn{}
		srv.HandlePacket(conn, b, src)
		srv.wg.Wait()
		for _, out := range conn.out {
			if len(out) < 38 || out[20] != attrMessageAuthenticator {
				t.Fatalf("reply without Message-Authenticator first: %x", out)
			}
		}
	})
}

type acceptAll struct{}

func (acceptAll) Authenticate(context.Context, auth.Request) auth.Result {
	return auth.Result{Decision: auth.Accept}
}

// BenchmarkHandlePacket is the packet path without the decision: parse,
// client lookup, Message-Authenticator, duplicate cache, PAP decoding,
// signed reply.
func BenchmarkHandlePacket(b *testing.B) {
	tab := NewTable([]Client{{Name: "c", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: secret}}, nil)
	srv, err := NewServer(context.Background(), Deps{Auth: acceptAll{}, Source: staticSource{tab}})
	if err != nil {
		b.Fatal(err)
	}
	pkts := make([][]byte, 4096)
	for i := range pkts {
		pkts[i] = request(b, "alice", "123456", true, nil)
	}
	conn := &fakeConn{}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	i := 0
	for b.Loop() {
		srv.HandlePacket(conn, pkts[i%len(pkts)], src)
		i++
		if i%len(pkts) == 0 {
			srv.wg.Wait()
			conn.out = conn.out[:0]
			srv.cache = newReplyCache(time.Minute)
		}
	}
	srv.wg.Wait()
}

// clientRecorder accepts everyone and records which client each request
// came from.
type clientRecorder struct {
	mu      sync.Mutex
	clients map[string]int
}

func (c *clientRecorder) Authenticate(_ context.Context, r auth.Request) auth.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clients[r.Client]++
	return auth.Result{Decision: auth.Accept}
}

// serveOn runs a Server deciding with a and tab on conns until the test
// ends, and then checks that Serve returned cleanly.
func serveOn(t *testing.T, conns []*net.UDPConn, a Authenticator, tab *Table) *Server {
	t.Helper()
	srv, err := NewServer(context.Background(), Deps{Auth: a, Source: staticSource{tab}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, conns) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return srv
}

// TestServeReadsBursts sends bursts of requests at real sockets faster
// than they are read: the batched reads answer every one, see each
// source as the client table knows it (plain IPv4 on an IPv4 socket, IPv6
// on an IPv6 one), and drop a datagram longer than a RADIUS packet.
func TestServeReadsBursts(t *testing.T) {
	tests := []struct {
		name, listen, dial, client string
	}{
		{"ipv4", "127.0.0.1:0", "127.0.0.1", "v4"},
		{"ipv6", "[::1]:0", "::1", "v6"},
		// The default listener (:1812) is a dual-stack IPv6 socket; an
		// IPv4 NAS reaches it as an IPv4-mapped address.
		{"ipv4 on the dual-stack wildcard", ":0", "127.0.0.1", "v4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conns, err := Listen([]string{tc.listen})
			if err != nil {
				t.Skipf("no %s loopback here: %v", tc.name, err)
			}
			rec := &clientRecorder{clients: map[string]int{}}
			tab := NewTable([]Client{
				{Name: "v4", Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: secret},
				{Name: "v6", Prefix: netip.MustParsePrefix("::1/128"), Secret: secret},
			}, nil)
			srv := serveOn(t, conns, rec, tab)
			port := conns[0].LocalAddr().(*net.UDPAddr).Port
			c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(tc.dial), Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const burst = 200
			reqs := make(map[byte][]byte)
			for i := range burst {
				p := radius.New(radius.CodeAccessRequest, secret)
				p.Identifier = byte(i)
				rfc2865.UserName_SetString(p, "alice")
				rfc2865.UserPassword_SetString(p, "123456")
				b, err := p.Encode()
				if err != nil {
					t.Fatal(err)
				}
				reqs[byte(i)] = b
				if _, err := c.Write(b); err != nil {
					t.Fatal(err)
				}
				if i == burst/2 {
					// A datagram longer than any RADIUS packet.
					long := append(append([]byte(nil), b...), make([]byte, radius.MaxPacketLength)...)
					if _, err := c.Write(long); err != nil {
						t.Fatal(err)
					}
				}
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			for range burst {
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("%d requests still unanswered: %v", len(reqs), err)
				}
				req, ok := reqs[buf[1]]
				if !ok || buf[0] != byte(radius.CodeAccessAccept) || !radius.IsAuthenticResponse(buf[:n], req, secret) {
					t.Fatalf("unexpected reply: code %d id %d", buf[0], buf[1])
				}
				delete(reqs, buf[1])
			}
			rec.mu.Lock()
			got := rec.clients[tc.client]
			rec.mu.Unlock()
			if got != burst {
				t.Fatalf("client %s made %d requests, want %d (%v)", tc.client, got, burst, rec.clients)
			}
			if n := value(srv.metrics.Drops.WithLabelValues(DropMalformed)); n != 1 {
				t.Fatalf("%v malformed drops, want 1 (the long datagram)", n)
			}
		})
	}
}
