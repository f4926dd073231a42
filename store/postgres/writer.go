package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/radmfa/radmfa/store/internal/writeq"
)

// Group commit. Every login is one statement (see CommitAuth); committed
// one by one, each paid PostgreSQL's commit (a WAL flush, locks, a wake-up
// of the backend) and a round trip, and 16 backends flushing the WAL by
// turns spent more CPU than the logins. The writers gather the logins
// decided meanwhile and send them as one transaction in one round trip:
// one commit, one flush, for all of them.
//
// A lost compare-and-set is not an error (its statement returns no row):
// the other logins of the batch commit. Any error rolls the batch back and
// each login is committed again on its own, so that one failing login
// never takes another down. The statements of a batch are ordered by the
// rows they lock (tokens, then users, by id), so that two writers, or two
// instances, lock them in the same order and do not deadlock.

// loginOp is one login queued for a writer.
type loginOp struct {
	q    string
	args []any
	// again decides whether a failure of the login on its own is retried
	// (see retry).
	again func(error) bool
	// order is what the batch is sorted by: the first row it locks.
	order [2]int64
	// accept: q is sqlAccept, args in its order; a batch's accepts are
	// committed together by sqlAcceptMany.
	accept bool
	// deadline is the login's: retries of it on its own stop there.
	deadline time.Time
	done     chan error
}

// maxLoginBatch bounds the logins of one transaction.
const maxLoginBatch = 256

// writers is how many batches may be in flight at once. One: the logins
// decided while a batch commits make the next batch, and fewer, larger
// batches cost PostgreSQL less than more, smaller ones in parallel
// (measured on 2 cores, 32 logins in flight: 1 writer 14,000 logins/s,
// 2 writers 7,700, 3 writers 7,700).
const writers = 1

func (s *Store) startWriters() {
	s.logins = writeq.New[loginOp](maxLoginBatch)
	for range writers {
		s.writers.Go(s.writeLogins)
	}
}

// writeLogins commits queued logins in batches until the queue closes.
func (s *Store) writeLogins() {
	for {
		batch, ok := s.logins.Next()
		if !ok {
			return
		}
		s.commitBatch(batch)
	}
}

// commitBatch commits batch in one transaction and answers its logins; a
// failed transaction is replayed a login at a time.
func (s *Store) commitBatch(batch []loginOp) {
	if len(batch) == 1 {
		op := batch[0]
		op.done <- s.commitOne(op)
		return
	}
	slices.SortFunc(batch, func(a, b loginOp) int {
		if a.order[0] != b.order[0] {
			return cmpInt(a.order[0], b.order[0])
		}
		return cmpInt(a.order[1], b.order[1])
	})
	results := make([]error, len(batch))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	queueAccepts(b, batch, results)
	for i, op := range batch {
		if op.accept {
			continue
		}
		b.Queue(op.q, op.args...).QueryRow(func(row pgx.Row) error {
			var id int64
			err := row.Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				results[i] = errConflictRow
				return nil
			}
			return err
		})
	}
	b.Queue("COMMIT")
	err := s.pool.SendBatch(ctx, b).Close()
	s.metrics.batch(len(batch), err)
	if err != nil {
		s.log.Warn("store: a transaction of logins failed; committing them one by one", "logins", len(batch), "err", err)
		for _, op := range batch {
			op.done <- s.commitOne(op)
		}
		return
	}
	for i, op := range batch {
		op.done <- results[i]
	}
}

// sqlAcceptMany is sqlAccept for many accepts in one statement, one
// element of each array per accept; it returns the index ($1) of every
// accept that took. Two accepts of one token (one code sent twice at once)
// both match its row, which is updated once: one index is returned, the
// other accept conflicts.
const sqlAcceptMany = `WITH a AS (
	SELECT * FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bytea[],
		$7::bool[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
		$12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[])
		AS a(i, at, counter, last_step, drift, request, activate, id, version, user_id, max_tat,
			actor, action, user_name, serial, client, result, detail)
), acc AS (
	UPDATE tokens SET counter = a.counter, last_step = a.last_step, drift = a.drift, fail_count = 0,
		last_used = a.at / 1000, last_request = a.request,
		state = CASE WHEN a.activate THEN 'active' ELSE tokens.state END, version = tokens.version + 1
	FROM a
	WHERE tokens.id = a.id AND tokens.version = a.version AND tokens.state IN ('assigned', 'active')
		AND tokens.user_id = a.user_id
		AND EXISTS (SELECT 1 FROM users WHERE users.id = a.user_id AND NOT users.disabled AND users.fail_tat <= a.max_tat)
	RETURNING a.i
), audited AS (
	INSERT INTO audit(at, actor, action, user_name, serial, client, result, detail)
	SELECT a.at, a.actor, a.action, a.user_name, a.serial, a.client, a.result, a.detail FROM a JOIN acc ON acc.i = a.i
)
SELECT i FROM acc`

// queueAccepts queues the accepts of batch as one sqlAcceptMany, which
// fills results: errConflictRow for an accept that did not take.
func queueAccepts(b *pgx.Batch, batch []loginOp, results []error) {
	var idx []int32
	var at, counter, step, drift, id, version, user, maxTAT []int64
	var request [][]byte
	var activate []bool
	var audit [7][]string
	for i, op := range batch {
		if !op.accept {
			continue
		}
		a := op.args
		idx = append(idx, int32(i))
		at, counter, step, drift = append(at, a[0].(int64)), append(counter, a[1].(int64)), append(step, a[2].(int64)), append(drift, a[3].(int64))
		request, activate = append(request, a[4].([]byte)), append(activate, a[5].(bool))
		id, version, user, maxTAT = append(id, a[6].(int64)), append(version, a[7].(int64)), append(user, a[8].(int64)), append(maxTAT, a[9].(int64))
		for k := range audit {
			audit[k] = append(audit[k], a[10+k].(string))
		}
		results[i] = errConflictRow // until its index comes back
	}
	if len(idx) == 0 {
		return
	}
	b.Queue(sqlAcceptMany, idx, at, counter, step, drift, request, activate, id, version, user, maxTAT,
		audit[0], audit[1], audit[2], audit[3], audit[4], audit[5], audit[6]).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var i int32
			if err := rows.Scan(&i); err != nil {
				return err
			}
			results[i] = nil
		}
		return rows.Err()
	})
}

// commitOne commits one login on its own, retried within its deadline as
// its again allows.
func (s *Store) commitOne(op loginOp) error {
	ctx, cancel := context.WithDeadline(context.Background(), op.deadline)
	defer cancel()
	err := s.retry(ctx, op.again, func() error {
		var id int64
		return s.pool.QueryRow(ctx, op.q, op.args...).Scan(&id)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return errConflictRow
	}
	return err
}

// errConflictRow is a lost compare-and-set: the accept's statement
// returned no row.
var errConflictRow = errors.New("no row: the compare-and-set did not take")

// queueLogin hands op to the writers and waits for its commit. Once
// queued, it is waited for even if ctx ends: a login that was recorded is
// never reported as one that was not.
func (s *Store) queueLogin(ctx context.Context, op loginOp) error {
	op.done = make(chan error, 1)
	op.deadline = time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		op.deadline = d
	}
	if err := s.logins.Send(ctx, op); err != nil {
		return err
	}
	return <-op.done
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
