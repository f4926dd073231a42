package postgres

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// SetActivation issues or replaces a push token's activation.
func (s *Store) SetActivation(ctx context.Context, by string, a store.Activation) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var id int64
		var typ, origin, user string
		err := tx.QueryRow(ctx, `SELECT t.id, t.type, t.origin, COALESCE(u.name, '')`+tokenFrom+` WHERE t.serial = $1`, a.Serial).Scan(&id, &typ, &origin, &user)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: token %q: %w", a.Serial, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", a.Serial, err)
		}
		if !store.Activatable(typ, origin) {
			return fmt.Errorf("store: token %q is not a push or soft OTP token: %w", a.Serial, store.ErrInvalid)
		}
		_, err = tx.Exec(ctx, `INSERT INTO activations(token_id, code_hash, expires_at, attempts, created_at) VALUES ($1, $2, $3, 0, $4)
			ON CONFLICT (token_id) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at,
			attempts = 0, created_at = excluded.created_at`, id, a.CodeHash, a.ExpiresAt.Unix(), s.now().Unix())
		if err != nil {
			return fmt.Errorf("store: token %q: %w", a.Serial, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "token.activation", User: user, Serial: a.Serial, Result: "ok",
			Detail: "expires=" + a.ExpiresAt.UTC().Format(time.RFC3339)})
	})
}

// Activate binds a push token to a device (see store.Store).
func (s *Store) Activate(ctx context.Context, by, serial string, codeHash []byte, now time.Time, maxAttempts int, seed []byte, d store.Device) (store.Token, error) {
	var out store.Token
	// A refused activation commits (the attempt count and the audit row
	// are kept) and then fails.
	var refused bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		refused = false
		t, err := s.scanToken(tx.QueryRow(ctx, `SELECT `+tokenCols+tokenFrom+` WHERE t.serial = $1 FOR UPDATE OF t`, serial), false)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: token %q: %w", serial, store.ErrActivation)
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		fail := func(why string) error {
			refused = true
			return s.audit(ctx, tx, store.AuditEvent{At: now, Actor: by, Action: "token.activate", User: t.User, Serial: serial,
				Result: "refused", Detail: why})
		}
		var want []byte
		var expires int64
		var attempts int
		err = tx.QueryRow(ctx, `SELECT code_hash, expires_at, attempts FROM activations WHERE token_id = $1`, t.ID).Scan(&want, &expires, &attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return fail("no activation pending (used, void or never issued)")
		}
		if err != nil {
			return fmt.Errorf("store: token %q: %w", serial, err)
		}
		switch {
		case !t.State.Usable() || !store.Activatable(t.Type, t.Origin) || (t.Type == store.TypePush) != (len(d.PublicKey) > 0):
			return fail("token not usable")
		case now.Unix() >= expires:
			if _, err := tx.Exec(ctx, `DELETE FROM activations WHERE token_id = $1`, t.ID); err != nil {
				return err
			}
			return fail("activation expired")
		case subtle.ConstantTimeCompare(want, codeHash) != 1:
			attempts++
			if attempts >= maxAttempts {
				_, err = tx.Exec(ctx, `DELETE FROM activations WHERE token_id = $1`, t.ID)
			} else {
				_, err = tx.Exec(ctx, `UPDATE activations SET attempts = $1 WHERE token_id = $2`, attempts, t.ID)
			}
			if err != nil {
				return err
			}
			why := fmt.Sprintf("wrong activation code (attempt %d of %d)", attempts, maxAttempts)
			if attempts >= maxAttempts {
				why += "; activation void"
			}
			return fail(why)
		}
		t.Seed = seed
		sealed, err := s.sealSeed(t)
		if err != nil {
			return err
		}
		// A new device starts afresh: counters, drift, failures.
		if _, err := tx.Exec(ctx, `UPDATE tokens SET seed = $1, counter = 0, last_step = 0, drift = 0, fail_count = 0,
			locked_until = 0, version = version + 1 WHERE id = $2`, sealed, t.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM activations WHERE token_id = $1`, t.ID); err != nil {
			return err
		}
		if t.Type != store.TypePush {
			// A soft OTP token: the seed is all there is to activate.
			t.Version++
			t.Counter, t.LastStep, t.Drift, t.FailCount, t.LockedUntil = 0, 0, 0, 0, 0
			out = t
			return s.audit(ctx, tx, store.AuditEvent{At: now, Actor: by, Action: "token.activate", User: t.User, Serial: serial,
				Result: "ok", Detail: "seed shown once on the enrollment page"})
		}
		_, err = tx.Exec(ctx, `INSERT INTO devices(token_id, public_key, apns_token, apns_invalid, os, os_version, model,
			app_version, notifications, enrolled_at, last_seen) VALUES ($1, $2, $3, false, $4, $5, $6, $7, $8, $9, $9)
			ON CONFLICT (token_id) DO UPDATE SET public_key = excluded.public_key, apns_token = excluded.apns_token,
			apns_invalid = false, os = excluded.os, os_version = excluded.os_version, model = excluded.model,
			app_version = excluded.app_version, notifications = excluded.notifications,
			enrolled_at = excluded.enrolled_at, last_seen = excluded.last_seen`,
			t.ID, d.PublicKey, d.APNsToken, d.OS, d.OSVersion, d.Model, d.AppVersion, d.Notifications, now.Unix())
		if err != nil {
			return err
		}
		t.Version++
		t.Counter, t.LastStep, t.Drift, t.FailCount, t.LockedUntil = 0, 0, 0, 0, 0
		out = t
		return s.audit(ctx, tx, store.AuditEvent{At: now, Actor: by, Action: "token.activate", User: t.User, Serial: serial,
			Result: "ok", Detail: fmt.Sprintf("os=%q model=%q app=%q notifications=%t apns=%t", d.OS, d.Model, d.AppVersion,
				d.Notifications, d.APNsToken != "")})
	})
	if err == nil && refused {
		err = fmt.Errorf("store: token %q: %w", serial, store.ErrActivation)
	}
	return out, err
}

const deviceCols = sqlrow.DeviceCols

const deviceFrom = sqlrow.DeviceFrom

func scanDevice(sc sqlrow.Scanner) (store.Device, error) { return sqlrow.ScanDevice(sc) }

// Device returns the device a token is bound to.
func (s *Store) Device(ctx context.Context, serial string) (store.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceCols+deviceFrom+` WHERE t.serial = $1`, serial))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Device{}, fmt.Errorf("store: device of %q: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("store: device of %q: %w", serial, err)
	}
	return d, nil
}

// UpdateDevice changes a device through fn.
func (s *Store) UpdateDevice(ctx context.Context, by, serial, action string, fn func(*store.Device) error) (store.Device, error) {
	var out store.Device
	err := s.tx(ctx, func(tx pgx.Tx) error {
		d, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+deviceFrom+` WHERE t.serial = $1 FOR UPDATE OF d`, serial))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: device of %q: %w", serial, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: device of %q: %w", serial, err)
		}
		if err := fn(&d); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE devices SET apns_token = $1, apns_invalid = $2, os = $3, os_version = $4, model = $5,
			app_version = $6, notifications = $7, last_seen = $8, webauthn = $9 WHERE token_id = (SELECT id FROM tokens WHERE serial = $10)`,
			d.APNsToken, d.APNsInvalid, d.OS, d.OSVersion, d.Model, d.AppVersion, d.Notifications, unixOf(d.LastSeen), d.WebAuthn, serial)
		if err != nil {
			return fmt.Errorf("store: device of %q: %w", serial, err)
		}
		out = d
		if action == "" {
			return nil
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: action, User: d.User, Serial: serial, Result: "ok",
			Detail: fmt.Sprintf("push=%s", d.PushState())})
	})
	return out, err
}

// UserDevices returns the devices of a user's usable push tokens, by serial.
func (s *Store) UserDevices(ctx context.Context, user string) ([]store.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceCols+deviceFrom+`
		WHERE lower(u.name) = lower($1) AND t.type = 'push' AND t.state IN ('assigned', 'active') AND t.seed IS NOT NULL
		ORDER BY t.serial`, user)
	if err != nil {
		return nil, fmt.Errorf("store: devices of %q: %w", user, err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("store: devices of %q: %w", user, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// SetPushLock refuses or allows a user's push logins.
func (s *Store) SetPushLock(ctx context.Context, by, user string, until time.Time, detail string) error {
	var at int64
	action := "user.push-unlock"
	if !until.IsZero() {
		at, action = until.Unix(), "user.push-lock"
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		var canonical string
		err := tx.QueryRow(ctx, `UPDATE users SET push_locked_until = $1 WHERE lower(name) = lower($2) RETURNING name`, at, user).Scan(&canonical)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: user %q: %w", user, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: user %q: %w", user, err)
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: action, User: canonical, Result: "ok", Detail: detail})
	})
}

// Setting returns a named value ("" when unset).
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT v FROM settings WHERE k = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: setting %q: %w", key, err)
	}
	return v, nil
}

// SetSetting stores a named value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO settings(k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, key, value)
	if err != nil {
		return fmt.Errorf("store: setting %q: %w", key, err)
	}
	return nil
}
