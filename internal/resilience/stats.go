package resilience

import (
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/events"
)

const (
	// ringSize is the latency window for p50/p95: recent enough to show an upstream
	// slowing down, large enough that p95 is not one sample.
	ringSize = 256
	// ewmaAlpha weights the newest sample in the latency policy's moving average; 0.3
	// follows a shift within a handful of requests without flapping on one outlier.
	ewmaAlpha = 0.3
)

type errRec struct {
	msg string
	at  time.Time
}

// stats are written on every attempt, so they are all atomics: concurrent requests to
// one provider never wait on each other here.
type stats struct {
	requests atomic.Uint64 // attempts started
	errors   atomic.Uint64 // attempts (or streams) that failed through the provider's fault
	inFlight atomic.Int64
	ewmaBits atomic.Uint64 // float64 milliseconds of successful attempts; 0 = no sample yet
	lastErr  atomic.Pointer[errRec]
	ringN    atomic.Uint64
	ring     [ringSize]atomic.Int64 // attempt latencies in nanoseconds
}

// recordSuccess feeds both the window and the latency policy's average.
func (s *stats) recordSuccess(lat time.Duration) {
	s.recordLatency(lat)
	ms := float64(lat) / float64(time.Millisecond)
	if ms <= 0 {
		ms = math.SmallestNonzeroFloat64 // 0 bits mean "no sample"
	}
	for {
		old := s.ewmaBits.Load()
		next := ms
		if old != 0 {
			prev := math.Float64frombits(old)
			next = prev + ewmaAlpha*(ms-prev)
		}
		if s.ewmaBits.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// recordLatency adds an attempt that got an answer to the p50/p95 window. Slots are
// claimed atomically; a reader may see a mix of old and new samples, which is fine for
// a health display.
func (s *stats) recordLatency(lat time.Duration) {
	i := s.ringN.Add(1) - 1
	s.ring[i%ringSize].Store(int64(lat))
}

func (s *stats) recordFailure(err error, ae *apierr.Error, now time.Time) {
	s.errors.Add(1)
	s.lastErr.Store(&errRec{msg: describe(err, ae), at: now})
}

// ewma returns the latency average in milliseconds and whether there is one.
func (s *stats) ewma() (float64, bool) {
	b := s.ewmaBits.Load()
	return math.Float64frombits(b), b != 0
}

// percentiles returns nearest-rank p50 and p95 of the window in milliseconds.
func (s *stats) percentiles() (p50, p95 float64) {
	n := s.ringN.Load()
	if n == 0 {
		return 0, 0
	}
	n = min(n, ringSize)
	var buf [ringSize]int64
	samples := buf[:n]
	for i := range samples {
		samples[i] = s.ring[i].Load()
	}
	slices.Sort(samples)
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(n))) - 1
		i = max(0, min(i, int(n)-1))
		return float64(samples[i]) / float64(time.Millisecond)
	}
	return rank(0.50), rank(0.95)
}

// Health reports every provider the executor knows, in configuration order, then in
// order of first use.
func (x *Executor) Health() []events.ProviderState {
	list := x.reg.Load().list
	out := make([]events.ProviderState, 0, len(list))
	now := x.o.Now()
	for _, p := range list {
		st := p.cb.State()
		p.flush()
		ps := events.ProviderState{
			Name:     p.name,
			Kind:     p.kind,
			Breaker:  st.String(),
			Requests: p.requests.Load(),
			Errors:   p.errors.Load(),
			InFlight: int(p.inFlight.Load()),
			// A 429 is not a breaker state: it shows beside one, while it lasts.
			RateLimitedUntil: p.pauses.limitedUntil(now),
		}
		if st.String() == StateOpen {
			if np := p.nextProbe.Load(); np != 0 {
				ps.NextProbe = time.Unix(0, np)
			}
		}
		if rec := p.lastErr.Load(); rec != nil {
			ps.LastError, ps.LastErrorAt = rec.msg, rec.at
		}
		if ps.Requests > 0 {
			ps.ErrorRate = float64(ps.Errors) / float64(ps.Requests)
		}
		ps.P50MS, ps.P95MS = p.percentiles()
		out = append(out, ps)
	}
	return out
}
