package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
)

// serveArgsEnv makes the test binary run `radmfa` with these arguments
// (separated by \x1f) instead of the tests: a server the test can SIGKILL.
const serveArgsEnv = "RADMFA_TEST_MAIN_ARGS"

// journalEnv runs this package's tests a second time with the servers
// the tests start in-process on synchronous NORMAL, so that they journal
// their accepts (see store's journal): every end-to-end behaviour must
// hold both ways.
const journalEnv = "RADMFA_TEST_SERVE_JOURNAL"

// journaled tells whether startServer's servers journal their accepts.
var journaled = os.Getenv(journalEnv) != ""

func TestMain(m *testing.M) {
	if args := os.Getenv(serveArgsEnv); args != "" {
		os.Args = append([]string{"radmfa"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	code := m.Run()
	if journaled || code != 0 {
		os.Exit(code)
	}
	fmt.Println("cmd/radmfa: again, with the servers journaling accepts")
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), journalEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Println("cmd/radmfa: with the servers journaling accepts:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startServeProcess runs `radmfa serve` as a child process and returns its
// RADIUS address once it listens.
func startServeProcess(t *testing.T, dir string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	full := append([]string{"--data-dir", dir, "--log-level", "warn", "serve", "--radius-addr", "127.0.0.1:0", "--metrics-addr", ""}, args...)
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
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`listening on (\S+) `)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	return nil, ""
}

// TestAcceptsSurviveKill: every Access-Accept a NAS received is on disk
// before it was sent, with synchronous NORMAL (what the benchmarks run):
// SIGKILL the server right after a burst of concurrent logins, start it
// again, and every code it accepted is refused as a replay, every counter
// and audit row is there.
func TestAcceptsSurviveKill(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "nas", "--cidr", "127.0.0.2/32", "--secret", "s3cret-for-tests")
	const users, logins = 12, 8
	seeds := make([][]byte, users)
	for i := range users {
		e.ok("user", "add", fmt.Sprintf("k%d", i))
		_, seeds[i] = e.enrollSecret(fmt.Sprintf("k%d", i), "--type", "hotp")
	}
	cmd, addr := startServeProcess(t, e.dir, "--synchronous", "NORMAL")

	var wg sync.WaitGroup
	accepted := make([][]string, users)
	for i := range users {
		n := newNAS(t, "127.0.0.2", addr, "s3cret-for-tests")
		wg.Go(func() {
			for c := range uint64(logins) {
				code := hotpAt(seeds[i], c)
				if p := n.exchange(fmt.Sprintf("k%d", i), code); p.Code == radius.CodeAccessAccept {
					accepted[i] = append(accepted[i], code)
				}
			}
		})
	}
	wg.Wait()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	total := 0
	for i := range users {
		if len(accepted[i]) != logins {
			t.Fatalf("k%d: %d of %d fresh codes accepted", i, len(accepted[i]), logins)
		}
		total += len(accepted[i])
	}

	_, addr = startServeProcess(t, e.dir, "--synchronous", "NORMAL")
	n := newNAS(t, "127.0.0.2", addr, "s3cret-for-tests")
	for i := range users {
		for _, code := range accepted[i] {
			if p := n.exchange(fmt.Sprintf("k%d", i), code); p.Code != radius.CodeAccessReject {
				t.Fatalf("k%d: code accepted before the kill accepted again after it", i)
			}
		}
		if p := n.exchange(fmt.Sprintf("k%d", i), hotpAt(seeds[i], logins)); p.Code != radius.CodeAccessAccept {
			t.Fatalf("k%d: the next fresh code refused after the restart", i)
		}
	}
	okRows := 0
	for i := range users {
		for _, r := range e.authRows(fmt.Sprintf("k%d", i)) {
			if strings.HasPrefix(r, "accept:") {
				okRows++
			}
		}
	}
	if okRows != total+users {
		t.Fatalf("%d accept audit rows, want %d (every accept before the kill, and one after)", okRows, total+users)
	}
}
