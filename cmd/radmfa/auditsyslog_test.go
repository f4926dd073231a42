package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// serve --audit-syslog udp://...: every audit row goes to syslog as a
// JSON line; a bad destination is refused at start.
func TestAuditToSyslog(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	e := newCLI(t)
	startServer(t, e, "--audit-syslog", "udp://"+pc.LocalAddr().String())
	e.ok("user", "add", "syd")
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		msg := string(buf[:n])
		i := strings.Index(msg, "{")
		if i < 0 || !strings.Contains(msg, "radmfa") {
			t.Fatalf("not a syslog line of radmfa's: %q", msg)
		}
		var row auditJSON
		if err := json.Unmarshal([]byte(msg[i:]), &row); err != nil {
			t.Fatalf("not JSON: %q", msg)
		}
		if row.Action == "user.add" && row.User == "syd" {
			return
		}
	}
	t.Fatal("the user.add row did not reach syslog")
}

func TestAuditSyslogDestinations(t *testing.T) {
	for _, bad := range []string{"syslog.example.com", "http://x", "udp://"} {
		if _, err := dialSyslog(bad); err == nil || !strings.Contains(err.Error(), "want local") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
