package server

import (
	"runtime/debug"
	"runtime/metrics"

	"github.com/jmanhype/runestone/internal/events"
)

// memTrimQuiet is how many one-second looks in a row must find the gateway idle (no
// request in flight, none finished) before its free memory goes back to the OS. Half
// a minute, not a few seconds: an agent pausing between turns should not pay a full
// collection each pause, and the next requests after a trim fault their memory back
// in (measured at c=1 right after a trim: p99 +50-100 µs).
const memTrimQuiet = 30

// memTrim hands the heap's free memory back to the OS once the gateway has gone
// quiet after work. The runtime keeps what a burst (hundreds of streams, thousands
// of requests a second) freed, and with the collector's extra headroom (gcTune) an
// idle gateway would keep it for minutes, charged to the laptop it runs on.
// Trimming once per quiet spell costs one collection when nothing waits on it.
type memTrim struct {
	free    func() // debug.FreeOSMemory in serve
	quiet   int    // idle looks before a trim (memTrimQuiet)
	last    uint64 // requests finished at the previous look
	still   int    // looks in a row that found the gateway idle
	trimmed bool   // nothing ran since the last trim
}

// look takes the once-a-second totals and trims when the quiet spell is long enough.
func (m *memTrim) look(t events.Totals) {
	if t.InFlight > 0 || t.Requests != m.last {
		m.last, m.still, m.trimmed = t.Requests, 0, false
		return
	}
	if m.still++; m.still >= m.quiet && !m.trimmed {
		m.trimmed = true
		m.free()
	}
}

// gcExtra is the headroom gcTune stops adding at: the collector may let the heap
// grow this far past the live heap before it collects, and no further than the
// runtime's default (GOGC=100, once more the live heap) when that is larger. 32 MB
// measured as 16 did for 1,000 streams (peak 130-135 against 125-132 MB), and keeps
// the doubled headroom for a mid-size heap (a tokenizer's vocabulary loaded).
const gcExtra = 32 << 20

// gcTune sets the collector's headroom from the live heap, once a second. The
// gateway's live heap is a few MB, so at the default GOGC=100 a busy gateway
// collected 6-7 times a second, and on a core it shares with requests each cycle's
// mark work (about a millisecond at a time) delayed them; twice the headroom
// (GOGC=200) measured on one core (bench/, 3 rounds): p99 at 2,000 rps 2.1-2.5 →
// 1.5-1.7 ms, at 4,000 rps 3.5-4.9 → 2.2-2.9 ms, closed-loop rate +12%. A fixed
// GOGC=200 also tripled the large heaps, though: after holding 1,000 streams the
// process peaked at 198 MB (VmHWM; 130-135 MB tuned, the bare proxy 108-129). So the
// headroom is twice the live heap up to gcExtra, and the default beyond it. The
// price: memory given back is faulted in again, so c=1 p99 right after such a burst
// measured 50-80 µs higher than with the memory kept.
type gcTune struct {
	set  func(int) int // debug.SetGCPercent
	live func() uint64 // bytes the last collection found live
	cur  int           // the percentage in force
}

func newGCTune() *gcTune {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	return &gcTune{set: debug.SetGCPercent, live: func() uint64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[0].Value.Uint64()
	}}
}

// look sets the percentage for the live heap now, when it changed.
func (t *gcTune) look() {
	if p := gcPercent(t.live()); p != t.cur {
		t.set(p)
		t.cur = p
	}
}

// gcPercent is GOGC for a live heap: 200 up to gcExtra/2, then falling (in steps of
// 10, so small changes in the live heap do not reset it every second) to 100 at
// gcExtra and beyond.
func gcPercent(live uint64) int {
	if live <= gcExtra/2 {
		return 200
	}
	p := int(100 * gcExtra / live)
	return max(100, p/10*10)
}
