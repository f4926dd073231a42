package keyed

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1_750_000_000, 0)
	tests := []struct {
		name  string
		steps []struct {
			key string
			at  time.Duration
		}
		want []bool
	}{
		{"max per period", []struct {
			key string
			at  time.Duration
		}{{"a", 0}, {"a", time.Second}, {"a", 2 * time.Second}, {"a", time.Minute}}, []bool{true, true, false, true}},
		{"keys apart", []struct {
			key string
			at  time.Duration
		}{{"a", 0}, {"a", 0}, {"b", 0}, {"b", 0}, {"a", 0}}, []bool{true, true, true, true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(1024, time.Minute, 2)
			var got []bool
			for _, s := range tc.steps {
				got = append(got, l.Allow(s.key, t0.Add(s.at)))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("allowed %v, want %v", got, tc.want)
			}
		})
	}
}

// Over looks without counting.
func TestLimiterOver(t *testing.T) {
	l := New(1024, time.Minute, 2)
	now := time.Unix(1_750_000_000, 0)
	for i, want := range []bool{false, false, false} {
		if got := l.Over("a", now); got != want {
			t.Fatalf("look %d: over %v, want %v", i, got, want)
		}
	}
	l.Allow("a", now)
	l.Allow("a", now)
	if !l.Over("a", now) || l.Over("a", now.Add(time.Minute)) || l.Over("b", now) {
		t.Fatal("Over does not follow the count, the period or the key")
	}
}

// Memory stays the table's whatever the number of keys.
func TestLimiterFixedSize(t *testing.T) {
	l := New(64, time.Minute, 1)
	now := time.Unix(1_750_000_000, 0)
	for i := range 100_000 {
		l.Allow(fmt.Sprint("key-", i), now)
	}
	if len(l.slots) != 64 {
		t.Fatalf("%d slots, want 64", len(l.slots))
	}
}
