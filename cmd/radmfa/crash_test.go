package main

import (
	"bufio"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/radmfa/radmfa/internal/pgtest"
	"layeh.com/radius"
)

// serveArgsEnv makes the test binary run `radmfa` with these arguments
// (separated by \x1f) instead of the tests: a server the test can SIGKILL.
const serveArgsEnv = "RADMFA_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(serveArgsEnv); args != "" {
		os.Args = append([]string{"radmfa"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	os.Exit(pgtest.Main(m))
}

// startServeProcess runs `radmfa serve` as a child process and returns its
// RADIUS address once it listens.
func startServeProcess(t *testing.T, dir string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	return startServeProcessWith(t, os.Stderr, []string{"--data-dir", dir, "--log-level", "warn"}, args...)
}

// startServeProcessWith is startServeProcess with the global flags given
// and the server's standard error written to stderr.
func startServeProcessWith(t *testing.T, stderr io.Writer, global []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	full := append(append(global, "serve", "--radius-addr", "127.0.0.1:0", "--metrics-addr", ""), args...)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveArgsEnv+"="+strings.Join(full, "\x1f"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
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
// before it was sent, on the default settings (power-loss safe): SIGKILL
// the server while logins are in flight, start it again, and every code it
// accepted is refused as a replay, the database is intact, and there is an
// audit row for every Access-Accept (and at most one more per login that
// was in flight, committed but not answered when the server died).
func TestAcceptsSurviveKill(t *testing.T) {
	const users = 12
	e, seeds := hotpUsers(t, "k", users)
	cmd, addr := startServeProcess(t, e.dir)

	// Each user logs in with fresh codes, one at a time, until the server
	// is gone; the kill comes once every user has had 5 accepts.
	var wg sync.WaitGroup
	accepted := make([][]string, users)
	sent := make([]int, users)
	var mu sync.Mutex
	enough := make(chan struct{})
	atFive := 0
	for i := range users {
		n := newNAS(t, "127.0.0.2", addr, "s3cret-for-tests")
		wg.Go(func() {
			for c := uint64(0); c < 10_000; c++ {
				code := hotpAt(seeds[i], c)
				sent[i]++
				p := n.exchangeOnce(fmt.Sprintf("k%d", i), code, 2*time.Second)
				if p == nil {
					return // the server is gone
				}
				if p.Code != radius.CodeAccessAccept {
					t.Errorf("k%d: fresh code %d refused", i, c)
					return
				}
				accepted[i] = append(accepted[i], code)
				if len(accepted[i]) == 5 {
					mu.Lock()
					if atFive++; atFive == users {
						close(enough)
					}
					mu.Unlock()
				}
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("the logins did not get going")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()
	total, inFlight := 0, 0
	for i := range users {
		total += len(accepted[i])
		inFlight += sent[i] - len(accepted[i]) // at most one each: unanswered when the server died
	}

	if out := integrityCheck(t, e.dir); out != "ok" {
		t.Fatalf("integrity_check after SIGKILL: %s", out)
	}
	_, addr = startServeProcess(t, e.dir)
	n := newNAS(t, "127.0.0.2", addr, "s3cret-for-tests")
	for i := range users {
		for _, code := range accepted[i] {
			if p := n.exchange(fmt.Sprintf("k%d", i), code); p.Code != radius.CodeAccessReject {
				t.Fatalf("k%d: code accepted before the kill accepted again after it", i)
			}
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
	if okRows < total || okRows > total+inFlight {
		t.Fatalf("%d accept audit rows for %d Access-Accepts received and %d logins in flight at the kill", okRows, total, inFlight)
	}
	t.Logf("%d accepts before the kill, %d logins in flight, %d accept audit rows", total, inFlight, okRows)
}

// hotpUsers makes a data directory with client nas (127.0.0.2/32, secret
// s3cret-for-tests) and n users PREFIX0.. with a HOTP token each, whose
// seeds it returns.
func hotpUsers(t *testing.T, prefix string, n int) (*cliEnv, [][]byte) {
	t.Helper()
	e := newCLI(t)
	e.ok("client", "add", "nas", "--cidr", "127.0.0.2/32", "--secret", "s3cret-for-tests")
	seeds := make([][]byte, n)
	for i := range n {
		e.ok("user", "add", fmt.Sprintf("%s%d", prefix, i))
		_, seeds[i] = e.enrollSecret(fmt.Sprintf("%s%d", prefix, i), "--type", "hotp")
	}
	return e, seeds
}

// integrityCheck runs SQLite's integrity check on the database in dir.
func integrityCheck(t *testing.T, dir string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "radmfa.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
