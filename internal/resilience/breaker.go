package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/provider"
)

// Breaker states as events and /health/providers spell them (gobreaker's String()).
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

var (
	// errNeutral settles a breaker slot without a verdict: the client went away, so the
	// attempt says nothing about the provider.
	errNeutral = errors.New("resilience: attempt abandoned by the client")
	// errPanic settles a breaker slot whose attempt panicked: a gateway bug, which says
	// nothing about the provider either.
	errPanic = errors.New("resilience: attempt panicked")
)

// provState is one provider's breaker and numbers. Everything on the request path is
// an atomic or gobreaker's own mutex; there is no lock shared between providers.
type provState struct {
	x    *Executor
	name string
	kind string
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]

	stats
	pauses pauses

	nextProbe atomic.Int64 // unix nanos while open, else 0
	// openWhy says what opened the breaker (" after 5 consecutive failures, last: …"),
	// so a request refused by it can say why.
	openWhy atomic.Pointer[string]

	// gobreaker calls OnStateChange while holding its mutex, so the callback only queues
	// the event; flush delivers it after the breaker call returns. evMu is a leaf lock.
	evMu     sync.Mutex
	pending  []events.Breaker
	pendingN atomic.Int32
	flushing atomic.Bool
}

func newProvState(x *Executor, name, kind string) *provState {
	p := &provState{x: x, name: name, kind: kind}
	threshold := x.o.FailureThreshold
	p.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: x.o.HalfOpenMax,
		Timeout:     x.o.Cooldown,
		// Interval 0: closed-state counts reset only on a state change; "consecutive"
		// failures are reset by any success anyway.
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= threshold
		},
		IsSuccessful:  breakerSuccess,
		IsExcluded:    breakerExcluded,
		OnStateChange: p.onStateChange,
	})
	return p
}

// breakerSuccess treats an upstream's answer that blames the caller as proof the
// provider is up. Execute already maps outcomes before calling done; this keeps the
// breaker right for any error that reaches it directly.
func breakerSuccess(err error) bool {
	if err == nil {
		return true
	}
	ae := apierr.As(err)
	return ae != nil && isCallerFault(ae)
}

// breakerExcluded keeps cancelled (and panicked) attempts out of the counts, and
// answers that say nothing about the provider's health: a 429 (the upstream pacing us)
// and a fault the request asked the mock for. In half-open this also frees the probe
// slot so another request can probe.
func breakerExcluded(err error) bool {
	return err == errNeutral || err == errPanic || errors.Is(err, context.Canceled)
}

// verdict is what the breaker is told about a failed attempt.
func verdict(err error, ae *apierr.Error) error {
	if isRateLimit(ae) || errors.Is(err, provider.ErrRehearsal) {
		return errNeutral
	}
	return err
}

// onStateChange runs under gobreaker's mutex: record and queue only, never call out.
func (p *provState) onStateChange(_ string, from, to gobreaker.State) {
	now := p.x.o.Now()
	ev := events.Breaker{Provider: p.name, From: from.String(), To: to.String()}
	switch to {
	case gobreaker.StateOpen:
		ev.NextProbe = now.Add(p.x.o.Cooldown)
		p.nextProbe.Store(ev.NextProbe.UnixNano())
		last := "unknown error"
		if rec := p.lastErr.Load(); rec != nil {
			last = rec.msg
		}
		var why string
		if from == gobreaker.StateHalfOpen {
			ev.Reason = "probe failed: " + last
			why = " after its probe failed: " + last
		} else {
			ev.Reason = fmt.Sprintf("%d consecutive failures, last: %s", p.x.o.FailureThreshold, last)
			why = " after " + ev.Reason
		}
		p.openWhy.Store(&why)
	case gobreaker.StateHalfOpen:
		p.nextProbe.Store(0)
		ev.Reason = "cooldown elapsed"
	case gobreaker.StateClosed:
		p.nextProbe.Store(0)
		ev.Reason = "probe succeeded"
	}
	p.evMu.Lock()
	p.pending = append(p.pending, ev)
	p.pendingN.Store(int32(len(p.pending)))
	p.evMu.Unlock()
}

// flush delivers queued state changes in order. Call it after every call into the
// breaker. One goroutine delivers at a time; a re-entrant call from inside OnBreaker
// (e.g. x.State) or a concurrent one returns at once and leaves the events to the
// deliverer, which re-checks the queue after letting go, so nothing is stranded.
func (p *provState) flush() {
	for p.pendingN.Load() > 0 {
		if !p.flushing.CompareAndSwap(false, true) {
			return
		}
		p.drain()
	}
}

// drain delivers until the queue is empty; the deferred release keeps a panicking
// OnBreaker from silencing every later event.
func (p *provState) drain() {
	defer p.flushing.Store(false)
	for {
		p.evMu.Lock()
		batch := p.pending
		p.pending = nil
		p.pendingN.Store(0)
		p.evMu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, ev := range batch {
			p.deliver(ev)
		}
	}
}

func (p *provState) deliver(ev events.Breaker) {
	attrs := []any{"provider", ev.Provider, "from", ev.From, "to", ev.To, "reason", ev.Reason}
	if ev.To == StateOpen {
		p.x.log.Warn("circuit breaker opened", append(attrs, "next_probe", ev.NextProbe.Format(time.RFC3339))...)
	} else {
		p.x.log.Info("circuit breaker changed", attrs...)
	}
	if p.x.o.OnBreaker != nil {
		p.x.o.OnBreaker(ev)
	}
}
