package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eapolTest runs eapol_test (Debian's eapoltest) with one network block
// against addr and returns what it printed and whether it succeeded.
func eapolTest(t *testing.T, addr, secret, mac string, network ...string) (string, bool) {
	t.Helper()
	bin := requireTool(t, "eapol_test", "eapoltest")
	conf := filepath.Join(t.TempDir(), "eapol.conf")
	if err := os.WriteFile(conf, []byte("network={\n\t"+strings.Join(network, "\n\t")+"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf, "-a", host, "-p", port, "-s", secret, "-t", "40", "-n", "-M", mac) // -n: GTC derives no keys
	out, err := cmd.CombinedOutput()
	return string(out), err == nil && strings.Contains(string(out), "SUCCESS")
}

// EAP-GTC from eapol_test (as strongSwan's eap-radius or an 802.1X switch
// relays it): a fresh PIN+code succeeds, its replay from another station
// fails, another EAP method is refused with a reason, and an empty
// password is a push the phone approves.
func TestEAPGTC(t *testing.T) {
	requireTool(t, "eapol_test", "eapoltest")
	e := newCLI(t)
	e.ok("client", "add", "ap", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "gina")
	_, seed := e.enrollSecret("gina", "--type", "hotp", "--pin", "pin-2468")
	srv := startPushServer(t, e, "--push-timeout", "30s")
	gtc := func(identity, password string) []string {
		return []string{"key_mgmt=IEEE8021X", "eap=GTC", fmt.Sprintf("identity=%q", identity), fmt.Sprintf("password=%q", password)}
	}

	out, ok := eapolTest(t, srv.addr, "testing123", "02:00:00:00:00:01", gtc("gina", "pin-2468"+hotpAt(seed, 0))...)
	if !ok {
		t.Fatalf("a fresh code failed:\n%s", out)
	}
	out, ok = eapolTest(t, srv.addr, "testing123", "02:00:00:00:00:02", gtc("gina", "pin-2468"+hotpAt(seed, 0))...)
	if ok {
		t.Fatalf("a replayed code succeeded:\n%s", out)
	}
	out, ok = eapolTest(t, srv.addr, "testing123", "02:00:00:00:00:03", "key_mgmt=IEEE8021X", "eap=MD5", `identity="gina"`, `password="x"`)
	if ok {
		t.Fatalf("EAP-MD5 succeeded:\n%s", out)
	}
	if rows := strings.Join(e.authRows("gina"), ","); rows != "accept:ok,reject:replayed_code,reject:not_pap" {
		t.Fatalf("audit: %s", rows)
	}
	if n := e.auditCount("gina", "auth", "reject:not_pap"); n != 1 || !strings.Contains(e.ok("audit", "--user", "gina", "--result", "reject:not_pap"), "eap-nak(wants md5)") {
		t.Fatalf("the refused method is not named in the audit:\n%s", e.ok("audit", "--user", "gina"))
	}

	t.Run("push through EAP-GTC", func(t *testing.T) {
		e.ok("user", "add", "paul")
		dev := newDevice(t)
		m := enrollJSON(t, e, "paul", "--type", "push")
		dev.run(t, "enroll", m["activation_uri"])
		api := deviceAPIRE.FindStringSubmatch(srv.out.String())[1]
		held := inBackground(func() string {
			out, ok := eapolTest(t, srv.addr, "testing123", "02:00:00:00:00:04", gtc("paul", "")...)
			if !ok {
				return "FAILED\n" + out
			}
			return out
		})
		p := dev.nextPending(t, api)
		time.Sleep(100 * time.Millisecond)
		dev.run(t, "--server", api, "approve", p.ID)
		if out := held(); strings.HasPrefix(out, "FAILED") {
			t.Fatalf("push through EAP-GTC:\n%s", out)
		}
		if rows := strings.Join(e.authRows("paul"), ","); rows != "accept:push_approved" {
			t.Fatalf("audit: %s", rows)
		}
	})
}
