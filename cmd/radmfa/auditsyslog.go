package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"log/syslog"
	"net/url"
	"time"

	"github.com/radmfa/radmfa/store"
)

// dialSyslog opens the syslog destination of --audit-syslog: "local" (the
// host's syslog), or udp://HOST:PORT, tcp://HOST:PORT.
func dialSyslog(dest string) (*syslog.Writer, error) {
	prio := syslog.LOG_INFO | syslog.LOG_AUTH
	if dest == "local" {
		return syslog.New(prio, "radmfa")
	}
	u, err := url.Parse(dest)
	if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" {
		return nil, fmt.Errorf("--audit-syslog %q: want local, udp://HOST:PORT or tcp://HOST:PORT", dest)
	}
	return syslog.Dial(u.Scheme, u.Host, prio, "radmfa")
}

// forwardAudit sends every new audit row to syslog as a JSON line (as
// audit --jsonl writes them), once a second, until ctx ends. It starts
// with the rows written from now on. With several instances, turn it on
// in one: each sees every row of the shared database.
func forwardAudit(ctx context.Context, st store.Store, w *syslog.Writer, log *slog.Logger) {
	defer w.Close()
	since := time.Now()
	var lastID int64
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rows, err := st.AuditEvents(ctx, store.AuditFilter{Since: since.Add(-2 * time.Second), Limit: 10000})
		if err != nil {
			if ctx.Err() == nil {
				log.Error("audit: syslog: reading the audit log", "err", err)
			}
			continue
		}
		for _, r := range rows {
			if r.ID <= lastID {
				continue
			}
			b, _ := json.Marshal(auditJSON{At: r.At, Actor: r.Actor, Action: r.Action, User: r.User, Serial: r.Serial,
				Client: r.Client, Result: r.Result, Detail: r.Detail})
			if err := w.Info(string(b)); err != nil {
				log.Error("audit: syslog: sending", "err", err)
				break
			}
			lastID = r.ID
			since = r.At
		}
	}
}
