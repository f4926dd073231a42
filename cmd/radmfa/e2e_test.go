package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/internal/cliargs"
	"github.com/radmfa/radmfa/otp"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a running `radmfa serve`.
type server struct {
	addr    string // RADIUS
	acct    string // RADIUS accounting
	metrics string // http://.../metrics
	out     *syncBuffer
	errs    *syncBuffer // the log
	stop    func() error
}

var listenRE = regexp.MustCompile(`listening on (\S+) `)
var metricsRE = regexp.MustCompile(`metrics on (\S+)`)
var acctRE = regexp.MustCompile(`listening on (\S+) \(RADIUS accounting\)`)

// startServer runs `radmfa serve` in-process on 127.0.0.1 with a free port.
func startServer(t *testing.T, e *cliEnv, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	errs := &syncBuffer{}
	app := newApp(out, errs)
	full := append(append(append([]string{"radmfa"}, e.global()...), "--log-level", "debug", "serve", "--radius-addr", "127.0.0.1:0",
		"--metrics-addr", "127.0.0.1:0", "--reload-every", "100ms"), args...)
	done := make(chan error, 1)
	go func() { done <- cliargs.Run(ctx, app, full) }()
	deadline := time.Now().Add(10 * time.Second)
	acctOff := slices.Contains(args, "off")
	for {
		// The accounting socket's line comes after the authentication one's.
		if m := listenRE.FindStringSubmatch(out.String()); m != nil && (acctOff || acctRE.MatchString(out.String())) {
			s := &server{addr: m[1], out: out, errs: errs}
			if mm := metricsRE.FindStringSubmatch(out.String()); mm != nil {
				s.metrics = mm[1]
			}
			if mm := acctRE.FindStringSubmatch(out.String()); mm != nil {
				s.acct = mm[1]
			}
			var once sync.Once
			var stopErr error
			s.stop = func() error {
				once.Do(func() {
					cancel()
					select {
					case stopErr = <-done:
					case <-time.After(20 * time.Second):
						stopErr = errors.New("server did not stop")
					}
				})
				return stopErr
			}
			t.Cleanup(func() { s.stop() })
			return s
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v\n%s\n%s", err, out.String(), errs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start:\n%s\n%s", out.String(), errs.String())
		}
	}
}

// metric reads one sample from /metrics (0 when absent).
func (s *server) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
			return v
		}
	}
	return 0
}

// nas sends RADIUS from a chosen loopback address.
type nas struct {
	t      *testing.T
	conn   *net.UDPConn
	secret []byte
}

func newNAS(t *testing.T, from, to, secret string) *nas {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &nas{t: t, conn: conn, secret: []byte(secret)}
}

type reqOpt func(*radius.Packet)

// fromStation sets the Calling-Station-Id (the user's address).
func fromStation(s string) reqOpt {
	return func(p *radius.Packet) { rfc2865.CallingStationID_SetString(p, s) }
}

func withProxyState(v ...string) reqOpt {
	return func(p *radius.Packet) {
		for _, s := range v {
			p.Attributes.Add(33, radius.Attribute(s))
		}
	}
}

// build encodes an Access-Request (or Status-Server with code set), with a
// Message-Authenticator when ma.
func (n *nas) build(code radius.Code, user, pw string, ma bool, opts ...reqOpt) []byte {
	n.t.Helper()
	p := radius.New(code, n.secret)
	if code == radius.CodeAccessRequest {
		rfc2865.UserName_SetString(p, user)
		rfc2865.UserPassword_SetString(p, pw)
		rfc2865.NASIdentifier_SetString(p, "test-nas")
		rfc2865.CallingStationID_SetString(p, "198.51.100.7")
	}
	for _, o := range opts {
		o(p)
	}
	if ma {
		p.Attributes.Add(80, make(radius.Attribute, 16))
	}
	b, err := p.Encode()
	if err != nil {
		n.t.Fatal(err)
	}
	if ma {
		m := hmac.New(md5.New, n.secret)
		m.Write(b)
		copy(b[len(b)-16:], m.Sum(nil))
	}
	return b
}

// send sends raw bytes and returns the reply, or nil after wait.
func (n *nas) send(req []byte, wait time.Duration) []byte {
	n.t.Helper()
	if _, err := n.conn.Write(req); err != nil {
		n.t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(wait))
	k, err := n.conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:k]
}

// exchange sends an Access-Request with Message-Authenticator, checks the
// reply is authentic with Message-Authenticator first, and returns it.
func (n *nas) exchange(user, pw string, opts ...reqOpt) *radius.Packet {
	n.t.Helper()
	req := n.build(radius.CodeAccessRequest, user, pw, true, opts...)
	raw := n.send(req, 10*time.Second)
	if raw == nil {
		n.t.Fatalf("no reply for %s", user)
	}
	return n.verify(req, raw)
}

// exchangeOnce sends an Access-Request once and returns its verified
// reply, or nil when none comes within wait (the server is gone).
func (n *nas) exchangeOnce(user, pw string, wait time.Duration, opts ...reqOpt) *radius.Packet {
	req := n.build(radius.CodeAccessRequest, user, pw, true, opts...)
	if _, err := n.conn.Write(req); err != nil {
		return nil
	}
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(wait))
	k, err := n.conn.Read(buf)
	if err != nil {
		return nil
	}
	return n.verify(req, buf[:k])
}

func (n *nas) verify(req, raw []byte) *radius.Packet {
	n.t.Helper()
	if !radius.IsAuthenticResponse(raw, req, n.secret) {
		n.t.Fatal("reply's Response Authenticator does not verify")
	}
	if len(raw) < 38 || raw[20] != 80 || raw[21] != 18 {
		n.t.Fatal("Message-Authenticator is not the first attribute of the reply")
	}
	chk := append([]byte(nil), raw...)
	copy(chk[4:20], req[4:20])
	copy(chk[22:38], make([]byte, 16))
	m := hmac.New(md5.New, n.secret)
	m.Write(chk)
	if !hmac.Equal(m.Sum(nil), raw[22:38]) {
		n.t.Fatal("reply's Message-Authenticator does not verify")
	}
	p, err := radius.Parse(raw, n.secret)
	if err != nil {
		n.t.Fatal(err)
	}
	return p
}

// awaitAccept waits for the (late) reply to req, already sent, and checks
// it is an authentic Access-Accept.
func (n *nas) awaitAccept(req []byte) { n.t.Helper(); n.await(req, radius.CodeAccessAccept) }

// await reads the reply to req, which must be code.
func (n *nas) await(req []byte, code radius.Code) {
	n.t.Helper()
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	k, err := n.conn.Read(buf)
	if err != nil {
		n.t.Fatal("no reply")
	}
	if p := n.verify(req, buf[:k]); p.Code != code {
		n.t.Fatalf("got %v, want %v", p.Code, code)
	}
}

func (e *cliEnv) enrollSecret(args ...string) (serial string, seed []byte) {
	e.t.Helper()
	return e.enrollSecretFrom(enrollJSON(e.t, e, args...))
}

// enrollSecretFrom reads the seed out of `token enroll --json` output.
func (e *cliEnv) enrollSecretFrom(m map[string]string) (serial string, seed []byte) {
	e.t.Helper()
	i := strings.Index(m["uri"], "secret=")
	sec := m["uri"][i+7:]
	if j := strings.IndexByte(sec, '&'); j >= 0 {
		sec = sec[:j]
	}
	seed, err := otp.DecodeSecret(sec)
	if err != nil {
		e.t.Fatal(err)
	}
	return m["serial"], seed
}

func totpNow(seed []byte) string {
	p := otp.Params{Type: otp.TOTP, Algorithm: otp.SHA1, Digits: 6, Period: 30}
	return otp.Code(seed, uint64(otp.Step(time.Now().Unix(), 30)), p)
}

func hotpAt(seed []byte, c uint64) string {
	return otp.Code(seed, c, otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6})
}

func (e *cliEnv) authRows(user string) []string {
	e.t.Helper()
	var rows []auditJSON
	if err := jsonUnmarshal(e.ok("audit", "--json", "--user", user), &rows); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		if r.Action == "auth" {
			out = append(out, r.Result)
		}
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "nas", "--cidr", "127.0.0.2/32", "--secret", "s3cret-for-tests")
	e.ok("client", "add", "strict", "--cidr", "127.0.0.5", "--secret", "strict-secret-123", "--require-message-authenticator")
	for _, u := range []string{"acc", "pin", "lock", "off", "dup", "attrs"} {
		e.ok("user", "add", u)
	}
	e.ok("user", "add", "grouped", "--group", "staff")
	_, accSeed := e.enrollSecret("acc")
	_, pinSeed := e.enrollSecret("pin", "--pin", "8642")
	_, lockSeed := e.enrollSecret("lock")
	_, offSeed := e.enrollSecret("off")
	_, dupSeed := e.enrollSecret("dup", "--type", "hotp")
	_, grpSeed := e.enrollSecret("grouped", "--type", "hotp")
	e.ok("user", "disable", "off")
	e.ok("reply", "add", "--group", "staff", "Filter-Id=staff-acl", "Cisco-AVPair=shell:priv-lvl=15")
	e.ok("reply", "add", "--client", "nas", "Class=radmfa")

	srv := startServer(t, e)
	n := newNAS(t, "127.0.0.2", srv.addr, "s3cret-for-tests")

	t.Run("accept, then replay and wrong code rejected", func(t *testing.T) {
		code := totpNow(accSeed)
		if p := n.exchange("acc", code); p.Code != radius.CodeAccessAccept {
			t.Fatalf("fresh code: %v", p.Code)
		}
		// From another station: a replay (from the same one within
		// --resubmit-window it would be the same login sent again).
		if p := n.exchange("acc", code, fromStation("192.0.2.99")); p.Code != radius.CodeAccessReject {
			t.Fatalf("replayed code: %v", p.Code)
		}
		p := n.exchange("acc", "000000")
		if p.Code != radius.CodeAccessReject {
			t.Fatalf("wrong code: %v", p.Code)
		}
		if rfc2865.ReplyMessage_GetString(p) != "" {
			t.Fatal("reject carries a Reply-Message")
		}
	})
	t.Run("PIN+OTP", func(t *testing.T) {
		code := totpNow(pinSeed)
		if p := n.exchange("pin", "1111"+code); p.Code != radius.CodeAccessReject {
			t.Fatalf("wrong PIN: %v", p.Code)
		}
		if p := n.exchange("pin", "8642"+code); p.Code != radius.CodeAccessAccept {
			t.Fatalf("PIN+code: %v", p.Code)
		}
	})
	t.Run("lockout", func(t *testing.T) {
		for range 5 {
			if p := n.exchange("lock", "999999"); p.Code != radius.CodeAccessReject {
				t.Fatal("wrong code accepted")
			}
		}
		if p := n.exchange("lock", totpNow(lockSeed)); p.Code != radius.CodeAccessReject {
			t.Fatalf("locked token accepted: %v", p.Code)
		}
		rows := e.authRows("lock")
		if rows[len(rows)-1] != "reject:token_locked" {
			t.Fatalf("audit %v", rows)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		if p := n.exchange("off", totpNow(offSeed)); p.Code != radius.CodeAccessReject {
			t.Fatalf("disabled user: %v", p.Code)
		}
	})
	t.Run("unknown client dropped and counted", func(t *testing.T) {
		before := srv.metric(t, `radmfa_radius_drops_total{reason="unknown_client"}`)
		stranger := newNAS(t, "127.0.0.3", srv.addr, "s3cret-for-tests")
		if raw := stranger.send(stranger.build(radius.CodeAccessRequest, "acc", "123456", true), 300*time.Millisecond); raw != nil {
			t.Fatal("unknown client got a reply")
		}
		if got := srv.metric(t, `radmfa_radius_drops_total{reason="unknown_client"}`); got != before+1 {
			t.Fatalf("unknown_client drops %v -> %v", before, got)
		}
	})
	t.Run("wrong secret with Message-Authenticator dropped", func(t *testing.T) {
		liar := newNAS(t, "127.0.0.2", srv.addr, "not-the-secret")
		if raw := liar.send(liar.build(radius.CodeAccessRequest, "acc", "123456", true), 300*time.Millisecond); raw != nil {
			t.Fatal("wrong secret got a reply")
		}
		if srv.metric(t, `radmfa_radius_drops_total{reason="bad_message_authenticator"}`) < 1 {
			t.Fatal("not counted")
		}
	})
	t.Run("required Message-Authenticator", func(t *testing.T) {
		strict := newNAS(t, "127.0.0.5", srv.addr, "strict-secret-123")
		if raw := strict.send(strict.build(radius.CodeAccessRequest, "acc", "123456", false), 300*time.Millisecond); raw != nil {
			t.Fatal("request without Message-Authenticator answered")
		}
		if p := strict.exchange("acc", "123456"); p.Code != radius.CodeAccessReject {
			t.Fatalf("with MA: %v", p.Code)
		}
	})
	t.Run("duplicate answered from cache byte for byte, evaluated once", func(t *testing.T) {
		req := n.build(radius.CodeAccessRequest, "dup", hotpAt(dupSeed, 0), true)
		first := n.send(req, 5*time.Second)
		second := n.send(req, 5*time.Second)
		if first == nil || !bytes.Equal(first, second) {
			t.Fatalf("replies differ:\n%x\n%x", first, second)
		}
		if p := n.verify(req, second); p.Code != radius.CodeAccessAccept {
			t.Fatalf("retransmission turned into %v", p.Code)
		}
		if rows := e.authRows("dup"); len(rows) != 1 {
			t.Fatalf("evaluated %d times: %v", len(rows), rows)
		}
		if srv.metric(t, `radmfa_radius_duplicates_total{kind="answered"}`) < 1 {
			t.Fatal("duplicate not counted")
		}
	})
	t.Run("store metrics reported", func(t *testing.T) {
		// The logins above were recorded, each with its audit row, through
		// the store's writer, which exports what it did.
		if got := srv.metric(t, "radmfa_store_logins_recorded_total"); got < 3 {
			t.Fatalf("radmfa_store_logins_recorded_total %v, want the logins above", got)
		}
		if got := srv.metric(t, "radmfa_store_commits_total"); got < 1 {
			t.Fatalf("radmfa_store_commits_total %v", got)
		}
		if got := srv.metric(t, "radmfa_store_write_failures_total"); got != 0 {
			t.Fatalf("write failures: %v", got)
		}
	})
	t.Run("Status-Server", func(t *testing.T) {
		req := n.build(radius.CodeStatusServer, "", "", true)
		raw := n.send(req, 2*time.Second)
		if raw == nil {
			t.Fatal("no answer to Status-Server")
		}
		if p := n.verify(req, raw); p.Code != radius.CodeAccessAccept {
			t.Fatalf("Status-Server answered %v", p.Code)
		}
		if raw := n.send(n.build(radius.CodeStatusServer, "", "", false), 300*time.Millisecond); raw != nil {
			t.Fatal("Status-Server without Message-Authenticator answered (RFC 5997 requires it)")
		}
	})
	t.Run("Proxy-State copied in order", func(t *testing.T) {
		p := n.exchange("nobody", "123456", withProxyState("first", "second"))
		var got []string
		for _, a := range p.Attributes {
			if a.Type == 33 {
				got = append(got, string(a.Attribute))
			}
		}
		if strings.Join(got, ",") != "first,second" {
			t.Fatalf("Proxy-State = %q", got)
		}
	})
	t.Run("reply attributes for group and client", func(t *testing.T) {
		p := n.exchange("grouped", hotpAt(grpSeed, 0))
		if p.Code != radius.CodeAccessAccept {
			t.Fatalf("%v", p.Code)
		}
		if got := rfc2865.FilterID_GetString(p); got != "staff-acl" {
			t.Fatalf("Filter-Id = %q", got)
		}
		if got := string(rfc2865.Class_Get(p)); got != "radmfa" {
			t.Fatalf("Class = %q", got)
		}
		vsa := p.Get(26)
		if len(vsa) < 6 || binary.BigEndian.Uint32(vsa) != 9 || string(vsa[6:]) != "shell:priv-lvl=15" {
			t.Fatalf("Cisco-AVPair = %x", vsa)
		}
		// A user outside the group gets only the client's attributes.
		if p := n.exchange("acc", totpNow(accSeed)); p.Code == radius.CodeAccessAccept && rfc2865.FilterID_GetString(p) != "" {
			t.Fatal("group attribute sent to a user outside the group")
		}
	})
	t.Run("new client seen without restart", func(t *testing.T) {
		late := newNAS(t, "127.0.0.4", srv.addr, "late-client-secret")
		if raw := late.send(late.build(radius.CodeAccessRequest, "acc", "1", true), 200*time.Millisecond); raw != nil {
			t.Fatal("answered before the client existed")
		}
		e.ok("client", "add", "late", "--cidr", "127.0.0.4/32", "--secret", "late-client-secret")
		var got []byte
		for i := 0; i < 30 && got == nil; i++ {
			got = late.send(late.build(radius.CodeAccessRequest, "acc", "123456", true), 200*time.Millisecond)
		}
		if got == nil {
			t.Fatal("new client never answered")
		}
	})
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}

// holdWriteLock takes SQLite's write lock from another connection (as a
// busy admin process would) until release is called: the server's commits
// wait, which makes a slow path the NAS retransmits into.
func holdWriteLock(t *testing.T, dir string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "radmfa.db")+"?_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO meta(k, v) VALUES ('test-lock', 1) ON CONFLICT(k) DO UPDATE SET v = v + 1`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { tx.Commit(); db.Close() }) }
	t.Cleanup(release)
	return release
}

// slowLogin is a running server, a NAS, a user with a HOTP token, a login
// request built but not sent that must write to the database before it is
// answered, and the database's write lock held by another connection until
// release: the token's first code (want Access-Accept, row accept:ok).
type slowLogin struct {
	e       *cliEnv
	srv     *server
	n       *nas
	serial  string
	req     []byte
	release func()
	want    radius.Code
	row     string
}

func startSlowLogin(t *testing.T, user string) slowLogin {
	t.Helper()
	e := newCLI(t)
	e.ok("client", "add", "nas", "--cidr", "127.0.0.2/32", "--secret", "s3cret-for-tests")
	e.ok("user", "add", user)
	serial, seed := e.enrollSecret(user, "--type", "hotp")
	srv := startServer(t, e)
	n := newNAS(t, "127.0.0.2", srv.addr, "s3cret-for-tests")
	sl := slowLogin{e: e, srv: srv, n: n, serial: serial, release: holdWriteLock(t, e.dir),
		req: n.build(radius.CodeAccessRequest, user, hotpAt(seed, 0), true), want: radius.CodeAccessAccept, row: "accept:ok"}
	return sl
}

func TestRetransmissionWhileInFlightEvaluatedOnce(t *testing.T) {
	sl := startSlowLogin(t, "slow")
	e, srv, n, req, release := sl.e, sl.srv, sl.n, sl.req, sl.release
	for range 3 {
		if raw := n.send(req, 200*time.Millisecond); raw != nil {
			t.Fatal("answered while the database was locked")
		}
	}
	release()
	n.await(req, sl.want)
	if got := srv.metric(t, `radmfa_radius_duplicates_total{kind="in_flight"}`); got != 2 {
		t.Fatalf("in-flight duplicates = %v, want 2", got)
	}
	if rows := e.authRows("slow"); len(rows) != 1 || rows[0] != sl.row {
		t.Fatalf("audit %v, want one %s", rows, sl.row)
	}
}

func TestGracefulShutdownAnswersInFlight(t *testing.T) {
	sl := startSlowLogin(t, "late")
	e, srv, n, req, release := sl.e, sl.srv, sl.n, sl.req, sl.release
	if raw := n.send(req, 200*time.Millisecond); raw != nil {
		t.Fatal("answered while locked")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- srv.stop() }() // SIGTERM's path: the serve context ends
	time.Sleep(200 * time.Millisecond)
	release()
	n.await(req, sl.want) // the request in flight at shutdown is still answered
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	// What it wrote is durable: the accept's counter (the same code is a
	// replay after a restart).
	stored := `"counter": 1`
	if out, _, _ := e.run("token", "show", sl.serial, "--json"); !strings.Contains(out, stored) {
		t.Fatalf("%s not stored: %s", stored, out)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// --procs caps the CPUs running Go code while serve runs (and gives them
// back when it stops); logins work as before; a negative count is refused.
func TestServeProcs(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "nas", "--cidr", "127.0.0.2/32", "--secret", "s3cret-for-tests")
	e.ok("user", "add", "alice")
	_, seed := e.enrollSecret("alice", "--type", "hotp")
	if _, errOut, code := e.run("serve", "--procs", "-1", "--radius-addr", "127.0.0.1:0"); code == 0 || !strings.Contains(errOut, "--procs") {
		t.Fatalf("--procs -1: exit %d, %q", code, errOut)
	}
	// Whatever this machine has, start from 3 so that 1 is a change.
	const before = 3
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(before))
	srv := startServer(t, e, "--procs", "1")
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("GOMAXPROCS %d while serving with --procs 1", got)
	}
	n := newNAS(t, "127.0.0.2", srv.addr, "s3cret-for-tests")
	if p := n.exchange("alice", hotpAt(seed, 0)); p.Code != radius.CodeAccessAccept {
		t.Fatalf("login with --procs 1: %v", p.Code)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS %d after serve stopped, want %d back", got, before)
	}
}
