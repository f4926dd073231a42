package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve tells systemd it is ready once it listens (Type=notify), and
// that it stops.
func TestServeNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	e := newCLI(t)
	srv := startServer(t, e)
	read := func() string {
		buf := make([]byte, 256)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if got := read(); got != "READY=1" {
		t.Fatalf("first notification %q", got)
	}
	srv.stop()
	if got := read(); got != "STOPPING=1" {
		t.Fatalf("at shutdown %q", got)
	}
}

// make deb builds the Debian package with nfpm; its contents, its
// control data and its unit are what an installation needs, and
// systemd-analyze verify accepts the unit.
func TestDebianPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building the package takes a minute")
	}
	dpkg := requireTool(t, "dpkg-deb", "dpkg")
	analyze := requireTool(t, "systemd-analyze", "systemd")
	makeBin := requireTool(t, "make", "make")
	root, _ := filepath.Abs("../..")
	out, err := exec.Command(makeBin, "-C", root, "deb").CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	deb := strings.TrimSpace(lastField(string(out), "created package: "))
	if deb == "" {
		t.Fatalf("no package in:\n%s", out)
	}
	if !filepath.IsAbs(deb) {
		deb = filepath.Join(root, deb)
	}
	t.Cleanup(func() { os.Remove(deb) })
	contents, err := exec.Command(dpkg, "-c", deb).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"./usr/bin/radmfa\n", "./usr/bin/radmfa-device\n", "./usr/lib/systemd/system/radmfa.service\n",
		"-rw-r----- root/root", "./etc/radmfa/radmfa.yaml\n", "drwx------ root/root         0", "./var/lib/radmfa/\n"} {
		if !strings.Contains(string(contents), want) {
			t.Errorf("%q not in the package:\n%s", want, contents)
		}
	}
	info, err := exec.Command(dpkg, "-I", deb).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Package: radmfa", "Depends: adduser", "conffiles", "postinst", "postrm"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("%q not in the control data:\n%s", want, info)
		}
	}
	// The unit as installed, with the binary where the test built it.
	unit, err := os.ReadFile(filepath.Join(root, "packaging", "radmfa.service"))
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := filepath.Abs(filepath.Join(root, "bin", "radmfa"))
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the built binary: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "radmfa.service"), []byte(strings.ReplaceAll(string(unit), "/usr/bin/radmfa", bin)), 0o644)
	vout, _ := exec.Command(analyze, "verify", filepath.Join(dir, "radmfa.service")).CombinedOutput()
	for _, line := range strings.Split(string(vout), "\n") {
		if strings.Contains(line, "radmfa.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ReadWritePaths=/var/lib/radmfa", "PrivateTmp=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit has no %s", want)
		}
	}
}

// lastField is what follows the last prefix in s, to the end of its line.
func lastField(s, prefix string) string {
	i := strings.LastIndex(s, prefix)
	if i < 0 {
		return ""
	}
	rest := s[i+len(prefix):]
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
