package store

import (
	"runtime"
	"time"
)

// The request log is written by one goroutine in batches of up to 128 rows. SQLite
// here is pure Go that never blocks in a syscall mid-statement, so on a gateway
// confined to one core (GOMAXPROCS=1) a batch competes with requests for the only P.
// runtime.Gosched between statements lets goroutines that are already runnable go
// first, but it is not enough on its own: the scheduler runs any runnable goroutine —
// the yielding writer included — before it polls the network, so a request that
// arrived meanwhile waited for sysmon's forced poll, up to 10ms. Parking the writer
// on a short timer now and then leaves the P idle, and an idle P polls the network.
//
// A park costs up to a millisecond when nothing is waiting (the runtime's network
// wait has millisecond resolution), so after a park that overslept — the P went idle,
// everything pending was served — the writer runs unparked for a while. That bounds
// both what a new request waits behind the writer (about quietFor) and what the
// parks cost the writer (a third of its time at worst, with no traffic at all).
// Measured with one client sending requests back to back (bench scenario A): p99
// 1.15-1.42 ms with Gosched alone, 0.67-0.74 ms with the parks.
const (
	yieldEvery = 200 * time.Microsecond // writer time between parks
	yieldPark  = 20 * time.Microsecond
	overslept  = 200 * time.Microsecond
	quietFor   = 2 * time.Millisecond
)

// yielder paces one long write: yield between statements.
type yielder struct {
	last, quietUntil time.Time
	off              bool
}

func (y *yielder) yield() {
	if y.off {
		return
	}
	now := time.Now()
	if now.Sub(y.last) < yieldEvery || now.Before(y.quietUntil) {
		runtime.Gosched()
		return
	}
	time.Sleep(yieldPark)
	y.last = time.Now()
	if y.last.Sub(now) > overslept {
		y.quietUntil = y.last.Add(quietFor)
	}
}
