package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/radmfa/radmfa/internal/pgtest"
	"github.com/radmfa/radmfa/push"
)

// instance is a `radmfa serve` child process, one of several on one
// PostgreSQL database.
type instance struct {
	cmd                  *exec.Cmd
	radius, api, metrics string
}

var (
	apiLineRE     = regexp.MustCompile(`device API on (\S+) `)
	metricsLineRE = regexp.MustCompile(`metrics on (\S+)`)
)

// startInstance runs `radmfa serve` in a child process (so that it can be
// SIGKILLed) with the global flags given, the device API and metrics on
// free loopback ports, and waits until it announces all three.
func startInstance(t *testing.T, global []string, args ...string) *instance {
	t.Helper()
	full := append(append(append([]string{}, global...), "--log-level", "warn", "serve", "--radius-addr", "127.0.0.1:0",
		"--metrics-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--push-provider", "none", "--reload-every", "200ms"), args...)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveArgsEnv+"="+strings.Join(full, "\x1f"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan *instance, 1)
	go func() {
		// Only this goroutine writes found, until it hands it over.
		found := &instance{cmd: cmd}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if found == nil {
				continue // drained, so that the server never blocks on its stdout
			}
			line := sc.Text()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				found.radius = m[1]
			}
			if m := apiLineRE.FindStringSubmatch(line); m != nil {
				found.api = m[1]
			}
			if m := metricsLineRE.FindStringSubmatch(line); m != nil {
				found.metrics = m[1]
			}
			if found.radius != "" && found.api != "" && found.metrics != "" {
				ready <- found
				found = nil
			}
		}
	}()
	var in *instance
	select {
	case in = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return in
}

// metric reads one sample (name with its labels, as exposed) of the
// instance's metrics; 0 when absent.
func (in *instance) metric(t *testing.T, sample string) float64 {
	t.Helper()
	s := &server{metrics: in.metrics}
	return s.metric(t, sample)
}

// radclient sends one Access-Request with attrs to addr and returns what
// radclient printed. A held push waits up to 40 s.
func radclientTo(t *testing.T, addr, attrs string) string {
	t.Helper()
	return radclientWait(t, addr, attrs, 40)
}

// radclientWait is radclientTo waiting seconds for the answer.
func radclientWait(t *testing.T, addr, attrs string, seconds int) string {
	t.Helper()
	// A NAS sends Message-Authenticator (clients require it by default).
	return radtool(t, attrs+", Message-Authenticator = 0x00\n", "radclient", "-x", "-r", "1", "-t", fmt.Sprint(seconds), addr, "auth", "testing123")
}

// device runs the reference phone, radmfa-device, built from this module.
type device struct {
	bin, state string
}

func newDevice(t *testing.T) *device {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building radmfa-device needs the go command in PATH: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "radmfa-device")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/radmfa/radmfa/cmd/radmfa-device").CombinedOutput(); err != nil {
		t.Fatalf("building radmfa-device: %v: %s", err, out)
	}
	return &device{bin: bin, state: filepath.Join(dir, "phone.json")}
}

func (d *device) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(d.bin, append([]string{"--state", d.state}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("radmfa-device %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nextPending polls the device API at server (an https URL) until the
// phone has a pending request.
func (d *device) nextPending(t *testing.T, server string) push.PendingRequest {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var reqs []push.PendingRequest
		if err := json.Unmarshal([]byte(d.run(t, "--server", server, "pending", "--json")), &reqs); err != nil {
			t.Fatal(err)
		}
		if len(reqs) > 0 {
			return reqs[0]
		}
	}
	t.Fatal("no push request arrived")
	return push.PendingRequest{}
}

// inBackground runs fn on a goroutine; wait returns its result.
func inBackground(fn func() string) (wait func() string) {
	ch := make(chan string, 1)
	go func() { ch <- fn() }()
	return func() string { return <-ch }
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// twoInstanceSetup is an installation on one PostgreSQL database with two
// data dirs holding the same master key, the client "loop" and a user
// with an HOTP token.
type twoInstanceSetup struct {
	a, b *cliEnv
	seed []byte
}

func newTwoInstanceSetup(t *testing.T, db string) *twoInstanceSetup {
	t.Helper()
	s := &twoInstanceSetup{a: newCLI(t), b: newCLI(t)}
	s.a.db, s.b.db = db, db
	s.a.ok("init")
	// Every instance has the master key in its own data dir.
	key, err := os.ReadFile(filepath.Join(s.a.dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.b.dir, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	s.a.ok("client", "add", "loop", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	s.a.ok("user", "add", "alice")
	_, s.seed = s.a.enrollSecret("alice", "--type", "hotp")
	return s
}

func (s *twoInstanceSetup) start(t *testing.T, args ...string) (a, b *instance) {
	t.Helper()
	a = startInstance(t, s.a.global(), args...)
	// B serves the device API with A's certificate: a phone pins one.
	b = startInstance(t, s.b.global(), append([]string{"--tls-cert", filepath.Join(s.a.dir, "device-api.crt"),
		"--tls-key", filepath.Join(s.a.dir, "device-api.key")}, args...)...)
	return a, b
}

// TestSeveralInstances runs two `radmfa serve` processes on one
// PostgreSQL database and drives them with radclient and radmfa-device.
func TestSeveralInstances(t *testing.T) {
	requireTool(t, "radclient", "freeradius-utils")
	s := newTwoInstanceSetup(t, pgtest.DB(t))
	// An hour between re-checks: a push answer reaches the other
	// instance by notification, or not before the push times out.
	a, b := s.start(t, "--push-recheck", "1h", "--push-timeout", "30s")
	pap := func(user, pw string) string { return fmt.Sprintf(`User-Name = "%s", User-Password = "%s"`, user, pw) }

	t.Run("a code accepted on A is refused on B", func(t *testing.T) {
		code := hotpAt(s.seed, 0)
		if out := radclientTo(t, a.radius, pap("alice", code)); !strings.Contains(out, "Received Access-Accept") {
			t.Fatalf("A: %s", out)
		}
		if out := radclientTo(t, b.radius, pap("alice", code)); !strings.Contains(out, "Received Access-Reject") {
			t.Fatalf("B accepted the code A accepted: %s", out)
		}
	})

	t.Run("one code sent to A and B at once is accepted once", func(t *testing.T) {
		for counter := uint64(1); counter <= 5; counter++ {
			code := hotpAt(s.seed, counter)
			waitA := inBackground(func() string { return radclientTo(t, a.radius, pap("alice", code)) })
			outB := radclientTo(t, b.radius, pap("alice", code))
			outA := waitA()
			accepts := strings.Count(outA+outB, "Received Access-Accept")
			if accepts != 1 || strings.Count(outA+outB, "Received Access-Reject") != 1 {
				t.Fatalf("counter %d: %d accepts, want exactly one:\nA: %s\nB: %s", counter, accepts, outA, outB)
			}
		}
	})

	t.Run("a retransmission to B of a request A accepted gets the Accept again", func(t *testing.T) {
		// One NAS socket sends the very same packet to A, then to B (its
		// secondary, as if A's answer was lost).
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		builder := &nas{t: t, secret: []byte("testing123")}
		req := builder.build(radius.CodeAccessRequest, "alice", hotpAt(s.seed, 6), true)
		answer := func(to string) radius.Code {
			t.Helper()
			addr, err := net.ResolveUDPAddr("udp", to)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.WriteToUDP(req, addr); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				t.Fatal(err)
			}
			return builder.verify(req, buf[:n]).Code
		}
		if got := answer(a.radius); got != radius.CodeAccessAccept {
			t.Fatalf("A: %v", got)
		}
		if got := answer(b.radius); got != radius.CodeAccessAccept {
			t.Fatalf("B answered the retransmission of A's accepted request with %v", got)
		}
		// The code in a new request is a replay.
		if out := radclientTo(t, b.radius, pap("alice", hotpAt(s.seed, 6))); !strings.Contains(out, "Received Access-Reject") {
			t.Fatalf("B accepted the code again in a new request: %s", out)
		}
	})

	t.Run("a user disabled through one instance's CLI is refused on both", func(t *testing.T) {
		s.b.ok("user", "disable", "alice")
		code := hotpAt(s.seed, 7)
		for name, in := range map[string]*instance{"A": a, "B": b} {
			if out := radclientTo(t, in.radius, pap("alice", code)); !strings.Contains(out, "Received Access-Reject") {
				t.Fatalf("%s accepted a disabled user: %s", name, out)
			}
		}
		s.a.ok("user", "enable", "alice")
		if out := radclientTo(t, b.radius, pap("alice", code)); !strings.Contains(out, "Received Access-Accept") {
			t.Fatalf("B after enable: %s", out)
		}
	})

	t.Run("a client added through the CLI reaches both within reload-every", func(t *testing.T) {
		s.a.ok("client", "add", "loop2", "--cidr", "127.0.0.2/32", "--secret", "second-secret")
		for name, in := range map[string]*instance{"A": a, "B": b} {
			n := newNAS(t, "127.0.0.2", in.radius, "second-secret")
			waitFor(t, name+" to answer the new client", func() bool {
				req := n.build(radius.CodeAccessRequest, "alice", "000000", true)
				return n.send(req, 200*time.Millisecond) != nil
			})
		}
	})

	dev := newDevice(t)
	s.a.ok("user", "add", "bob")
	m := enrollJSON(t, s.a, "bob", "--type", "push")
	dev.run(t, "enroll", m["activation_uri"])
	apiA, apiB := a.api, b.api
	pushLogin := pap("bob", "") + `, Calling-Station-Id = "198.51.100.7"`

	t.Run("a push held on A is approved through B's device API", func(t *testing.T) {
		held := inBackground(func() string { return radclientTo(t, a.radius, pushLogin) })
		p := dev.nextPending(t, apiB)
		dev.run(t, "--server", apiB, "approve", p.ID)
		approved := time.Now()
		out := held()
		took := time.Since(approved)
		if !strings.Contains(out, "Received Access-Accept") {
			t.Fatalf("A's answer: %s", out)
		}
		t.Logf("approval on B to Access-Accept from A: %v (by notification; the re-check is an hour away)", took)
	})

	t.Run("a NAS retransmitting the held trigger to B sends one push", func(t *testing.T) {
		before := s.a.auditCount("bob", "push.request", "")
		joined := b.metric(t, `radmfa_push_requests_total{result="joined"}`)
		heldA := inBackground(func() string { return radclientTo(t, a.radius, pushLogin) })
		p := dev.nextPending(t, apiA)
		heldB := inBackground(func() string { return radclientTo(t, b.radius, pushLogin) })
		waitFor(t, "B to join A's push", func() bool { return b.metric(t, `radmfa_push_requests_total{result="joined"}`) > joined })
		dev.run(t, "--server", apiA, "approve", p.ID)
		for name, wait := range map[string]func() string{"A": heldA, "B": heldB} {
			if out := wait(); !strings.Contains(out, "Received Access-Accept") {
				t.Errorf("%s: %s", name, out)
			}
		}
		if n := s.a.auditCount("bob", "push.request", ""); n != before+1 {
			t.Fatalf("%d pushes sent, want one", n-before)
		}
	})

	t.Run("A killed while holding a push: the retry to B completes the login", func(t *testing.T) {
		joined := b.metric(t, `radmfa_push_requests_total{result="joined"}`)
		heldA := inBackground(func() string { return radclientWait(t, a.radius, pushLogin, 5) })
		p := dev.nextPending(t, apiB)
		a.cmd.Process.Kill()
		a.cmd.Wait()
		// The NAS's retry goes to B.
		heldB := inBackground(func() string { return radclientTo(t, b.radius, pushLogin) })
		waitFor(t, "B to join the push A held", func() bool { return b.metric(t, `radmfa_push_requests_total{result="joined"}`) > joined })
		dev.run(t, "--server", apiB, "approve", p.ID)
		if out := heldB(); !strings.Contains(out, "Received Access-Accept") {
			t.Fatalf("B: %s", out)
		}
		// radclient gives up on A at its timeout.
		if out := heldA(); strings.Contains(out, "Received Access-Accept") {
			t.Fatalf("A answered after SIGKILL: %s", out)
		}
	})
}

// TestSeveralInstancesDatabaseRestart: PostgreSQL restarts while two
// instances take logins; they wait it out or refuse, reconnect, and no
// code accepted before, during or after is accepted again.
func TestSeveralInstancesDatabaseRestart(t *testing.T) {
	c := pgtest.NewCluster(t)
	s := newTwoInstanceSetup(t, pgtest.CreateDB(t, c.URL("postgres")))
	a, b := s.start(t)
	nasA, nasB := newNAS(t, "127.0.0.1", a.radius, "testing123"), newNAS(t, "127.0.0.1", b.radius, "testing123")
	var accepted []string
	var restart sync.WaitGroup
	for counter := uint64(0); counter < 60; counter++ {
		if counter == 20 {
			restart.Go(func() {
				if err := c.Restart(); err != nil {
					t.Errorf("restart: %v", err)
				}
			})
		}
		n := nasA
		if counter%2 == 1 {
			n = nasB
		}
		code := hotpAt(s.seed, counter)
		if p := n.exchangeOnce("alice", code, 15*time.Second); p != nil && p.Code == radius.CodeAccessAccept {
			accepted = append(accepted, code)
		}
	}
	restart.Wait()
	if len(accepted) < 30 {
		t.Fatalf("%d of 60 logins accepted; the instances did not come back after the restart", len(accepted))
	}
	for _, code := range accepted {
		for name, n := range map[string]*nas{"A": nasA, "B": nasB} {
			if p := n.exchangeOnce("alice", code, 15*time.Second, fromStation("192.0.2.99")); p == nil || p.Code != radius.CodeAccessReject {
				t.Fatalf("%s: an accepted code was not refused again: %v", name, p)
			}
		}
	}
}

// TestInstanceCutOffFromTheDatabase: an instance that cannot reach the
// database refuses codes it cannot record; the other instance, which can,
// accepts them.
func TestInstanceCutOffFromTheDatabase(t *testing.T) {
	requireTool(t, "radclient", "freeradius-utils")
	server := pgtest.ServerURL(t)
	db := pgtest.CreateDB(t, server)
	s := newTwoInstanceSetup(t, db)
	proxy := newCuttableProxy(t, db)
	s.a.db = proxy.url
	a, b := s.start(t, "--request-timeout", "2s")
	pap := func(code string) string { return fmt.Sprintf(`User-Name = "alice", User-Password = "%s"`, code) }
	if out := radclientTo(t, a.radius, pap(hotpAt(s.seed, 0))); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("A before the partition: %s", out)
	}
	proxy.cut()
	code := hotpAt(s.seed, 1)
	out := radclientWait(t, a.radius, pap(code), 10)
	if strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("A accepted a code it could not record: %s", out)
	}
	if out := radclientTo(t, b.radius, pap(code)); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("B refused the code A could not record: %s", out)
	}
}

// cuttableProxy forwards TCP to a PostgreSQL server until cut: then it
// drops every connection and accepts none, as a partition would.
type cuttableProxy struct {
	url string
	ln  net.Listener
	mu  sync.Mutex
	cut func()
}

func newCuttableProxy(t *testing.T, dbURL string) *cuttableProxy {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u.Host = ln.Addr().String()
	p := &cuttableProxy{url: u.String(), ln: ln}
	var conns []net.Conn
	cutCh := make(chan struct{})
	p.cut = func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		close(cutCh)
		ln.Close()
		for _, c := range conns {
			c.Close()
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			select {
			case <-cutCh:
				c.Close()
				s.Close()
			default:
				conns = append(conns, c, s)
			}
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}
