package gateway

import (
	"sync"
	"sync/atomic"

	"github.com/jmanhype/runestone/internal/events"
)

// recentSize is how many finished requests /admin/state keeps. Each is an
// events.Request bounded by events.Request.Bound (a few KB at most, copies of what it
// quotes), so the ring's byte budget is under a megabyte whatever clients send.
const recentSize = 200

// liveState is what /admin/state reports: requests in flight, the newest finished
// ones, and session totals.
type liveState struct {
	mu       sync.Mutex
	inflight map[*exchange]struct{}
	recent   [recentSize]events.Request
	next     int
	n        int

	requests, errors, prompt, completion atomic.Uint64
	unpriced                             atomic.Uint64
	inFlight                             atomic.Int64
	costMu                               sync.Mutex
	cost                                 float64
}

func newLiveState() *liveState { return &liveState{inflight: map[*exchange]struct{}{}} }

func (s *liveState) begin(x *exchange) {
	s.inFlight.Add(1)
	s.mu.Lock()
	s.inflight[x] = struct{}{}
	s.mu.Unlock()
	g := x.g
	if g.o.Metrics != nil {
		g.o.Metrics.InFlight(1)
	}
	if g.o.Bus.Active() {
		ev := x.startedEvent()
		g.o.Bus.Publish(events.Event{Kind: events.KindRequestStarted, Request: &ev})
	}
}

func (s *liveState) end(x *exchange, ev events.Request) {
	s.requests.Add(1)
	if ev.Status >= 500 {
		s.errors.Add(1)
	}
	s.prompt.Add(uint64(ev.PromptTokens))
	s.completion.Add(uint64(ev.CompletionTokens))
	if ev.CostUSD != nil {
		s.costMu.Lock()
		s.cost += *ev.CostUSD
		s.costMu.Unlock()
	} else if ev.Unpriced() {
		s.unpriced.Add(1)
	}
	s.mu.Lock()
	if x.started {
		delete(s.inflight, x)
	}
	// Providers may be backed by the attempt's result, which holds the whole answer:
	// the ring keeps a copy of the names, not the answer (60 answers of 1.7 MB stayed
	// alive until 200 newer requests pushed them out).
	ev.Providers = append([]string(nil), ev.Providers...)
	s.recent[s.next] = ev
	s.next = (s.next + 1) % recentSize
	s.n = min(s.n+1, recentSize)
	s.mu.Unlock()
	if x.started {
		s.inFlight.Add(-1)
		if x.g.o.Metrics != nil {
			x.g.o.Metrics.InFlight(-1)
		}
	}
}

// snapshot returns in-flight requests and recent ones, newest first.
func (s *liveState) snapshot() (inflight, recent []events.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for x := range s.inflight {
		inflight = append(inflight, x.startedEvent())
	}
	recent = make([]events.Request, 0, s.n)
	for i := 1; i <= s.n; i++ {
		recent = append(recent, s.recent[(s.next-i+recentSize)%recentSize])
	}
	return inflight, recent
}

func (s *liveState) totals() events.Totals {
	s.costMu.Lock()
	cost := s.cost
	s.costMu.Unlock()
	return events.Totals{Requests: s.requests.Load(), Errors: s.errors.Load(), InFlight: s.inFlight.Load(),
		PromptTokens: s.prompt.Load(), CompletionTokens: s.completion.Load(), CostUSD: cost,
		UnpricedRequests: s.unpriced.Load()}
}
