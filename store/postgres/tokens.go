package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

const tokenCols = sqlrow.TokenCols

const tokenFrom = sqlrow.TokenFrom

// scanToken reads a row of tokenCols, after the columns scanned into pre;
// the seed is opened when withSeed.
func (s *Store) scanToken(sc sqlrow.Scanner, withSeed bool, pre ...any) (store.Token, error) {
	return sqlrow.ScanToken(sc, s.sealer, withSeed, pre...)
}

func (s *Store) sealSeed(t store.Token) ([]byte, error) { return sqlrow.SealSeed(s.sealer, t) }

// userID resolves a user name inside a transaction; "" is no user (nil).
func userID(ctx context.Context, tx pgx.Tx, name string) (*int64, error) {
	if name == "" {
		return nil, nil
	}
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM users WHERE lower(name) = lower($1)`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: user %q: %w", name, store.ErrNotFound)
	}
	return &id, err
}

const tokenInsert = `INSERT INTO tokens(serial, user_id, type, origin, state, algorithm, digits, period,
	seed, counter, last_step, drift, pin_hash, created_at, description, manufacturer, model, valid_from, valid_until)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id`

func tokenInsertArgs(t store.Token, uid *int64, sealed []byte, created int64) []any {
	return []any{t.Serial, uid, t.Type, t.Origin, string(t.State), t.Algorithm, t.Digits, t.Period,
		sealed, int64(t.Counter), t.LastStep, t.Drift, t.PINHash, created, t.Description,
		t.Manufacturer, t.Model, unixOf(t.ValidFrom), unixOf(t.ValidUntil)}
}

// CreateToken stores a new token.
func (s *Store) CreateToken(ctx context.Context, by string, t store.Token) (store.Token, error) {
	if t.Serial == "" {
		return store.Token{}, fmt.Errorf("store: token without serial: %w", store.ErrInvalid)
	}
	sealed, err := s.sealSeed(t)
	if err != nil {
		return store.Token{}, err
	}
	t.CreatedAt = s.now().UTC().Truncate(1e9)
	t.Version = 1
	err = s.tx(ctx, func(tx pgx.Tx) error {
		uid, err := userID(ctx, tx, t.User)
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, tokenInsert, tokenInsertArgs(t, uid, sealed, t.CreatedAt.Unix())...).Scan(&t.ID)
		if isUnique(err) {
			return fmt.Errorf("store: token %q: %w", t.Serial, store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", t.Serial, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "token.create", User: t.User, Serial: t.Serial,
			Result: "ok", Detail: fmt.Sprintf("type=%s origin=%s state=%s", t.Type, t.Origin, t.State)})
	})
	if err != nil {
		return store.Token{}, err
	}
	return t, nil
}

// Token returns a token with its seed.
func (s *Store) Token(ctx context.Context, serial string) (store.Token, error) {
	t, err := s.scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+tokenFrom+` WHERE t.serial = $1`, serial), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, fmt.Errorf("store: token %q: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("store: token %q: %w", serial, err)
	}
	return t, nil
}

// Tokens lists tokens without their seeds.
func (s *Store) Tokens(ctx context.Context, f store.TokenFilter) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+tokenFrom+`
		WHERE ($1 = '' OR lower(u.name) = lower($1)) AND ($2 = '' OR t.state = $2) ORDER BY t.serial`,
		f.User, string(f.State))
	if err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := s.scanToken(rows, false)
		if err != nil {
			return nil, fmt.Errorf("store: tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// UserTokens returns a user and their tokens with seeds: one query when the
// user has tokens (the login path), a second to tell "no tokens" from
// "no such user".
func (s *Store) UserTokens(ctx context.Context, name string) (store.User, []store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlrow.UserColsU+`, `+
		tokenCols+` FROM tokens t JOIN users u ON u.id = t.user_id WHERE lower(u.name) = lower($1) ORDER BY t.serial`, name)
	if err != nil {
		return store.User{}, nil, fmt.Errorf("store: tokens of %q: %w", name, err)
	}
	defer rows.Close()
	var u store.User
	var out []store.Token
	var ud sqlrow.UserDest
	for rows.Next() {
		t, err := s.scanToken(rows, true, ud.Dest()...)
		if err != nil {
			return store.User{}, nil, fmt.Errorf("store: tokens of %q: %w", name, err)
		}
		u = ud.User()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return store.User{}, nil, fmt.Errorf("store: tokens of %q: %w", name, err)
	}
	if len(out) == 0 {
		u, err = s.User(ctx, name)
		return u, nil, err
	}
	return u, out, nil
}

// LoginState reads a user's login state; the database is always read,
// and read again while the connection is lost, within ctx.
func (s *Store) LoginState(ctx context.Context, name string, _ bool) (store.LoginState, error) {
	var st store.LoginState
	err := s.retry(ctx, connectionLost, func() error {
		var err error
		st.User, st.Tokens, err = s.UserTokens(ctx, name)
		return err
	})
	return st, err
}

// UpdateToken changes a token through fn in one transaction with its audit
// row; the token's row is locked from the read to the write.
func (s *Store) UpdateToken(ctx context.Context, by, serial, action string, fn func(*store.Token) error) (store.Token, error) {
	var out store.Token
	err := s.tx(ctx, func(tx pgx.Tx) error {
		t, err := s.scanToken(tx.QueryRow(ctx, `SELECT `+tokenCols+tokenFrom+` WHERE t.serial = $1 FOR UPDATE OF t`, serial), true)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: token %q: %w", serial, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		before := t
		if err := fn(&t); err != nil {
			return err
		}
		t.ID, t.Serial, t.CreatedAt = before.ID, before.Serial, before.CreatedAt
		uid, err := userID(ctx, tx, t.User)
		if err != nil {
			return err
		}
		sealed, err := s.sealSeed(t)
		if err != nil {
			return err
		}
		t.Version = before.Version + 1
		_, err = tx.Exec(ctx, `UPDATE tokens SET user_id = $1, type = $2, origin = $3, state = $4, algorithm = $5,
			digits = $6, period = $7, seed = $8, counter = $9, last_step = $10, drift = $11, pin_hash = $12,
			fail_count = $13, locked_until = $14, last_used = $15, description = $16, version = $17, manufacturer = $18,
			model = $19, valid_from = $20, valid_until = $21 WHERE id = $22`,
			uid, t.Type, t.Origin, string(t.State), t.Algorithm, t.Digits, t.Period, sealed, int64(t.Counter),
			t.LastStep, t.Drift, t.PINHash, t.FailCount, t.LockedUntil, unixOf(t.LastUsed), t.Description,
			t.Version, t.Manufacturer, t.Model, unixOf(t.ValidFrom), unixOf(t.ValidUntil), t.ID)
		if err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		if t.Seed == nil && before.Seed != nil {
			// The seed is gone: so is the phone it was agreed with.
			for _, q := range []string{`DELETE FROM devices WHERE token_id = $1`, `DELETE FROM activations WHERE token_id = $1`} {
				if _, err := tx.Exec(ctx, q, t.ID); err != nil {
					return fmt.Errorf("store: token %q: %w", serial, err)
				}
			}
		}
		user := t.User
		if user == "" {
			user = before.User
		}
		out = t
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: action, User: user, Serial: serial, Result: "ok",
			Detail: fmt.Sprintf("state=%s", t.State)})
	})
	return out, err
}

// DeleteToken deletes a token and its seed.
func (s *Store) DeleteToken(ctx context.Context, by, serial string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var user string
		err := tx.QueryRow(ctx, `DELETE FROM tokens t WHERE t.serial = $1
			RETURNING COALESCE((SELECT name FROM users u WHERE u.id = t.user_id), '')`, serial).Scan(&user)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: token %q: %w", serial, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "token.delete", User: user, Serial: serial, Result: "ok"})
	})
}

// A login is recorded in one statement, so in one transaction and one
// round trip, of one of three kinds (each simple enough that its generic
// plan is good: the connections use force_generic_plan, planning one of
// these each time cost more than running it):
//
//   - sqlAccept, the accept's compare-and-set ($2-$10): the token still
//     has the version read, is still usable, still belongs to the user who
//     logged in, and that user is still enabled and has failed logins
//     left. A concurrent accept of the same token holds the row's lock;
//     this one waits for it to commit, re-checks the row and finds the
//     version changed. The audit row ($1, $11-$17) is inserted only if the
//     accept took, and the statement returns a row only then: no row is
//     the accept's ErrConflict, with nothing written.
//   - sqlRefuse: the failures ($2-$4) counted, the token locked at its
//     threshold, the user's failed logins charged ($5-$7; $7 NULL for
//     none), and the audit row ($1, $8-$14).
//   - auditInsert alone, for a login that changes no token.
//
// Data-modifying WITH clauses always run to completion, whether or not
// the main query reads them.
const (
	sqlAccept = `WITH acc AS (
	UPDATE tokens SET counter = $2, last_step = $3, drift = $4, fail_count = 0, last_used = $1::bigint / 1000,
		last_request = $5, state = CASE WHEN $6::bool THEN 'active' ELSE state END, version = version + 1
	WHERE id = $7 AND version = $8 AND state IN ('assigned', 'active') AND user_id = $9
		AND EXISTS (SELECT 1 FROM users WHERE users.id = $9 AND NOT users.disabled AND users.fail_tat <= $10)
	RETURNING id
)
INSERT INTO audit(at, actor, action, user_name, serial, client, result, detail)
SELECT $1::bigint, $11::text, $12::text, $13::text, $14::text, $15::text, $16::text, $17::text FROM acc
RETURNING id`
	sqlRefuse = `WITH fail AS (
	UPDATE tokens SET fail_count = tokens.fail_count + 1,
		locked_until = CASE WHEN tokens.fail_count + 1 >= f.after THEN f.until ELSE tokens.locked_until END,
		version = tokens.version + 1
	FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS f(id, after, until)
	WHERE tokens.id = f.id
	RETURNING tokens.id
), charge AS (
	UPDATE users SET fail_tat = LEAST(GREATEST(fail_tat, $1::bigint) + $5::bigint, $1::bigint + $6::bigint)
	WHERE id = $7::bigint
	RETURNING id
)
INSERT INTO audit(at, actor, action, user_name, serial, client, result, detail)
VALUES ($1::bigint, $8::text, $9::text, $10::text, $11::text, $12::text, $13::text, $14::text)
RETURNING id`
)

// CommitAuth records one login's outcome, its token changes and its audit
// row, in one transaction; it returns once PostgreSQL has committed it. An
// accept is a compare-and-set: store.ErrConflict, with nothing written,
// unless the token still has the version that was read, is still usable
// and still belongs to that user, and the user is still enabled.
func (s *Store) CommitAuth(ctx context.Context, c store.AuthCommit) error {
	var accept *store.TokenAuth
	var fID, fAfter, fUntil []int64
	for i, ta := range c.Tokens {
		if ta.Accepted {
			if accept != nil {
				return fmt.Errorf("store: a login accepts one token, not more: %w", store.ErrInvalid)
			}
			accept = &c.Tokens[i]
		}
		if ta.Failed {
			after := int64(1 << 30) // never, when not set
			if ta.LockAfter > 0 {
				after = int64(ta.LockAfter)
			}
			fID, fAfter, fUntil = append(fID, ta.ID), append(fAfter, after), append(fUntil, ta.LockUntil)
		}
	}
	if accept != nil && (c.Charge != nil || len(fID) > 0) {
		return fmt.Errorf("store: an accept records no failure: %w", store.ErrInvalid)
	}
	e := c.Audit
	at := c.At
	if at.IsZero() {
		at = s.now()
	}
	ms := at.UnixMilli()
	audit := []any{e.Actor, e.Action, e.User, e.Serial, e.Client, e.Result, e.Detail}
	op := loginOp{again: unsent}
	switch {
	case accept != nil:
		maxTAT := accept.MaxFailureTAT
		if maxTAT == 0 {
			maxTAT = math.MaxInt64
		}
		op.q, op.accept = sqlAccept, true
		op.args = append([]any{ms, int64(accept.Counter), accept.LastStep, accept.Drift, accept.RequestKey, accept.Activate,
			accept.ID, accept.Version, accept.UserID, maxTAT}, audit...)
		// A lost connection is retried within the deadline: an accept
		// whenever the connection was lost (its compare-and-set makes a
		// second attempt of an accept that did commit a conflict, never a
		// second accept), anything else only when it never reached the
		// database (it would count or audit twice).
		op.again = connectionLost
		op.order = [2]int64{0, accept.ID}
	case len(fID) > 0 || c.Charge != nil:
		var every, span int64
		var user *int64
		op.order = [2]int64{1, 0}
		if ch := c.Charge; ch != nil {
			every = ch.Limit.Every.Milliseconds()
			span, user = int64(ch.Limit.Burst)*every, &ch.UserID
			op.order = [2]int64{1, ch.UserID}
		}
		if len(fID) > 0 {
			op.order = [2]int64{0, slices.Min(fID)}
		}
		op.q = sqlRefuse
		op.args = append([]any{ms, nz(fID), nz(fAfter), nz(fUntil), every, span, user}, audit...)
	default:
		op.q = auditInsert + ` RETURNING id`
		op.args = append([]any{ms}, audit...)
		op.order = [2]int64{2, 0}
	}
	err := s.queueLogin(ctx, op)
	if errors.Is(err, errConflictRow) {
		return fmt.Errorf("store: token %d: %w", accept.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: record login: %w", err)
	}
	return nil
}

// nz sends an empty array, not NULL, for no elements.
func nz(v []int64) []int64 {
	if v == nil {
		return []int64{}
	}
	return v
}

// ExistingSerials returns which of serials are already in the database.
func (s *Store) ExistingSerials(ctx context.Context, serials []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT serial FROM tokens WHERE serial = ANY($1)`, serials)
	if err != nil {
		return nil, fmt.Errorf("store: serials: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: serials: %w", err)
	}
	return out, nil
}
