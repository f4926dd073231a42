package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
)

const tokenCols = `t.id, t.serial, COALESCE(u.name, ''), t.type, t.origin, t.state, t.algorithm, t.digits,
	t.period, t.seed, t.counter, t.last_step, t.drift, t.pin_hash, t.fail_count, t.locked_until,
	t.last_used, t.created_at, t.description, t.version, t.manufacturer, t.model, t.valid_from, t.valid_until`

const tokenFrom = ` FROM tokens t LEFT JOIN users u ON u.id = t.user_id`

// scanToken reads a row of tokenCols, after the columns scanned into pre;
// the seed is opened when withSeed.
func (s *SQLite) scanToken(sc interface{ Scan(...any) error }, withSeed bool, pre ...any) (Token, error) {
	var t Token
	var sealed []byte
	var counter int64
	var lastUsed, created, from, until int64
	err := sc.Scan(append(pre, &t.ID, &t.Serial, &t.User, &t.Type, &t.Origin, &t.State, &t.Algorithm, &t.Digits,
		&t.Period, &sealed, &counter, &t.LastStep, &t.Drift, &t.PINHash, &t.FailCount, &t.LockedUntil,
		&lastUsed, &created, &t.Description, &t.Version, &t.Manufacturer, &t.Model, &from, &until)...)
	if err != nil {
		return Token{}, err
	}
	t.Counter = uint64(counter)
	t.LastUsed = unixTime(lastUsed)
	t.CreatedAt = unixTime(created)
	t.ValidFrom, t.ValidUntil = unixTime(from), unixTime(until)
	if withSeed && sealed != nil {
		t.Seed, err = s.sealer.Open(sealed, seedAD(t.Serial))
		if err != nil {
			return Token{}, fmt.Errorf("token %q seed: %w", t.Serial, err)
		}
	}
	return t, nil
}

func (s *SQLite) sealSeed(t Token) ([]byte, error) {
	if t.Seed == nil {
		return nil, nil
	}
	return s.sealer.Seal(t.Seed, seedAD(t.Serial))
}

// userID resolves a user name inside a transaction; "" is no user.
func userID(tx *sql.Tx, name string) (any, error) {
	if name == "" {
		return nil, nil
	}
	var id int64
	err := tx.QueryRow(`SELECT id FROM users WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, clean(fmt.Errorf("store: user %q: %w", name, ErrNotFound))
	}
	return id, err
}

// CreateToken stores a new token.
func (s *SQLite) CreateToken(ctx context.Context, by string, t Token) (Token, error) {
	if t.Serial == "" {
		return Token{}, fmt.Errorf("store: token without serial: %w", ErrInvalid)
	}
	sealed, err := s.sealSeed(t)
	if err != nil {
		return Token{}, err
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
			return clean(fmt.Errorf("store: token %q: %w", t.Serial, ErrExists))
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", t.Serial, err)
		}
		t.ID, _ = res.LastInsertId()
		return s.audit(tx, AuditEvent{Actor: by, Action: "token.create", User: t.User, Serial: t.Serial,
			Result: "ok", Detail: fmt.Sprintf("type=%s origin=%s state=%s", t.Type, t.Origin, t.State)})
	})
	if err != nil {
		return Token{}, err
	}
	return t, nil
}

// Token returns a token with its seed.
func (s *SQLite) Token(ctx context.Context, serial string) (Token, error) {
	if !s.jOwned {
		if err := s.caughtUp(ctx); err != nil {
			return Token{}, fmt.Errorf("store: token %q: %w", serial, err)
		}
	}
	t, err := s.scanToken(s.rdb.QueryRowContext(ctx, `SELECT `+tokenCols+tokenFrom+` WHERE t.serial = ?`, serial), true)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("store: token %q: %w", serial, ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("store: token %q: %w", serial, err)
	}
	if s.jOwned {
		toks := []Token{t}
		s.jr.overlay(toks) // the database may not have the newest accepts yet
		t = toks[0]
	}
	return t, nil
}

// Tokens lists tokens without their seeds.
func (s *SQLite) Tokens(ctx context.Context, f TokenFilter) ([]Token, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
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
	var out []Token
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
func (s *SQLite) UserTokens(ctx context.Context, name string) (User, []Token, error) {
	if !s.jOwned {
		if err := s.caughtUp(ctx); err != nil {
			return User{}, nil, fmt.Errorf("store: tokens of %q: %w", name, err)
		}
	}
	rows, err := s.stmts.userTokens.QueryContext(ctx, name)
	if err != nil {
		return User{}, nil, fmt.Errorf("store: tokens of %q: %w", name, err)
	}
	defer rows.Close()
	var u User
	var out []Token
	for rows.Next() {
		var created int64
		t, err := s.scanToken(rows, true, &u.ID, &u.Name, &u.Email, &u.Group, &u.Disabled, &created, &u.PushLockedUntil)
		if err != nil {
			return User{}, nil, fmt.Errorf("store: tokens of %q: %w", name, err)
		}
		u.CreatedAt = unixTime(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return User{}, nil, fmt.Errorf("store: tokens of %q: %w", name, err)
	}
	if s.jOwned {
		s.jr.overlay(out) // the database may not have the newest accepts yet
	}
	if len(out) == 0 {
		u, err = s.User(ctx, name)
		return u, nil, err
	}
	return u, out, nil
}

// UpdateToken changes a token through fn in one transaction with its audit row.
func (s *SQLite) UpdateToken(ctx context.Context, by, serial, action string, fn func(*Token) error) (Token, error) {
	var out Token
	err := s.write(ctx, func(tx *sql.Tx) error {
		t, err := s.scanToken(tx.QueryRow(`SELECT `+tokenCols+tokenFrom+` WHERE t.serial = ?`, serial), true)
		if errors.Is(err, sql.ErrNoRows) {
			return clean(fmt.Errorf("store: token %q: %w", serial, ErrNotFound))
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
		return s.audit(tx, AuditEvent{Actor: by, Action: action, User: user, Serial: serial, Result: "ok",
			Detail: fmt.Sprintf("state=%s", t.State)})
	})
	return out, err
}

// DeleteToken deletes a token and its seed.
func (s *SQLite) DeleteToken(ctx context.Context, by, serial string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var id int64
		var user string
		err := tx.QueryRow(`SELECT t.id, COALESCE(u.name, '')`+tokenFrom+` WHERE t.serial = ?`, serial).Scan(&id, &user)
		if errors.Is(err, sql.ErrNoRows) {
			return clean(fmt.Errorf("store: token %q: %w", serial, ErrNotFound))
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		if _, err := tx.Exec(`DELETE FROM tokens WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		return s.audit(tx, AuditEvent{Actor: by, Action: "token.delete", User: user, Serial: serial, Result: "ok"})
	})
}

// CommitAuth writes the token changes of one authentication with its audit
// row. Accepts (compare-and-set on the version) run first, so a lost race
// fails before anything is written.
func (s *SQLite) CommitAuth(ctx context.Context, c AuthCommit) error {
	// The copies the writer reads come from a pool: a login's largest
	// allocation otherwise. enqueue returns only once the writer is done
	// with them.
	op := authOps.Get().(*authOp)
	op.c = c
	op.e = c.Audit
	op.e.At = c.At
	var err error
	switch {
	case s.jOwned && accepts(c):
		// Journaled accepts are checked against the journal's state, which
		// the database may not have yet: the two cannot mix.
		err = errors.New("store: this store journals its accepts: JournalAccept")
	case accepts(c):
		err = s.foreignAccept(ctx, writeOp{auth: &op.c, audit: &op.e})
	default:
		err = s.enqueue(ctx, writeOp{auth: &op.c, audit: &op.e})
	}
	*op = authOp{}
	authOps.Put(op)
	return err
}

// accepts reports whether c accepts a code.
func accepts(c AuthCommit) bool {
	for _, ta := range c.Tokens {
		if ta.Accepted {
			return true
		}
	}
	return false
}

// authOp is what CommitAuth queues.
type authOp struct {
	c AuthCommit
	e AuditEvent
}

var authOps = sync.Pool{New: func() any { return new(authOp) }}

// writeAuth is CommitAuth's write through database/sql (its audit row
// aside), for a batch the authentication writer does not take.
func (s *SQLite) writeAuth(tx *sql.Tx, c *AuthCommit) error {
	at := c.At.Unix()
	for _, ta := range c.Tokens {
		if !ta.Accepted {
			continue
		}
		stmt := s.stmts.accept
		if ta.Activate {
			stmt = s.stmts.acceptActivate
		}
		res, err := tx.Stmt(stmt).Exec(int64(ta.Counter), ta.LastStep, ta.Drift, at, ta.ID, ta.Version, ta.UserID)
		if err != nil {
			return fmt.Errorf("store: token %d: %w", ta.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return clean(fmt.Errorf("store: token %d: %w", ta.ID, ErrConflict))
		}
	}
	for _, ta := range c.Tokens {
		if !ta.Failed {
			continue
		}
		if _, err := tx.Stmt(s.stmts.fail).Exec(lockAfter(ta), ta.LockUntil, ta.ID); err != nil {
			return fmt.Errorf("store: token %d: %w", ta.ID, err)
		}
	}
	return nil
}

// ExistingSerials returns which of serials are already in the database.
func (s *SQLite) ExistingSerials(ctx context.Context, serials []string) ([]string, error) {
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
