// Package pgtest gives tests a real PostgreSQL: the cluster that
// RADMFA_TEST_POSTGRES names (a postgres:// URL of a superuser, which
// .ci/run sets), or a throwaway cluster the test binary starts itself from
// the PostgreSQL binaries it finds (initdb, postgres). Without either a
// test that needs PostgreSQL skips, except under CI=true, where it fails.
//
// A package whose tests use it runs them through Main, which stops the
// cluster it started when the tests are done.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable with the URL of a cluster to use.
const EnvURL = "RADMFA_TEST_POSTGRES"

// shared is the cluster of this test binary: the one EnvURL names or one
// started on first use.
type shared struct {
	once    sync.Once
	url     string
	cluster *Cluster
	err     error
	inMain  bool
}

var the shared // one per test binary; Main and DB are its only users

// Main runs a package's tests (call it from TestMain) and stops the
// cluster it started for them.
func Main(m interface{ Run() int }) int {
	the.inMain = true
	code := m.Run()
	if the.cluster != nil {
		the.cluster.Stop()
	}
	return code
}

// unavailable skips t, or fails it under CI=true.
func unavailable(t testing.TB, why error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL is needed and CI=true: %v", why)
	}
	t.Skipf("no PostgreSQL: %v", why)
}

// ServerURL returns the URL of the shared cluster's superuser
// connection, starting the cluster if needed.
func ServerURL(t testing.TB) string {
	t.Helper()
	the.once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			the.url = u
			return
		}
		if !the.inMain {
			the.err = errors.New("the package's TestMain must call pgtest.Main to start a cluster")
			return
		}
		the.cluster, the.err = Start()
		if the.err == nil {
			the.url = the.cluster.URL("postgres")
		}
	})
	if the.err != nil {
		unavailable(t, the.err)
	}
	return the.url
}

// DB creates an empty database on the shared cluster for t, drops it when
// t ends, and returns its URL.
func DB(t testing.TB) string {
	t.Helper()
	return CreateDB(t, ServerURL(t))
}

// CreateDB creates an empty database on the cluster whose superuser URL is
// server, drops it when t ends, and returns its URL.
func CreateDB(t testing.TB, server string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", redact(server), err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "radmfa_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Cluster is a throwaway PostgreSQL cluster in a temporary directory,
// listening on 127.0.0.1 and a free port, trusting local connections.
type Cluster struct {
	Dir  string
	Port int
	bin  string
	cred *syscall.Credential
	cmd  *exec.Cmd
	done chan error
}

// Bin finds the directory of PostgreSQL's server binaries.
func Bin() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no postgres binary (Debian: apt-get install postgresql)")
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// NewCluster starts a cluster of t's own (to restart or halt it), stopped
// and removed when t ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := Start()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Start initialises a cluster and starts it. PostgreSQL refuses to run as
// root: as root, the cluster belongs to and runs as the postgres user.
func Start() (*Cluster, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "radmfa-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		pu, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	init := exec.Command(filepath.Join(bin, "initdb"), "-D", c.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--locale=C", "--no-sync")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := init.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	if err := c.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

// URL is the superuser URL of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Start starts the (stopped) cluster, on the port it had before if it had
// one, and waits until it takes connections.
func (c *Cluster) Start() error {
	if c.Port == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		c.Port = port
	}
	c.cmd = exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.data(), "-k", c.Dir, "-p", strconv.Itoa(c.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400", "-c", "fsync=off",
		"-c", "full_page_writes=off", "-c", "shared_buffers=64MB", "-c", "logging_collector=off")
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	logf, err := os.OpenFile(filepath.Join(c.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case werr := <-c.done:
			log, _ := os.ReadFile(filepath.Join(c.Dir, "postgres.log"))
			return fmt.Errorf("postgres exited: %v: %s", werr, lastLines(log))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.kill()
			return fmt.Errorf("postgres did not take connections in 30s: %v", err)
		}
	}
}

// Restart stops the cluster (a fast shutdown: sessions are cut) and
// starts it again on the same port.
func (c *Cluster) Restart() error {
	c.Halt()
	return c.Start()
}

// Halt stops the cluster (a fast shutdown) and keeps its data; Start
// starts it again.
func (c *Cluster) Halt() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.kill()
	}
	c.cmd = nil
}

func (c *Cluster) kill() {
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
}

// Stop stops the cluster and removes its directory.
func (c *Cluster) Stop() {
	c.Halt()
	os.RemoveAll(c.Dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}
