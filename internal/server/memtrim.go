package server

import "github.com/jmanhype/runestone/internal/events"

// memTrimQuiet is how many one-second looks in a row must find the gateway idle (no
// request in flight, none finished) before its free memory goes back to the OS.
const memTrimQuiet = 3

// memTrim hands the heap's free memory back to the OS once the gateway has gone
// quiet after work. The runtime keeps what a burst (hundreds of streams, thousands
// of requests a second) freed, and with the collector's doubled headroom (serve's
// GOGC=200) an idle gateway would keep it for minutes, charged to the laptop it runs
// on. Trimming once per quiet spell costs one collection when nothing waits on it.
type memTrim struct {
	free    func() // debug.FreeOSMemory in serve
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
	if m.still++; m.still >= memTrimQuiet && !m.trimmed {
		m.trimmed = true
		m.free()
	}
}
