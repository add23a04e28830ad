package limits

// window is a sliding-window log with coalesced timestamps: a ring of (time, count)
// buckets in time order, plus their running total. Each event's time is rounded UP
// to the window's quantum, so an event leaves the window at most one quantum late and
// the count over ANY interval of length span is never under-counted: the limiter can
// be a quantum stricter than exact, never looser (no fixed-window 2x burst).
//
// Memory is bounded by span/quantum buckets (and by the number of events), not by the
// limit: a minute window with a 25ms quantum holds at most 2,400 buckets (38 KB)
// however high the RPM limit, and an idle key's ring is released by the janitor.
type window struct {
	span    int64 // nanoseconds
	quantum int64 // nanoseconds
	ring    []bucket
	head    int
	size    int
	total   int64
}

type bucket struct {
	t int64 // end of the quantum the events fell in, unix nanoseconds
	n int64
}

const minRing = 8

func newWindow(span, quantum int64) window { return window{span: span, quantum: quantum} }

func (w *window) ceil(now int64) int64 {
	r := now % w.quantum
	if r == 0 {
		return now
	}
	if r < 0 {
		return now - r
	}
	return now - r + w.quantum
}

// expire drops buckets that left the window (t + span <= now).
func (w *window) expire(now int64) {
	for w.size > 0 {
		b := &w.ring[w.head]
		if b.t+w.span > now {
			return
		}
		w.total -= b.n
		*b = bucket{}
		w.head++
		if w.head == len(w.ring) {
			w.head = 0
		}
		w.size--
	}
	w.head = 0
}

func (w *window) tail() *bucket {
	i := w.head + w.size - 1
	if i >= len(w.ring) {
		i -= len(w.ring)
	}
	return &w.ring[i]
}

// add records n events at now and returns the bucket time they were booked under.
func (w *window) add(now, n int64) int64 {
	t := w.ceil(now)
	w.total += n
	if w.size > 0 {
		// A clock that stepped back books into the newest bucket rather than
		// breaking the time order of the ring.
		if tb := w.tail(); tb.t >= t {
			tb.n += n
			return tb.t
		}
	}
	if w.size == len(w.ring) {
		w.grow()
	}
	i := w.head + w.size
	if i >= len(w.ring) {
		i -= len(w.ring)
	}
	w.ring[i] = bucket{t: t, n: n}
	w.size++
	return t
}

func (w *window) grow() {
	n := 2 * len(w.ring)
	if n < minRing {
		n = minRing
	}
	ring := make([]bucket, n)
	for i := 0; i < w.size; i++ {
		j := w.head + i
		if j >= len(w.ring) {
			j -= len(w.ring)
		}
		ring[i] = w.ring[j]
	}
	w.ring, w.head = ring, 0
}

// remove takes back n events booked at bucket time t (a refund), if still present.
func (w *window) remove(t, n int64) {
	for k := w.size - 1; k >= 0; k-- {
		i := w.head + k
		if i >= len(w.ring) {
			i -= len(w.ring)
		}
		b := &w.ring[i]
		if b.t < t {
			return
		}
		if b.t == t {
			n = min(n, b.n)
			b.n -= n
			w.total -= n
			return
		}
	}
}

// untilBelow returns how long until the total drops below limit as buckets expire
// (0 if it already is). Call after expire(now).
func (w *window) untilBelow(now, limit int64) int64 {
	excess := w.total - limit + 1
	if excess <= 0 {
		return 0
	}
	for k := 0; k < w.size; k++ {
		i := w.head + k
		if i >= len(w.ring) {
			i -= len(w.ring)
		}
		excess -= w.ring[i].n
		if excess <= 0 {
			return w.ring[i].t + w.span - now
		}
	}
	return w.span
}

// untilEmpty returns how long until every recorded event has left the window.
func (w *window) untilEmpty(now int64) int64 {
	if w.size == 0 {
		return 0
	}
	return w.tail().t + w.span - now
}

// compact releases a large ring once the window is empty.
func (w *window) compact() {
	if w.size == 0 && len(w.ring) > 64 {
		w.ring, w.head = nil, 0
	}
}
