package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/sqlite"
)

// Audit retention and export: audit prune --keep deletes old rows and
// says so in a row of its own; serve --audit-keep does it at start; audit
// --jsonl writes one JSON object a line.
func TestAuditRetention(t *testing.T) {
	e := newCLI(t)
	e.ok("user", "add", "olga")
	key, err := store.LoadKey(filepath.Join(e.dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(sqlite.Options{Path: filepath.Join(e.dir, "radmfa.db"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, age := range []time.Duration{500 * 24 * time.Hour, 450 * 24 * time.Hour, 10 * 24 * time.Hour} {
		st.Audit(context.Background(), store.AuditEvent{At: time.Now().Add(-age), Actor: "old", Action: "auth", User: "olga", Result: "accept:ok"})
	}
	st.Close()
	if out := e.ok("audit", "prune", "--keep", "400d"); !strings.Contains(out, "2 audit rows older than 400d deleted") {
		t.Fatalf("prune:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(e.ok("audit", "--jsonl", "--limit", "0")), "\n")
	var last auditJSON
	for _, l := range lines {
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
	}
	if len(lines) != 3 || last.Action != "audit.prune" || !strings.Contains(last.Detail, "deleted=2") {
		t.Fatalf("after the prune: %d lines, last %+v", len(lines), last)
	}
	for _, bad := range []string{"0d", "30m", "soon"} {
		if _, errOut, code := e.run("audit", "prune", "--keep", bad); code == 0 || !strings.Contains(errOut, "--keep") {
			t.Errorf("--keep %s: exit %d %q", bad, code, errOut)
		}
	}
	// serve prunes at start.
	st, _ = sqlite.Open(sqlite.Options{Path: filepath.Join(e.dir, "radmfa.db"), Key: key})
	st.Audit(context.Background(), store.AuditEvent{At: time.Now().Add(-48 * time.Hour), Actor: "old", Action: "auth", User: "olga", Result: "reject:bad_code"})
	st.Close()
	startServer(t, e, "--audit-keep", "24h")
	waitFor(t, "serve's prune", func() bool { return !strings.Contains(e.ok("audit", "--user", "olga"), "reject:bad_code") })
}
