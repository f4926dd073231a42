package sqlrow

import (
	"fmt"
	"strings"
	"time"

	"github.com/radmfa/radmfa/store"
)

// SessionCols is the column list of a session row.
const SessionCols = `id, client, nas, session_id, user_name, framed_ip, calling_station, started_at, updated_at,
	stopped_at, duration, in_octets, out_octets, terminate_cause`

// SessionUpsert records an Start, Interim-Update or Stop in its session,
// in one statement whatever order they arrive in: a field the record
// leaves empty keeps what the session has, the counters only grow, the
// start is the earliest told and a Stop, once recorded, stays. $1..$13 are
// SessionArgs. Written with $N parameters; SQLite takes them as ?N.
const SessionUpsert = `INSERT INTO sessions(client, nas, session_id, user_name, framed_ip, calling_station, started_at,
	updated_at, stopped_at, duration, in_octets, out_octets, terminate_cause)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
	ON CONFLICT (client, nas, session_id) DO UPDATE SET
	user_name = CASE WHEN excluded.user_name <> '' THEN excluded.user_name ELSE sessions.user_name END,
	framed_ip = CASE WHEN excluded.framed_ip <> '' THEN excluded.framed_ip ELSE sessions.framed_ip END,
	calling_station = CASE WHEN excluded.calling_station <> '' THEN excluded.calling_station ELSE sessions.calling_station END,
	started_at = CASE WHEN excluded.started_at < sessions.started_at THEN excluded.started_at ELSE sessions.started_at END,
	updated_at = excluded.updated_at,
	stopped_at = CASE WHEN excluded.stopped_at <> 0 THEN excluded.stopped_at ELSE sessions.stopped_at END,
	duration = CASE WHEN excluded.duration > sessions.duration THEN excluded.duration ELSE sessions.duration END,
	in_octets = CASE WHEN excluded.in_octets > sessions.in_octets THEN excluded.in_octets ELSE sessions.in_octets END,
	out_octets = CASE WHEN excluded.out_octets > sessions.out_octets THEN excluded.out_octets ELSE sessions.out_octets END,
	terminate_cause = CASE WHEN excluded.terminate_cause <> '' THEN excluded.terminate_cause ELSE sessions.terminate_cause END`

// SessionsEnd ends the open sessions of a NAS that restarted or stopped
// (Accounting-On/-Off): $1 client, $2 NAS, $3 when (Unix seconds), $4 the
// cause.
const SessionsEnd = `UPDATE sessions SET stopped_at = $3, updated_at = $3, terminate_cause = $4
	WHERE client = $1 AND nas = $2 AND stopped_at = 0`

// CheckAcct checks an accounting record before it is written.
func CheckAcct(r store.AcctRecord) error {
	switch r.Status {
	case store.AcctStart, store.AcctInterim, store.AcctStop:
		if r.SessionID == "" {
			return fmt.Errorf("store: accounting %s without Acct-Session-Id: %w", r.Status, store.ErrInvalid)
		}
	case store.AcctOn, store.AcctOff:
	default:
		return fmt.Errorf("store: accounting status %q: %w", r.Status, store.ErrInvalid)
	}
	if r.Client == "" || r.NAS == "" || r.SessionTime < 0 || r.InOctets < 0 || r.OutOctets < 0 {
		return fmt.Errorf("store: accounting record without client or NAS, or with negative counters: %w", store.ErrInvalid)
	}
	return nil
}

// SessionArgs are SessionUpsert's arguments for a Start, Interim-Update or
// Stop.
func SessionArgs(r store.AcctRecord) []any {
	at := r.At.Unix()
	var stopped int64
	cause := ""
	if r.Status == store.AcctStop {
		stopped, cause = at, r.TerminateCause
	}
	return []any{r.Client, r.NAS, r.SessionID, r.User, r.FramedIP, r.CallingStation, at - r.SessionTime,
		at, stopped, r.SessionTime, r.InOctets, r.OutOctets, cause}
}

// EndCause is what SessionsEnd records for an Accounting-On or -Off.
func EndCause(s store.AcctStatus) string {
	if s == store.AcctOn {
		return "NAS-Reboot"
	}
	return "NAS-Accounting-Off"
}

// ScanSession reads a row of SessionCols.
func ScanSession(sc Scanner) (store.Session, error) {
	var s store.Session
	var start, updated, stop, dur int64
	if err := sc.Scan(&s.ID, &s.Client, &s.NAS, &s.SessionID, &s.User, &s.FramedIP, &s.CallingStation, &start, &updated,
		&stop, &dur, &s.InOctets, &s.OutOctets, &s.TerminateCause); err != nil {
		return store.Session{}, err
	}
	s.Start, s.Updated = UnixTime(start), UnixTime(updated)
	if stop != 0 {
		s.Stop = UnixTime(stop)
	}
	s.Duration = time.Duration(dur) * time.Second
	if s.Duration == 0 && stop > start {
		// A Stop without Acct-Session-Time, or an Accounting-Off.
		s.Duration = time.Duration(stop-start) * time.Second
	}
	return s, nil
}

// SessionQuery is the query for f, newest first, with $N parameters.
func SessionQuery(f store.SessionFilter) (string, []any) {
	var where []string
	var args []any
	if f.User != "" {
		args = append(args, f.User)
		where = append(where, fmt.Sprintf("lower(user_name) = lower($%d)", len(args)))
	}
	if f.Active {
		where = append(where, "stopped_at = 0")
	}
	if f.Latest {
		where = append(where, "id IN (SELECT MAX(id) FROM sessions GROUP BY lower(user_name))")
	}
	q := `SELECT ` + SessionCols + ` FROM sessions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY started_at DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return q, args
}

// QuestionParams rewrites $N parameters as SQLite's ?N.
func QuestionParams(q string) string { return strings.ReplaceAll(q, "$", "?") }
