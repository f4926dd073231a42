package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// Bulk creates many users and tokens in one transaction: all or nothing.
// It is the fast path for imports and benchmark set-ups; one audit row
// summarises the whole batch.
func (s *Store) Bulk(ctx context.Context, by, action string, items []store.BulkItem) error {
	now := s.now().UTC().Unix()
	// Seal outside the write transaction: it is the slow part.
	sealed, err := sqlrow.SealBulk(s.sealer, items)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		userStmt, err := tx.Prepare(`INSERT INTO users(name, email, grp, disabled, created_at, source, external_id) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("store: bulk: %w", err)
		}
		defer userStmt.Close()
		tokStmt, err := tx.Prepare(`INSERT INTO tokens(serial, user_id, type, origin, state, algorithm, digits, period,
			seed, counter, last_step, drift, pin_hash, created_at, description, manufacturer, model, valid_from, valid_until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("store: bulk: %w", err)
		}
		defer tokStmt.Close()
		devStmt, err := tx.Prepare(`INSERT INTO devices(token_id, public_key, apns_token, os, os_version, model, app_version,
			notifications, enrolled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("store: bulk: %w", err)
		}
		defer devStmt.Close()
		var users, tokens int
		for i, it := range items {
			var uid any
			if it.User != nil {
				res, err := userStmt.Exec(it.User.Name, it.User.Email, it.User.Group, it.User.Disabled, now, it.User.Source, it.User.ExternalID)
				if isUnique(err) {
					return fmt.Errorf("store: user %q: %w", it.User.Name, store.ErrExists)
				}
				if err != nil {
					return fmt.Errorf("store: user %q: %w", it.User.Name, err)
				}
				id, _ := res.LastInsertId()
				uid = id
				users++
			}
			for j, t := range it.Tokens {
				res, err := tokStmt.Exec(t.Serial, uid, t.Type, t.Origin, t.State, t.Algorithm, t.Digits, t.Period,
					sealed[i][j], int64(t.Counter), t.LastStep, t.Drift, t.PINHash, now, t.Description,
					t.Manufacturer, t.Model, unixOf(t.ValidFrom), unixOf(t.ValidUntil))
				if isUnique(err) {
					return fmt.Errorf("store: token %q: %w", t.Serial, store.ErrExists)
				}
				if err != nil {
					return fmt.Errorf("store: token %q: %w", t.Serial, err)
				}
				if j < len(it.Devices) && it.Devices[j].PublicKey != nil {
					d := it.Devices[j]
					id, _ := res.LastInsertId()
					if _, err := devStmt.Exec(id, d.PublicKey, d.APNsToken, d.OS, d.OSVersion, d.Model, d.AppVersion,
						d.Notifications, now); err != nil {
						return fmt.Errorf("store: device of %q: %w", t.Serial, err)
					}
				}
				tokens++
			}
		}
		return s.audit(tx, store.AuditEvent{Actor: by, Action: action, Result: "ok",
			Detail: fmt.Sprintf("%d users, %d tokens", users, tokens)})
	})
}
