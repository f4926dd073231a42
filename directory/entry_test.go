package directory

import (
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/radmfa/radmfa/store"
)

// An Active Directory entry: sAMAccountName, mail, memberOf, and
// userAccountControl's ACCOUNTDISABLE bit (2).
func TestEntryFromActiveDirectory(t *testing.T) {
	d := store.Directory{LoginAttr: "sAMAccountName", EmailAttr: "mail", GroupAttr: "memberOf",
		GroupMap: []store.GroupMapping{{Directory: "VPN-Staff", Group: "staff"}}}
	tests := []struct {
		name     string
		uac      string
		disabled bool
	}{
		{"a normal account (512)", "512", false},
		{"a disabled account (514)", "514", true},
		{"disabled, password never expires (66050)", "66050", true},
		{"no userAccountControl (OpenLDAP)", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := map[string][]string{"sAMAccountName": {"jdoe"}, "mail": {"jdoe@example.com"},
				"memberOf": {"CN=Domain Users,CN=Users,DC=example,DC=com", "CN=VPN-Staff,OU=Groups,DC=example,DC=com"}}
			if tc.uac != "" {
				attrs["userAccountControl"] = []string{tc.uac}
			}
			var e Entry
			e.fill(d, ldap.NewEntry("CN=John Doe,OU=People,DC=example,DC=com", attrs))
			if e.Login != "jdoe" || e.Email != "jdoe@example.com" || e.Disabled != tc.disabled || GroupOf(d, e.Groups) != "staff" {
				t.Fatalf("%+v (group %q)", e, GroupOf(d, e.Groups))
			}
		})
	}
}

func TestFilter(t *testing.T) {
	d := store.Directory{LoginAttr: "sAMAccountName", UserFilter: "memberOf=CN=VPN,DC=example,DC=com"}
	if got := filter(d, ""); got != "(&(memberOf=CN=VPN,DC=example,DC=com)(sAMAccountName=*))" {
		t.Fatalf("filter = %s", got)
	}
	if got := filter(d, "a*)(x=1"); got != `(&(memberOf=CN=VPN,DC=example,DC=com)(sAMAccountName=a\2a\29\28x=1))` {
		t.Fatalf("one login's filter = %s", got)
	}
	if got := filter(store.Directory{LoginAttr: "uid"}, ""); got != "(&(objectClass=person)(uid=*))" {
		t.Fatalf("default filter = %s", got)
	}
}
