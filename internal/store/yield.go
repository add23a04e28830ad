package store

import (
	"runtime"
	"time"
)

// The request log is written by one goroutine in batches of hundreds of rows. SQLite
// here is pure Go that never blocks in a syscall mid-statement, so on a gateway
// confined to one core (GOMAXPROCS=1) a batch competes with requests for the only P.
// runtime.Gosched between statements lets goroutines that are already runnable go
// first, but it is not enough on its own: the scheduler runs any runnable goroutine —
// the yielding writer included — before it polls the network, so a connection that
// became readable meanwhile waited for sysmon's forced poll, up to 10ms. Parking the
// writer on a short timer now and then leaves the P idle, and an idle P polls the
// network at once.
const (
	yieldEvery = 200 * time.Microsecond // writer time between parks
	yieldPark  = 20 * time.Microsecond
)

// yielder paces one long write: yield between statements.
type yielder struct{ last time.Time }

func (y *yielder) yield() {
	if time.Since(y.last) < yieldEvery {
		runtime.Gosched()
		return
	}
	time.Sleep(yieldPark)
	y.last = time.Now()
}
