package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// Accounting from a real client (radclient): Start, Interim-Update and
// Stop are answered and become a session; a wrong secret is dropped and
// counted; an accounting server's port is its own.
func TestAccountingSessions(t *testing.T) {
	requireTool(t, "radclient", "freeradius-utils")
	onEachBackend(t, func(t *testing.T, e *cliEnv) {
		e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
		e.ok("user", "add", "alice")
		srv := startServer(t, e)
		acct := func(secret, attrs string) string {
			t.Helper()
			return radtool(t, attrs, "radclient", "-r", "1", "-t", "2", "-x", srv.acct, "acct", secret)
		}
		base := "User-Name = alice\nAcct-Session-Id = \"S-1\"\nNAS-Identifier = fw1\nFramed-IP-Address = 10.8.0.6\nCalling-Station-Id = \"203.0.113.9\"\n"
		if out := acct("testing123", base+"Acct-Status-Type = Start\n"); !strings.Contains(out, "Received Accounting-Response") {
			t.Fatalf("Start not answered:\n%s", out)
		}
		if out := acct("testing123", base+"Acct-Status-Type = Interim-Update\nAcct-Session-Time = 60\nAcct-Input-Octets = 5000\nAcct-Output-Octets = 7000\n"); !strings.Contains(out, "Received Accounting-Response") {
			t.Fatalf("Interim-Update not answered:\n%s", out)
		}
		var active []sessionJSON
		if err := json.Unmarshal([]byte(e.ok("sessions", "--active", "--json")), &active); err != nil {
			t.Fatal(err)
		}
		if len(active) != 1 || active[0].User != "alice" || active[0].NAS != "fw1" || active[0].FramedIP != "10.8.0.6" ||
			active[0].InOctets != 5000 || !active[0].Active || active[0].CallingStation != "203.0.113.9" {
			t.Fatalf("active sessions = %+v", active)
		}
		// A wrong secret: no answer, counted, nothing recorded.
		before := srv.metric(t, `radmfa_radius_drops_total{reason="bad_accounting_authenticator"}`)
		if out := acct("wrongsecret", base+"Acct-Status-Type = Stop\nAcct-Session-Time = 99\n"); strings.Contains(out, "Received Accounting-Response") {
			t.Fatalf("wrong secret answered:\n%s", out)
		}
		if got := srv.metric(t, `radmfa_radius_drops_total{reason="bad_accounting_authenticator"}`); got < before+1 {
			t.Fatalf("bad authenticator drops %v, want more than %v", got, before)
		}
		if out := e.ok("sessions", "--active"); !strings.Contains(out, "alice") {
			t.Fatalf("a forged Stop ended the session:\n%s", out)
		}
		if out := acct("testing123", base+"Acct-Status-Type = Stop\nAcct-Session-Time = 90\nAcct-Input-Octets = 6000\nAcct-Output-Octets = 8000\nAcct-Terminate-Cause = User-Request\n"); !strings.Contains(out, "Received Accounting-Response") {
			t.Fatalf("Stop not answered:\n%s", out)
		}
		if out := e.ok("sessions", "--active"); strings.Contains(out, "alice") {
			t.Fatalf("stopped session still active:\n%s", out)
		}
		out := e.ok("sessions", "--user", "alice")
		for _, want := range []string{"alice", "fw1", "S-1", "1m30s", "User-Request", "5.9 KiB"} {
			if !strings.Contains(out, want) {
				t.Fatalf("sessions: want %q in:\n%s", want, out)
			}
		}
		// Accounting sent to the authentication port is not answered.
		if out := radtool(t, base+"Acct-Status-Type = Start\n", "radclient", "-r", "1", "-t", "1", "-x", srv.addr, "acct", "testing123"); strings.Contains(out, "Received Accounting-Response") {
			t.Fatalf("accounting answered on the authentication port:\n%s", out)
		}
		if got := srv.metric(t, `radmfa_radius_drops_total{reason="wrong_port"}`); got < 1 {
			t.Fatalf("wrong port drops %v", got)
		}
		// The users-with-tokens report shows the last session.
		var rows []map[string]string
		if err := json.Unmarshal([]byte(e.ok("report", "users-with-tokens", "--json")), &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0]["last_session"] == "" || rows[0]["session_active"] != "false" {
			t.Fatalf("report = %+v", rows)
		}
	})
}

func TestAccountingAddrs(t *testing.T) {
	tests := []struct {
		name       string
		auth, flag []string
		want       string
		wantErr    bool
	}{
		{"default port", []string{":1812"}, nil, ":1813", false},
		{"host kept", []string{"10.0.0.1:11812", "10.0.0.2:1812"}, nil, "10.0.0.1:1813", false},
		{"free port", []string{"127.0.0.1:0"}, nil, "127.0.0.1:0", false},
		{"off", []string{":1812"}, []string{"off"}, "", false},
		{"given", []string{":1812"}, []string{"127.0.0.1:1646", "[::1]:1813"}, "127.0.0.1:1646,[::1]:1813", false},
		{"not an address", []string{":1812"}, []string{"1813"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := accountingAddrs(tc.auth, tc.flag)
			if (err != nil) != tc.wantErr || strings.Join(got, ",") != tc.want {
				t.Fatalf("accountingAddrs(%v, %v) = %v, %v; want %q (error %v)", tc.auth, tc.flag, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
