package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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

// userID resolves a user name inside a transaction; "" is no user.
func userID(tx *sql.Tx, name string) (any, error) {
	if name == "" {
		return nil, nil
	}
	var id int64
	err := tx.QueryRow(`SELECT id FROM users WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, clean(fmt.Errorf("store: user %q: %w", name, store.ErrNotFound))
	}
	return id, err
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
	err = s.write(ctx, func(tx *sql.Tx) error {
		uid, err := userID(tx, t.User)
		if err != nil {
			return err
		}
		res, err := tx.Exec(`INSERT INTO tokens(serial, user_id, type, origin, state, algorithm, digits, period,
			seed, counter, last_step, drift, pin_hash, created_at, description, manufacturer, model, valid_from, valid_until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Serial, uid, t.Type, t.Origin, t.State, t.Algorithm, t.Digits, t.Period,
			sealed, int64(t.Counter), t.LastStep, t.Drift, t.PINHash, t.CreatedAt.Unix(), t.Description,
			t.Manufacturer, t.Model, unixOf(t.ValidFrom), unixOf(t.ValidUntil))
		if isUnique(err) {
			return clean(fmt.Errorf("store: token %q: %w", t.Serial, store.ErrExists))
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", t.Serial, err)
		}
		t.ID, _ = res.LastInsertId()
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "token.create", User: t.User, Serial: t.Serial,
			Result: "ok", Detail: fmt.Sprintf("type=%s origin=%s state=%s", t.Type, t.Origin, t.State)})
	})
	if err != nil {
		return store.Token{}, err
	}
	return t, nil
}

// Token returns a token with its seed.
func (s *Store) Token(ctx context.Context, serial string) (store.Token, error) {
	t, err := s.scanToken(s.rdb.QueryRowContext(ctx, `SELECT `+tokenCols+tokenFrom+` WHERE t.serial = ?`, serial), true)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("store: token %q: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("store: token %q: %w", serial, err)
	}
	return t, nil
}

// Tokens lists tokens without their seeds.
func (s *Store) Tokens(ctx context.Context, f store.TokenFilter) ([]store.Token, error) {
	var where []string
	var args []any
	if f.User != "" {
		where = append(where, "u.name = ?")
		args = append(args, f.User)
	}
	if f.State != "" {
		where = append(where, "t.state = ?")
		args = append(args, f.State)
	}
	q := `SELECT ` + tokenCols + tokenFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.rdb.QueryContext(ctx, q+" ORDER BY t.serial", args...)
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
	rows, err := s.stmts.userTokens.QueryContext(ctx, name)
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

// LoginState reads a user's login state; SQLite always reads its newest.
func (s *Store) LoginState(ctx context.Context, name string, _ bool) (store.LoginState, error) {
	u, toks, err := s.UserTokens(ctx, name)
	return store.LoginState{User: u, Tokens: toks}, err
}

// UpdateToken changes a token through fn in one transaction with its audit row.
func (s *Store) UpdateToken(ctx context.Context, by, serial, action string, fn func(*store.Token) error) (store.Token, error) {
	var out store.Token
	err := s.write(ctx, func(tx *sql.Tx) error {
		t, err := s.scanToken(tx.QueryRow(`SELECT `+tokenCols+tokenFrom+` WHERE t.serial = ?`, serial), true)
		if errors.Is(err, sql.ErrNoRows) {
			return clean(fmt.Errorf("store: token %q: %w", serial, store.ErrNotFound))
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		before := t
		if err := fn(&t); err != nil {
			return clean(err)
		}
		t.ID, t.Serial, t.CreatedAt = before.ID, before.Serial, before.CreatedAt
		uid, err := userID(tx, t.User)
		if err != nil {
			return err
		}
		sealed, err := s.sealSeed(t)
		if err != nil {
			return err
		}
		t.Version = before.Version + 1
		_, err = tx.Exec(`UPDATE tokens SET user_id = ?, type = ?, origin = ?, state = ?, algorithm = ?,
			digits = ?, period = ?, seed = ?, counter = ?, last_step = ?, drift = ?, pin_hash = ?,
			fail_count = ?, locked_until = ?, last_used = ?, description = ?, version = ?, manufacturer = ?, model = ?,
			valid_from = ?, valid_until = ? WHERE id = ?`,
			uid, t.Type, t.Origin, t.State, t.Algorithm, t.Digits, t.Period, sealed, int64(t.Counter),
			t.LastStep, t.Drift, t.PINHash, t.FailCount, t.LockedUntil, unixOf(t.LastUsed), t.Description,
			t.Version, t.Manufacturer, t.Model, unixOf(t.ValidFrom), unixOf(t.ValidUntil), t.ID)
		if err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		if t.Seed == nil && before.Seed != nil {
			// The seed is gone: so is the phone it was agreed with.
			for _, q := range []string{`DELETE FROM devices WHERE token_id = ?`, `DELETE FROM activations WHERE token_id = ?`} {
				if _, err := tx.Exec(q, t.ID); err != nil {
					return fmt.Errorf("store: token %q: %w", serial, err)
				}
			}
		}
		user := t.User
		if user == "" {
			user = before.User
		}
		out = t
		return s.audit(tx, store.AuditEvent{Actor: by, Action: action, User: user, Serial: serial, Result: "ok",
			Detail: fmt.Sprintf("state=%s", t.State)})
	})
	return out, err
}

// DeleteToken deletes a token and its seed.
func (s *Store) DeleteToken(ctx context.Context, by, serial string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var id int64
		var user string
		err := tx.QueryRow(`SELECT t.id, COALESCE(u.name, '')`+tokenFrom+` WHERE t.serial = ?`, serial).Scan(&id, &user)
		if errors.Is(err, sql.ErrNoRows) {
			return clean(fmt.Errorf("store: token %q: %w", serial, store.ErrNotFound))
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		if _, err := tx.Exec(`DELETE FROM tokens WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		return s.audit(tx, store.AuditEvent{Actor: by, Action: "token.delete", User: user, Serial: serial, Result: "ok"})
	})
}

// CommitAuth records one login's outcome: its token changes and its audit
// row, in the writer's next transaction (see writer). It returns once that
// transaction is on disk. An accept is a compare-and-set: store.ErrConflict,
// with nothing written, unless the token still has the version that was
// read, is still usable and still belongs to that user, and the user is
// still enabled.
func (s *Store) CommitAuth(ctx context.Context, c store.AuthCommit) error {
	accepts := 0
	for _, ta := range c.Tokens {
		if ta.Accepted {
			accepts++
		}
	}
	if accepts > 1 {
		return fmt.Errorf("store: a login accepts one token, not %d: %w", accepts, store.ErrInvalid)
	}
	if c.Charge != nil && accepts > 0 {
		return fmt.Errorf("store: an accept charges no failure: %w", store.ErrInvalid)
	}
	e := c.Audit
	e.At = c.At
	return s.enqueue(ctx, writeOp{login: &c, audit: &e})
}

// ExistingSerials returns which of serials are already in the database.
func (s *Store) ExistingSerials(ctx context.Context, serials []string) ([]string, error) {
	var out []string
	for len(serials) > 0 {
		n := min(len(serials), 500)
		chunk := serials[:n]
		serials = serials[n:]
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		rows, err := s.rdb.QueryContext(ctx, `SELECT serial FROM tokens WHERE serial IN (?`+strings.Repeat(", ?", n-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: serials: %w", err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: serials: %w", err)
			}
			out = append(out, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: serials: %w", err)
		}
	}
	return out, nil
}
