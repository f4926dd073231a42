package radius

import (
	"hash/maphash"
	"sync"
	"time"
)

// logBudget decides which warnings about dropped packets are logged: at
// most one line per key (a source address, a client) per period, and at
// most perReason lines per reason per period in all, whatever arrives. It
// costs O(1) per packet and fixed memory: keys are hashed into a fixed
// table, where a colliding key takes the slot over (it may then be logged
// again within the period, within the reason's budget). Every drop is
// counted in the metrics regardless; the log line says how many lines of
// its reason were held back since the last one.
type logBudget struct {
	period    time.Duration
	perReason int
	seed      maphash.Seed

	mu      sync.Mutex
	slots   [logSlots]logSlot
	reasons map[string]*reasonWindow // a fixed, small set of reasons
}

const logSlots = 4096

type logSlot struct {
	hash uint64
	at   time.Time
}

type reasonWindow struct {
	start      time.Time
	lines      int
	suppressed uint64
}

func newLogBudget(period time.Duration, perReason int) *logBudget {
	return &logBudget{period: period, perReason: perReason, seed: maphash.MakeSeed(), reasons: map[string]*reasonWindow{}}
}

// allow reports whether a line for (reason, key) may be logged at now, and
// how many lines of reason were held back before it.
func (b *logBudget) allow(reason, key string, now time.Time) (bool, uint64) {
	var h maphash.Hash
	h.SetSeed(b.seed)
	h.WriteString(reason)
	h.WriteByte(0)
	h.WriteString(key)
	sum := h.Sum64()
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
	slot := &b.slots[sum%logSlots]
	if (slot.hash == sum && now.Sub(slot.at) < b.period) || w.lines >= b.perReason {
		w.suppressed++
		return false, 0
	}
	*slot = logSlot{hash: sum, at: now}
	w.lines++
	held := w.suppressed
	w.suppressed = 0
	return true, held
}
