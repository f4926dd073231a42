package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/internal/pgtest"
	"github.com/radmfa/radmfa/push"
	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/postgres"
)

// instances are two push managers, as two radmfa instances run them, on
// one database.
type instances struct {
	a, b   *push.Manager
	sa, sb *postgres.Store
	dev    store.Device
	login  push.Login
}

// twoInstances makes a user with a push device and two managers on one
// database. recheck is how often each re-checks its requests on the
// board: an hour leaves the notifications alone to bring answers.
func twoInstances(t *testing.T, recheck time.Duration) *instances {
	t.Helper()
	ctx := context.Background()
	url, key := pgtest.DB(t), newKey(t)
	in := &instances{sa: open(t, url, key), sb: open(t, url, key)}
	t.Cleanup(func() { in.sa.Close(); in.sb.Close() })
	if _, err := in.sa.CreateUser(ctx, "t", store.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.sa.CreateToken(ctx, "t", store.Token{Serial: "RMP-1", User: "alice", Type: store.TypePush,
		Origin: store.OriginSoft, State: store.StateActive, Algorithm: "SHA1", Digits: 6, Period: 30, Seed: []byte("0123456789abcdef0123")}); err != nil {
		t.Fatal(err)
	}
	in.dev = store.Device{Serial: "RMP-1", User: "alice", PublicKey: []byte{4, 1, 2}}
	in.login = push.Login{User: "alice", Client: "vpn", CallingStation: "198.51.100.7"}
	cfg := push.Config{Timeout: 30 * time.Second, Recheck: recheck}
	in.a = push.NewManager(push.Deps{Store: in.sa, Board: in.sa.PushBoard(), Config: cfg})
	in.b = push.NewManager(push.Deps{Store: in.sb, Board: in.sb.PushBoard(), Config: cfg})
	t.Cleanup(func() { in.a.Close(); in.b.Close() })
	return in
}

// waitEnd waits for r to end, failing t after 10 s.
func waitEnd(t *testing.T, r *push.Request) push.Outcome {
	t.Helper()
	select {
	case <-r.Done():
		return r.Outcome()
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not end")
	}
	return push.Pending
}

func audits(t *testing.T, s store.Store, action string) []store.AuditEvent {
	t.Helper()
	ev, err := s.AuditEvents(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// waitListening gives a manager's LISTEN connection time to be up: an
// answer ended on the board before it listens reaches it only by the
// re-check. It polls pg_stat_activity for the listeners.
func waitListening(t *testing.T, url string, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND query = 'LISTEN radmfa_push'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d instances listen", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPushAnswerReachesTheOtherInstance(t *testing.T) {
	ctx := context.Background()
	in := twoInstances(t, time.Hour)
	waitListening(t, pgURL(t, in.sa), 2)
	r, joined, err := in.a.Start(ctx, in.login, in.dev)
	if err != nil || joined {
		t.Fatalf("Start on A: %v joined=%v", err, joined)
	}
	// The phone polls B and answers there.
	pend, err := in.b.Pending(ctx, "RMP-1")
	if err != nil || len(pend) != 1 || pend[0].ID != r.ID {
		t.Fatalf("B's pending list: %v %v", pend, err)
	}
	o, err := in.b.Answer(ctx, "RMP-1", r.ID, push.DecisionApprove, 0)
	if err != nil || o != push.Approved {
		t.Fatalf("answer on B: %v %v", o, err)
	}
	// A hears of it by notification alone (its re-check is an hour away).
	if got := waitEnd(t, r); got != push.Approved {
		t.Fatalf("A's request ended %v, want approved", got)
	}
	if _, err := in.a.Answer(ctx, "RMP-1", r.ID, push.DecisionApprove, 0); !errors.Is(err, push.ErrAnswered) {
		t.Fatalf("a second answer on A: %v, want answered", err)
	}
	if rows := audits(t, in.sa, "push.answer"); len(rows) != 1 || rows[0].Result != "approved" {
		t.Fatalf("push.answer audit rows %+v, want one", rows)
	}
}

func TestPushLostNotificationFoundByRecheck(t *testing.T) {
	ctx := context.Background()
	in := twoInstances(t, 50*time.Millisecond)
	r, _, err := in.a.Start(ctx, in.login, in.dev)
	if err != nil {
		t.Fatal(err)
	}
	// Another instance approved, but its notification never arrived.
	conn, err := pgx.Connect(ctx, pgURL(t, in.sa))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE push_requests SET outcome = 'approved' WHERE id = $1`, r.ID); err != nil {
		t.Fatal(err)
	}
	if got := waitEnd(t, r); got != push.Approved {
		t.Fatalf("A's request ended %v, want approved", got)
	}
}

func TestPushFailoverJoinsThePendingPush(t *testing.T) {
	ctx := context.Background()
	in := twoInstances(t, time.Hour)
	waitListening(t, pgURL(t, in.sa), 2)
	ra, _, err := in.a.Start(ctx, in.login, in.dev)
	if err != nil {
		t.Fatal(err)
	}
	// The NAS gives up on A and sends the trigger to B, its secondary.
	rb, joined, err := in.b.Start(ctx, in.login, in.dev)
	if err != nil || !joined || rb.ID != ra.ID {
		t.Fatalf("Start on B: %v joined=%v same=%v, want to join A's push", err, joined, rb != nil && rb.ID == ra.ID)
	}
	if rows := audits(t, in.sa, "push.request"); len(rows) != 1 {
		t.Fatalf("%d push.request rows, want one push", len(rows))
	}
	// A trigger for the same user from elsewhere is refused on either.
	other := in.login
	other.CallingStation = "203.0.113.9"
	for name, m := range map[string]*push.Manager{"A": in.a, "B": in.b} {
		if _, _, err := m.Start(ctx, other, in.dev); !errors.Is(err, push.ErrPending) {
			t.Errorf("a trigger from another station on %s: %v, want pending", name, err)
		}
	}
	// The phone answers through A; both waiters end.
	if _, err := in.a.Answer(ctx, "RMP-1", ra.ID, push.DecisionDeny, 0); err != nil {
		t.Fatal(err)
	}
	if got := waitEnd(t, rb); got != push.Denied {
		t.Fatalf("B's waiter ended %v", got)
	}
	if got := waitEnd(t, ra); got != push.Denied {
		t.Fatalf("A's waiter ended %v", got)
	}
}

func TestPushOfADeadInstanceExpires(t *testing.T) {
	ctx := context.Background()
	in := twoInstances(t, time.Hour)
	clk := time.Now()
	// A request a dead instance posted, expired a second ago.
	dead := store.PushRequest{ID: "dead", Serial: "RMP-1", User: "alice", Client: "vpn", CallingStation: "x",
		State: []byte("radmfa-push:dead"), Created: clk.Add(-31 * time.Second), Expires: clk.Add(-time.Second), Outcome: "pending"}
	if other, err := in.sa.PushBoard().Post(ctx, dead, dead.Created); err != nil || other != nil {
		t.Fatalf("post: %v %v", other, err)
	}
	r, joined, err := in.b.Start(ctx, in.login, in.dev)
	if err != nil || joined {
		t.Fatalf("Start after the dead instance's push expired: %v joined=%v", err, joined)
	}
	if p, err := in.sa.PushBoard().Get(ctx, "dead"); err != nil || p.Outcome != "expired" {
		t.Fatalf("the dead push: %+v %v", p, err)
	}
	in.b.Cancel(r)
}

func TestPushStateFollowUpOnTheOtherInstance(t *testing.T) {
	ctx := context.Background()
	in := twoInstances(t, time.Hour)
	waitListening(t, pgURL(t, in.sa), 2)
	l := in.login
	l.NumberMatching = "on"
	ra, _, err := in.a.Start(ctx, l, in.dev)
	if err != nil || ra.Number == 0 {
		t.Fatalf("Start: %v number %d", err, ra.Number)
	}
	rb := in.b.TakeState(ctx, ra.State)
	if rb == nil || rb.ID != ra.ID || rb.Number != ra.Number {
		t.Fatalf("B's TakeState of A's State: %+v", rb)
	}
	if _, err := in.a.Answer(ctx, "RMP-1", ra.ID, push.DecisionApprove, ra.Number); err != nil {
		t.Fatal(err)
	}
	if got := waitEnd(t, rb); got != push.Approved {
		t.Fatalf("B's follow-up ended %v", got)
	}
}

// pgURL is the URL s was opened with.
func pgURL(t *testing.T, s *postgres.Store) string {
	t.Helper()
	u := s.Pool().Config().ConnString()
	if !strings.HasPrefix(u, "postgres") {
		t.Fatalf("conn string %q", u)
	}
	return u
}
