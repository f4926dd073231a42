package push

import "testing"

// A request ID is passed on command lines (radmfa-device approve ID): it
// must never look like a flag. One in 64 random IDs would start with '-'.
func TestRandomIDIsNoFlag(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := randomID(16)
		if id[0] == '-' {
			t.Fatalf("ID %q starts with '-'", id)
		}
		if len(id) != 22 || seen[id] {
			t.Fatalf("ID %q: want 22 characters, each ID new", id)
		}
		seen[id] = true
	}
}
