package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// bulkChunk is how many users one pipelined batch creates.
const bulkChunk = 1000

// Bulk creates many users and tokens in one transaction: all or nothing.
// It is the fast path for imports and benchmark set-ups; one audit row
// summarises the whole batch. Inserts go to the server in pipelined
// batches, not one round trip each.
func (s *Store) Bulk(ctx context.Context, by, action string, items []store.BulkItem) error {
	now := s.now().UTC().Unix()
	// Seal outside the transaction: it is the slow part.
	sealed, err := sqlrow.SealBulk(s.sealer, items)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		var users, tokens int
		for start := 0; start < len(items); start += bulkChunk {
			chunk := items[start:min(start+bulkChunk, len(items))]
			uids := make([]*int64, len(chunk))
			b := &pgx.Batch{}
			for i, it := range chunk {
				if it.User == nil {
					continue
				}
				u := it.User
				b.Queue(`INSERT INTO users(name, email, grp, disabled, created_at, source, external_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
					u.Name, u.Email, u.Group, u.Disabled, now, u.Source, u.ExternalID).QueryRow(func(row pgx.Row) error {
					var id int64
					if err := row.Scan(&id); err != nil {
						if isUnique(err) {
							return fmt.Errorf("store: user %q: %w", u.Name, store.ErrExists)
						}
						return fmt.Errorf("store: user %q: %w", u.Name, err)
					}
					uids[i] = &id
					return nil
				})
				users++
			}
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			b = &pgx.Batch{}
			for i, it := range chunk {
				for j, t := range it.Tokens {
					var dev *store.Device
					if j < len(it.Devices) && it.Devices[j].PublicKey != nil {
						dev = &it.Devices[j]
					}
					q, args := tokenInsert, tokenInsertArgs(t, uids[i], sealed[start+i][j], now)
					if dev != nil {
						// The device needs the token's id: one statement inserts both.
						q = `WITH t AS (` + tokenInsert + `) INSERT INTO devices(token_id, public_key, apns_token, os,
							os_version, model, app_version, notifications, enrolled_at)
							SELECT t.id, $20, $21, $22, $23, $24, $25, $26, $14 FROM t RETURNING token_id`
						args = append(args, dev.PublicKey, dev.APNsToken, dev.OS, dev.OSVersion, dev.Model, dev.AppVersion, dev.Notifications)
					}
					serial := t.Serial
					b.Queue(q, args...).QueryRow(func(row pgx.Row) error {
						var id int64
						if err := row.Scan(&id); err != nil {
							if isUnique(err) {
								return fmt.Errorf("store: token %q: %w", serial, store.ErrExists)
							}
							return fmt.Errorf("store: token %q: %w", serial, err)
						}
						return nil
					})
					tokens++
				}
			}
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: action, Result: "ok",
			Detail: fmt.Sprintf("%d users, %d tokens", users, tokens)})
	})
}
