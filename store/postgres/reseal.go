package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/radmfa/radmfa/store"
	"github.com/radmfa/radmfa/store/internal/sqlrow"
)

// Sealer is the store's sealer (a key rotation stages its new key there).
func (s *Store) Sealer() *store.Sealer { return s.sealer }

// Reseal seals every secret of the database again with the sealer's
// sealing key, in one transaction. It returns how many values it sealed.
func (s *Store) Reseal(ctx context.Context, by, fingerprint string) (int, error) {
	var n int
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		for _, q := range sqlrow.SealedQueries {
			rows, err := tx.Query(ctx, q.Select+` FOR UPDATE`)
			if err != nil {
				return fmt.Errorf("store: reseal: %w", err)
			}
			type row struct {
				key   string
				value []byte
			}
			var all []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.key, &r.value); err != nil {
					rows.Close()
					return fmt.Errorf("store: reseal: %w", err)
				}
				all = append(all, r)
			}
			rows.Close()
			for _, r := range all {
				v, err := s.sealer.Reseal(r.value, q.AD(r.key))
				if err != nil {
					return fmt.Errorf("store: reseal %s: %w", r.key, err)
				}
				if _, err := tx.Exec(ctx, q.Update, v, r.key); err != nil {
					return fmt.Errorf("store: reseal: %w", err)
				}
				n++
			}
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "key.rotate", Result: "ok", Detail: sqlrow.ResealDetail(n, fingerprint)})
	})
	return n, err
}
