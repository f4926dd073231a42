package postgres

import (
	"context"

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
		var err error
		n, err = sqlrow.ResealAll(s.sealer, func(q string) ([]sqlrow.KeyValue, error) {
			rows, err := tx.Query(ctx, q+` FOR UPDATE`)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			return sqlrow.Collect(rows, func(sc sqlrow.Scanner) (kv sqlrow.KeyValue, err error) {
				err = sc.Scan(&kv.Key, &kv.Value)
				return kv, err
			})
		}, func(q string, args ...any) error {
			_, err := tx.Exec(ctx, q, args...)
			return err
		})
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditEvent{Actor: by, Action: "key.rotate", Result: "ok", Detail: sqlrow.ResealDetail(n, fingerprint)})
	})
	return n, err
}
