package sqlrow

import (
	"fmt"

	"github.com/radmfa/radmfa/store"
)

// Sealed is one sealed value of the database: its table's row, and the
// associated data it is sealed with.
type Sealed struct {
	Table, KeyCol string
	Key           any
	AD            string
	Value         []byte
}

// SealedQueries are the queries that list every sealed value, and the
// update that writes one back ($1 the value, $2 the row's key).
var SealedQueries = []struct {
	Select, Update string
	AD             func(name string) string
}{
	{`SELECT serial, seed FROM tokens WHERE seed IS NOT NULL`, `UPDATE tokens SET seed = $1 WHERE serial = $2`, store.SeedAD},
	{`SELECT name, secret FROM clients`, `UPDATE clients SET secret = $1 WHERE name = $2`, store.SecretAD},
	{`SELECT name, bind_password FROM directories`, `UPDATE directories SET bind_password = $1 WHERE name = $2`, store.DirectorySecretAD},
	{`SELECT k, v FROM meta WHERE k = 'key_check'`, `UPDATE meta SET v = $1 WHERE k = $2`, func(string) string { return store.KeyCheckAD }},
}

// KeyValue is one row of a SealedQueries select: its key and sealed value.
type KeyValue struct {
	Key   string
	Value []byte
}

// ResealAll seals every sealed value of the database again with sealer's
// sealing key, through a backend's transaction: query lists a
// SealedQueries select's rows, exec runs its update ($N parameters). It
// returns how many values it sealed.
func ResealAll(sealer *store.Sealer, query func(q string) ([]KeyValue, error), exec func(q string, args ...any) error) (int, error) {
	n := 0
	for _, q := range SealedQueries {
		rows, err := query(q.Select)
		if err != nil {
			return n, fmt.Errorf("store: reseal: %w", err)
		}
		for _, r := range rows {
			v, err := sealer.Reseal(r.Value, q.AD(r.Key))
			if err != nil {
				return n, fmt.Errorf("store: reseal %s: %w", r.Key, err)
			}
			if err := exec(q.Update, v, r.Key); err != nil {
				return n, fmt.Errorf("store: reseal: %w", err)
			}
			n++
		}
	}
	return n, nil
}

// ResealDetail is the audit row's detail of a re-seal.
func ResealDetail(n int, fingerprint string) string {
	return fmt.Sprintf("resealed=%d key=%s", n, fingerprint)
}
