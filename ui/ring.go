package ui

// ring is a fixed-capacity buffer that keeps the newest cap items; pushing into a
// full ring evicts the oldest. It never grows, which keeps the dashboard's memory
// flat however many events arrive.
type ring[T any] struct {
	buf  []T
	head int // index the next push writes to
	n    int
}

func newRing[T any](capacity int) *ring[T] {
	if capacity < 1 {
		capacity = 1
	}
	return &ring[T]{buf: make([]T, capacity)}
}

// push adds v as the newest item and returns the evicted oldest one, if any.
func (r *ring[T]) push(v T) (evicted T, ok bool) {
	if r.n == len(r.buf) {
		evicted, ok = r.buf[r.head], true
	} else {
		r.n++
	}
	r.buf[r.head] = v
	r.head = (r.head + 1) % len(r.buf)
	return evicted, ok
}

// len is the number of items held.
func (r *ring[T]) len() int { return r.n }

// at returns the i-th newest item: at(0) is the newest.
func (r *ring[T]) at(i int) T {
	idx := (r.head - 1 - i + 2*len(r.buf)) % len(r.buf)
	return r.buf[idx]
}

// reset drops every item (and the references they hold).
func (r *ring[T]) reset() {
	var zero T
	for i := range r.buf {
		r.buf[i] = zero
	}
	r.head, r.n = 0, 0
}
