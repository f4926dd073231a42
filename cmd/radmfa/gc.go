package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// gcHeadroom keeps at least a fixed amount of allocation between two
// garbage collections.
//
// With Go's default (GOGC=100) the runtime collects each time the heap
// has grown by as much as was live after the last collection. radmfa's
// live heap is small (the reply cache is most of it, 16 MiB at the start
// of a login storm) while each login allocates a few KiB, so at 35,000
// logins/s it collected ten times a second, and each collection's mark
// phase (1-3 ms on one CPU) delayed every request in flight and took CPU
// from them (README, Performance). Collecting only after headroom bytes more
// (at least; GOGC's own proportion when the live heap is larger) costs
// at most headroom bytes of memory and makes collections several times
// rarer.
//
// After each collection, the percent is set to headroom/live (never
// below base, the GOGC percent in effect at start): Go has no minimum
// heap goal of its own, and a large unused allocation (a "ballast") would
// show in heap profiles and metrics as if it were data.
type gcHeadroom struct {
	headroom uint64
	base     int
	live     func() uint64     // the heap live after the last collection
	set      func(p int) int   // debug.SetGCPercent
	onTune   func(percent int) // tests: called after each tuning

	mu      sync.Mutex
	stopped bool
	percent int
}

// maxGCPercent bounds the percent for a nearly empty heap.
const maxGCPercent = 10000

// gcPercentFor is the GOGC percent that lets the heap grow by at least
// headroom bytes over live, and by at least base percent.
func gcPercentFor(live, headroom uint64, base int) int {
	if headroom == 0 || base < 0 {
		return base
	}
	p := uint64(maxGCPercent)
	if live >= 100 {
		p = min(p, headroom/(live/100))
	}
	return max(base, int(p))
}

// gcHeadroomOn is set while a gcHeadroom tunes this process.
var gcHeadroomOn atomic.Bool

// startGCHeadroom applies headroom (bytes) on top of the GOGC percent in
// effect (GOGC's default 100, or the environment's) until the returned
// stop is called, which restores that percent. With headroom 0, with GC
// off (GOGC=off), or while another one runs, it changes nothing.
func startGCHeadroom(headroom uint64) (stop func()) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	base := int(int64(s[0].Value.Uint64()))
	if headroom == 0 || base < 0 || !gcHeadroomOn.CompareAndSwap(false, true) {
		return func() {}
	}
	g := &gcHeadroom{headroom: headroom, base: base, live: heapLive, set: debug.SetGCPercent}
	stopTuning := g.start()
	return func() {
		stopTuning()
		gcHeadroomOn.Store(false)
	}
}

// start tunes the percent from now on; the returned func stops and
// restores g.base.
func (g *gcHeadroom) start() func() {
	g.percent = g.base
	g.tune()
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.stopped = true
		g.set(g.base)
	}
}

// tune sets the percent for the heap live now and arranges to be called
// again after the next collection.
func (g *gcHeadroom) tune() {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return
	}
	p := gcPercentFor(g.live(), g.headroom, g.base)
	// SetGCPercent recomputes the pacer's goal under the heap lock: skip
	// changes too small to matter.
	if p != g.percent && (p*10 > g.percent*11 || p*11 < g.percent*10 || p == g.base) {
		g.set(p)
		g.percent = p
	}
	on := g.onTune
	percent := g.percent
	g.mu.Unlock()
	// A sentinel that the next collection frees (one running already may
	// keep it, since what is allocated while it marks survives it). It is
	// larger than the tiny allocator's 16 bytes, whose blocks are freed
	// together.
	runtime.AddCleanup(new([4]uintptr), (*gcHeadroom).tune, g)
	if on != nil {
		on(percent)
	}
}

// heapLive is the heap marked live by the last collection.
func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
