package main

import (
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name           string
		live, headroom uint64
		base, want     int
	}{
		{"small heap gets the headroom", 16 * mib, 64 * mib, 100, 400},
		{"large heap keeps GOGC's proportion", 200 * mib, 64 * mib, 100, 100},
		{"exactly the headroom", 64 * mib, 64 * mib, 100, 100},
		{"a larger GOGC wins", 16 * mib, 64 * mib, 800, 800},
		{"a smaller GOGC is raised", 32 * mib, 64 * mib, 50, 200},
		{"nearly empty heap is bounded", 1000, 64 * mib, 100, maxGCPercent},
		{"empty heap is bounded", 0, 64 * mib, 100, maxGCPercent},
		{"headroom off", 16 * mib, 0, 100, 100},
		{"GC off stays off", 16 * mib, 64 * mib, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcPercentFor(tt.live, tt.headroom, tt.base); got != tt.want {
				t.Errorf("gcPercentFor(%d, %d, %d) = %d, want %d", tt.live, tt.headroom, tt.base, got, tt.want)
			}
		})
	}
}

// After every collection the percent follows the live heap; stop restores
// the base and ends the tuning.
func TestGCHeadroomTunesAfterEachCollection(t *testing.T) {
	const mib = 1 << 20
	var mu sync.Mutex
	lives := []uint64{1 * mib, 32 * mib, 200 * mib, 16 * mib, 17 * mib}
	var sets []int
	tuned := make(chan int, 16)
	g := &gcHeadroom{headroom: 64 * mib, base: 100,
		live: func() uint64 {
			mu.Lock()
			defer mu.Unlock()
			l := lives[0]
			if len(lives) > 1 {
				lives = lives[1:]
			}
			return l
		},
		set: func(p int) int {
			mu.Lock()
			defer mu.Unlock()
			sets = append(sets, p)
			return 0
		},
		onTune: func(p int) { tuned <- p },
	}
	stop := g.start()
	var got []int
	for i := range 5 {
		if i > 0 {
			runtime.GC()
		}
		select {
		case p := <-tuned:
			got = append(got, p)
		case <-time.After(10 * time.Second):
			t.Fatalf("no adjustment after collection %d (so far %v)", i, got)
		}
	}
	// 17 MiB is within 10% of 16 MiB: the percent stays, with no call.
	if want := []int{6400, 200, 100, 400, 400}; !slices.Equal(got, want) {
		t.Errorf("percents %v, want %v", got, want)
	}
	stop()
	runtime.GC()
	runtime.GC()
	mu.Lock()
	defer mu.Unlock()
	if want := []int{6400, 200, 100, 400, 100}; !slices.Equal(sets, want) {
		t.Errorf("SetGCPercent calls %v, want %v (the last restoring the base)", sets, want)
	}
	select {
	case p := <-tuned:
		t.Errorf("adjusted to %d after stop", p)
	default:
	}
}

func gcPercent(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64()))
}

// serve raises the GC percent for its small heap while it runs (by default
// 64 MiB of headroom), leaves it alone with --gc-headroom 0, and restores
// it when it stops; a negative headroom is refused.
func TestServeGCHeadroom(t *testing.T) {
	e := newCLI(t)
	if _, errOut, code := e.run("serve", "--gc-headroom", "-1", "--radius-addr", "127.0.0.1:0"); code == 0 || !strings.Contains(errOut, "--gc-headroom") {
		t.Fatalf("--gc-headroom -1: exit %d, %q", code, errOut)
	}
	before := gcPercent(t)
	if live := heapLive(); live > 32<<20 {
		t.Fatalf("test heap %d bytes live: too large to see 64 MiB of headroom", live)
	}
	srv := startServer(t, e)
	if got := gcPercent(t); before >= 0 && got <= 200 {
		t.Errorf("GC percent %d while serving with a small heap, want over 200", got)
	} else if before < 0 && got != before {
		t.Errorf("GC percent %d while serving with GOGC=off, want it left off", got)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if got := gcPercent(t); got != before {
		t.Errorf("GC percent %d after serve stopped, want %d back", got, before)
	}
	srv = startServer(t, e, "--gc-headroom", "0")
	if got := gcPercent(t); got != before {
		t.Errorf("GC percent %d with --gc-headroom 0, want %d", got, before)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}
