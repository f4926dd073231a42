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

// ResealDetail is the audit row's detail of a re-seal.
func ResealDetail(n int, fingerprint string) string {
	return fmt.Sprintf("resealed=%d key=%s", n, fingerprint)
}
