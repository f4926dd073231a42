package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/store"
)

// pushChannel is the LISTEN/NOTIFY channel of ended push requests; a
// notification's payload is "ID OUTCOME".
const pushChannel = "radmfa_push"

// PushBoard shares push requests between instances (it implements
// push.Board): a table of requests, and a notification in the
// transaction that ends one, which every instance LISTENs for.
type PushBoard struct {
	s *Store
}

// PushBoard returns the store's board of push requests.
func (s *Store) PushBoard() *PushBoard { return &PushBoard{s: s} }

const pushCols = `id, serial, user_name, client, nas_identifier, nas_ip, calling_station, number, choices, state,
	created_at, expires_at, outcome, location, require_uv`

func scanPush(row pgx.Row) (store.PushRequest, error) {
	var p store.PushRequest
	var created, expires int64
	var choices []int32
	err := row.Scan(&p.ID, &p.Serial, &p.User, &p.Client, &p.NASIdentifier, &p.NASIPAddress, &p.CallingStation,
		&p.Number, &choices, &p.State, &created, &expires, &p.Outcome, &p.Location, &p.RequireUV)
	for _, c := range choices {
		p.Choices = append(p.Choices, int(c))
	}
	p.Created, p.Expires = time.UnixMilli(created), time.UnixMilli(expires)
	return p, err
}

// Post records p as its user's pending request unless one is pending and
// unexpired; a pending one that expired (its instance died holding it)
// is ended first.
func (b *PushBoard) Post(ctx context.Context, p store.PushRequest, now time.Time) (*store.PushRequest, error) {
	var out *store.PushRequest
	key := strings.ToLower(p.User)
	err := b.s.tx(ctx, func(tx pgx.Tx) error {
		out = nil
		if _, err := tx.Exec(ctx, `WITH e AS (UPDATE push_requests SET outcome = 'expired', ended_at = $2
			WHERE user_key = $1 AND outcome = 'pending' AND expires_at <= $2 RETURNING id)
			SELECT pg_notify($3, id || ' expired') FROM e`, key, now.UnixMilli(), pushChannel); err != nil {
			return err
		}
		choices := make([]int32, len(p.Choices))
		for i, c := range p.Choices {
			choices[i] = int32(c)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO push_requests(id, serial, user_name, user_key, client, nas_identifier, nas_ip,
			calling_station, number, choices, state, created_at, expires_at, location, require_uv)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (user_key) WHERE outcome = 'pending' DO NOTHING`,
			p.ID, p.Serial, p.User, key, p.Client, p.NASIdentifier, p.NASIPAddress, p.CallingStation, p.Number, choices,
			p.State, p.Created.UnixMilli(), p.Expires.UnixMilli(), p.Location, p.RequireUV)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		cur, err := scanPush(tx.QueryRow(ctx, `SELECT `+pushCols+` FROM push_requests WHERE user_key = $1 AND outcome = 'pending'`, key))
		if err != nil {
			return err
		}
		out = &cur
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: push request: %w", err)
	}
	return out, nil
}

func (b *PushBoard) one(ctx context.Context, where string, arg any) (store.PushRequest, error) {
	p, err := scanPush(b.s.pool.QueryRow(ctx, `SELECT `+pushCols+` FROM push_requests WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.PushRequest{}, fmt.Errorf("store: push request: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.PushRequest{}, fmt.Errorf("store: push request: %w", err)
	}
	return p, nil
}

// Get returns request id in any state.
func (b *PushBoard) Get(ctx context.Context, id string) (store.PushRequest, error) {
	return b.one(ctx, `id = $1`, id)
}

// ByState returns the request whose challenge State is state.
func (b *PushBoard) ByState(ctx context.Context, state []byte) (store.PushRequest, error) {
	return b.one(ctx, `state = $1`, state)
}

// Pending lists a device's pending, unexpired requests, oldest first.
func (b *PushBoard) Pending(ctx context.Context, serial string, now time.Time) ([]store.PushRequest, error) {
	rows, err := b.s.pool.Query(ctx, `SELECT `+pushCols+` FROM push_requests
		WHERE serial = $1 AND outcome = 'pending' AND expires_at > $2 ORDER BY created_at`, serial, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: push requests: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.PushRequest, error) { return scanPush(r) })
	if err != nil {
		return nil, fmt.Errorf("store: push requests: %w", err)
	}
	return out, nil
}

// End moves request id from pending to outcome, with a notification to
// every instance in the same statement (one round trip; an answer is
// waited for by a NAS and a phone). A request that has ended is read as
// it is.
func (b *PushBoard) End(ctx context.Context, id, outcome string, now time.Time) (store.PushRequest, bool, error) {
	p, err := scanPush(b.s.pool.QueryRow(ctx, `WITH e AS (
			UPDATE push_requests SET outcome = $2, ended_at = $3 WHERE id = $1 AND outcome = 'pending' RETURNING *
		), n AS (SELECT pg_notify($4, e.id || ' ' || e.outcome) FROM e)
		SELECT `+pushCols+` FROM e WHERE (SELECT count(*) FROM n) >= 0`, id, outcome, now.UnixMilli(), pushChannel))
	if err == nil {
		return p, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.PushRequest{}, false, fmt.Errorf("store: push request: %w", err)
	}
	p, err = b.Get(ctx, id)
	return p, false, err
}

// Outcomes returns the outcomes of those of ids that have ended.
func (b *PushBoard) Outcomes(ctx context.Context, ids []string) (map[string]string, error) {
	rows, err := b.s.pool.Query(ctx, `SELECT id, outcome FROM push_requests WHERE id = ANY($1) AND outcome <> 'pending'`, ids)
	if err != nil {
		return nil, fmt.Errorf("store: push requests: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, o string
		if err := rows.Scan(&id, &o); err != nil {
			return nil, fmt.Errorf("store: push requests: %w", err)
		}
		out[id] = o
	}
	return out, rows.Err()
}

// Sweep deletes the requests that expired before before.
func (b *PushBoard) Sweep(ctx context.Context, before time.Time) error {
	_, err := b.s.pool.Exec(ctx, `DELETE FROM push_requests WHERE expires_at < $1 AND outcome <> 'pending'`, before.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: push requests: %w", err)
	}
	return nil
}

// Listen holds a connection of its own that LISTENs for ended requests
// and calls ended for each, until ctx ends. After a failure it connects
// again (backing off up to 5 s) and calls up once it listens.
func (b *PushBoard) Listen(ctx context.Context, ended func(id, outcome string), up func()) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		listened, err := b.listen(ctx, ended, up)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = 100 * time.Millisecond
		}
		b.s.log.Warn("store: listening for push answers failed; connecting again", "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen listens on one connection until it fails; listened says
// whether it got as far as listening.
func (b *PushBoard) listen(ctx context.Context, ended func(id, outcome string), up func()) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, b.s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pushChannel); err != nil {
		return false, err
	}
	b.s.log.Log(ctx, slog.LevelDebug, "store: listening for push answers")
	up()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		id, outcome, ok := strings.Cut(n.Payload, " ")
		if ok {
			ended(id, outcome)
		}
	}
}
