package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// Bus fans events out to subscribers without ever blocking the publisher: a
// subscriber whose buffer is full loses events and is told how many.
type Bus struct {
	seq  atomic.Uint64
	n    atomic.Int32 // subscriber count, so Publish is nearly free when nobody listens
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: make(map[*Subscription]struct{})} }

// Subscription receives events on C until Close.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	bus     *Bus
	mu      sync.Mutex // serialises sends with Close
	closed  bool
	dropped uint64 // lost since the last delivered Dropped notice
	total   atomic.Uint64
}

// Active reports whether anyone listens, so publishers can skip building events.
func (b *Bus) Active() bool { return b != nil && b.n.Load() > 0 }

// Subscribe registers a subscriber with a buffer of buf events.
func (b *Bus) Subscribe(buf int) *Subscription {
	if buf < 1 {
		buf = 1
	}
	c := make(chan Event, buf)
	s := &Subscription{C: c, c: c, bus: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	b.n.Add(1)
	return s
}

// Dropped is the total number of events this subscriber lost.
func (s *Subscription) Dropped() uint64 { return s.total.Load() }

// Close unsubscribes and closes C.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	if _, ok := s.bus.subs[s]; ok {
		delete(s.bus.subs, s)
		s.bus.n.Add(-1)
	}
	s.bus.mu.Unlock()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
	s.mu.Unlock()
}

// Publish stamps e with a sequence number and time (if unset) and offers it to
// every subscriber without blocking.
func (b *Bus) Publish(e Event) {
	if !b.Active() {
		return
	}
	// Subscribers queue thousands of events each: none keeps a body's worth of text.
	e = bound(e)
	e.Seq = b.seq.Add(1)
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.mu.RLock()
	for s := range b.subs {
		s.offer(e)
	}
	b.mu.RUnlock()
}

func (s *Subscription) offer(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.dropped > 0 {
		select {
		case s.c <- Event{Seq: e.Seq, Kind: KindDropped, Time: e.Time, Dropped: s.dropped}:
			s.dropped = 0
		default:
			s.dropped++
			s.total.Add(1)
			return
		}
	}
	select {
	case s.c <- e:
	default:
		s.dropped++
		s.total.Add(1)
	}
}
