package radius

import (
	"sync"
	"time"

	"github.com/radmfa/radmfa/internal/keyed"
)

// logBudget decides which warnings about dropped packets are logged: at
// most one line per key (a source address, a client) per period, and at
// most perReason lines per reason per period in all, whatever arrives. It
// costs O(1) per packet and fixed memory (keys are counted in a fixed
// table, see keyed). Every drop is counted in the metrics regardless; the
// log line says how many lines of its reason were held back since the
// last one.
type logBudget struct {
	period    time.Duration
	perReason int
	keys      *keyed.Limiter

	mu      sync.Mutex
	reasons map[string]*reasonWindow // a fixed, small set of reasons
}

// logSlots is the size of the table of keys.
const logSlots = 4096

type reasonWindow struct {
	start      time.Time
	lines      int
	suppressed uint64
}

func newLogBudget(period time.Duration, perReason int) *logBudget {
	return &logBudget{period: period, perReason: perReason, keys: keyed.New(logSlots, period, 1),
		reasons: map[string]*reasonWindow{}}
}

// allow reports whether a line for (reason, key) may be logged at now, and
// how many lines of reason were held back before it.
func (b *logBudget) allow(reason, key string, now time.Time) (bool, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.reasons[reason]
	if w == nil {
		w = &reasonWindow{start: now}
		b.reasons[reason] = w
	}
	if now.Sub(w.start) >= b.period {
		w.start, w.lines = now, 0
	}
	if w.lines >= b.perReason || !b.keys.Allow(reason+"\x00"+key, now) {
		w.suppressed++
		return false, 0
	}
	w.lines++
	held := w.suppressed
	w.suppressed = 0
	return true, held
}
