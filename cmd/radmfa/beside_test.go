package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
)

// TestCLIBesideLoadRejectsNoLogin: an administrator's reads and writes
// from the CLI (another process's connections to the database) never make
// the server refuse a valid login. A server process takes fresh HOTP
// logins from 8 NASes without pause while this process runs 10 rounds of
// CLI commands, every kind that reads or writes the database.
func TestCLIBesideLoadRejectsNoLogin(t *testing.T) {
	const users = 8
	e, seeds := hotpUsers(t, "b", users)
	e.ok("user", "add", "spare")
	spareSerial, _ := e.enrollSecret("spare", "--type", "hotp")
	_, addr := startServeProcess(t, e.dir)

	stop := make(chan struct{})
	var accepts, rejects, lost atomic.Int64
	var wg sync.WaitGroup
	for i := range users {
		n := newNAS(t, "127.0.0.2", addr, "s3cret-for-tests")
		wg.Go(func() {
			for c := uint64(0); ; c++ {
				select {
				case <-stop:
					return
				default:
				}
				p := n.exchangeOnce(fmt.Sprintf("b%d", i), hotpAt(seeds[i], c), 10*time.Second)
				switch {
				case p == nil:
					lost.Add(1)
					return
				case p.Code == radius.CodeAccessAccept:
					accepts.Add(1)
				default:
					rejects.Add(1)
				}
			}
		})
	}
	rounds := [][]string{
		{"user", "list"},
		{"user", "show", "b1"},
		{"token", "list"},
		{"token", "show", spareSerial},
		{"audit", "--user", "b2"},
		{"report", "users-with-tokens"},
		{"report", "auth"},
		{"user", "disable", "spare"},
		{"user", "enable", "spare"},
		{"token", "set-pin", spareSerial, "--pin", "4826"},
		{"token", "unlock", spareSerial},
		{"client", "add", "extra", "--cidr", "127.0.0.9/32", "--secret", "another-s3cret"},
		{"client", "remove", "extra"},
	}
	for r := range 10 {
		for _, args := range rounds {
			if _, errOut, code := e.run(args...); code != 0 {
				t.Errorf("round %d: radmfa %s: exit %d: %s", r, strings.Join(args, " "), code, errOut)
			}
		}
		e.ok("user", "add", fmt.Sprintf("tmp%d", r))
		e.ok("user", "delete", fmt.Sprintf("tmp%d", r))
	}
	close(stop)
	wg.Wait()
	if rejects.Load() != 0 || lost.Load() != 0 {
		t.Fatalf("beside the CLI: %d valid logins rejected, %d unanswered (%d accepted)", rejects.Load(), lost.Load(), accepts.Load())
	}
	if accepts.Load() < users {
		t.Fatalf("only %d logins accepted", accepts.Load())
	}
	t.Logf("%d logins accepted beside %d CLI commands, none refused", accepts.Load(), 10*(len(rounds)+2))
}

// TestHangupReloads: SIGHUP does not end the server; it reads the client
// table at once (a client added from the CLI is answered before the next
// periodic check) and takes the log level from the --config file.
func TestHangupReloads(t *testing.T) {
	e := newCLI(t)
	e.ok("client", "add", "nas", "--cidr", "127.0.0.2/32", "--secret", "s3cret-for-tests")
	e.ok("user", "add", "hup")
	_, seed := e.enrollSecret("hup", "--type", "hotp")
	config := filepath.Join(e.dir, "radmfa.yaml")
	if err := os.WriteFile(config, []byte("log-level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errs := &syncBuffer{}
	cmd, addr := startServeProcessWith(t, errs, []string{"--config", config, "--data-dir", e.dir},
		"--reload-every", "1h")
	n := newNAS(t, "127.0.0.2", addr, "s3cret-for-tests")
	if p := n.exchange("hup", hotpAt(seed, 0)); p.Code != radius.CodeAccessAccept {
		t.Fatalf("before SIGHUP: %v", p.Code)
	}
	if strings.Contains(errs.String(), "radius: login") {
		t.Fatal("login lines logged at level warn")
	}

	e.ok("client", "add", "late", "--cidr", "127.0.0.3/32", "--secret", "late-s3cret-for-tests")
	if err := os.WriteFile(config, []byte("log-level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	late := newNAS(t, "127.0.0.3", addr, "late-s3cret-for-tests")
	var p *radius.Packet
	for deadline := time.Now().Add(10 * time.Second); p == nil; {
		// Until the reload has happened the server drops the new client's
		// requests (unknown source); once it has, it answers.
		if p = late.exchangeOnce("hup", hotpAt(seed, 1), 200*time.Millisecond); p == nil && time.Now().After(deadline) {
			t.Fatalf("the client added before SIGHUP is still unknown; server log:\n%s", errs.String())
		}
	}
	if p.Code != radius.CodeAccessAccept {
		t.Fatalf("after SIGHUP: %v", p.Code)
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the server ended on SIGHUP: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(errs.String(), "radius: login"); {
		if time.Now().After(deadline) {
			t.Fatalf("no login line after SIGHUP set the level to debug; server log:\n%s", errs.String())
		}
		n.exchange("hup", "000000")
	}
}

// serve refuses a data directory that group or others can reach, or that
// belongs to another user, as it refuses such a master key.
func TestServeChecksTheDataDir(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    string
	}{
		{"group and others", func(t *testing.T, dir string) {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "chmod 700"},
		{"another user's", func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				if os.Getenv("CI") == "true" {
					t.Fatal("CI runs as root, which this case needs")
				}
				t.Skip("giving the directory to another user needs root")
			}
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "belongs to uid 65534"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLI(t)
			e.ok("user", "list") // creates the database and key
			tc.prepare(t, e.dir)
			_, errOut, code := e.run("serve", "--radius-addr", "127.0.0.1:0", "--metrics-addr", "")
			if code == 0 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("serve: exit %d, %q; want one line with %q", code, errOut, tc.want)
			}
		})
	}
}
