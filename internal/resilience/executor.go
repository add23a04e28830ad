// Package resilience decides which upstream answers a request: it orders the candidate
// targets by policy, retries retryable failures with jittered backoff, fails over to the
// next target, and keeps one circuit breaker per provider so a dead upstream costs no
// network calls until its cooldown ends. It also keeps the per-provider numbers
// (/health/providers, the dashboard) that fall out of doing so.
//
// The package knows nothing about HTTP handlers or wire formats: the gateway hands it
// an attempt func that performs one upstream call and gets back the answer, or an
// *apierr.Error ready to write to the client.
package resilience

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/provider"
)

// Defaults used when the matching Options field is zero. config.Default takes its
// [router] and [breaker] defaults from here, so a caller that skips the config layer
// gets the behaviour a user would.
const (
	DefaultRetries          = 2
	DefaultBackoffBase      = 200 * time.Millisecond
	DefaultBackoffMax       = 5 * time.Second
	DefaultFailureThreshold = 5
	DefaultCooldown         = 30 * time.Second
	DefaultHalfOpenMax      = 1
)

// Options configures an Executor. Zero durations and counts take the Default* values,
// except Retries, where zero means "no retries" (the config layer supplies the default).
type Options struct {
	// Retries is the number of extra attempts on the same target for retryable failures.
	Retries int
	// BackoffBase and BackoffMax shape the exponential backoff with full jitter.
	BackoffBase, BackoffMax time.Duration
	// FailureThreshold consecutive failures open a provider's breaker.
	FailureThreshold uint32
	// Cooldown is how long a breaker stays open before letting probes through.
	Cooldown time.Duration
	// HalfOpenMax is the number of probes allowed while half-open.
	HalfOpenMax uint32
	// Policy is "default", "round-robin", "latency" or "cost"; anything else acts as "default".
	Policy string
	// Price returns the price per million input and output tokens of an upstream model,
	// for the "cost" policy. Targets without a price sort last.
	Price func(model string) (inPerM, outPerM float64, ok bool)
	// Priority ranks providers for the "default" policy: lower first, ties keep input order.
	Priority func(provider string) int
	// OnBreaker receives breaker state changes. It runs on a request goroutine, never
	// under a breaker lock, so it may call back into the Executor; it must not block.
	OnBreaker func(events.Breaker)
	// OnAttempt receives every finished upstream attempt; it must not block.
	OnAttempt func(events.Attempt)
	// Logger receives breaker transitions (warn when opening, info otherwise).
	Logger *slog.Logger
	// Now, Sleep and Rand are test seams; nil means the real clock, a timer and
	// math/rand/v2. They are called concurrently. gobreaker reads the real clock itself,
	// so Now only affects latencies, error times and NextProbe.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Rand  func() float64
}

// Executor runs requests against ordered targets with retries, failover and breakers.
// It is safe for concurrent use; the request path takes no executor-wide lock.
type Executor struct {
	o      Options
	policy policy
	log    *slog.Logger
	rr     atomic.Uint64 // round-robin start index

	reg   atomic.Pointer[registry] // copy-on-write: read lock-free per attempt
	regMu sync.Mutex               // serialises registry writers only

	paused atomic.Int64 // unix nanos: the end of the latest pause of any target (pause.go)
}

// registry is an immutable snapshot of the known providers.
type registry struct {
	byName map[string]*provState
	list   []*provState // New's order, then first-use order
}

// New returns an Executor for the configured providers. Providers first seen later in a
// Target get their breaker and stats on first use.
func New(o Options, providers []provider.Provider) *Executor {
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.BackoffBase > o.BackoffMax {
		o.BackoffBase = o.BackoffMax
	}
	if o.FailureThreshold == 0 {
		o.FailureThreshold = DefaultFailureThreshold
	}
	if o.Cooldown <= 0 {
		o.Cooldown = DefaultCooldown
	}
	if o.HalfOpenMax == 0 {
		o.HalfOpenMax = DefaultHalfOpenMax
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	x := &Executor{o: o, policy: parsePolicy(o.Policy)}
	if o.Logger != nil {
		x.log = o.Logger.With("component", "resilience")
	} else {
		x.log = slog.New(slog.DiscardHandler)
	}
	if o.Policy != "" && x.policy == policyDefault && o.Policy != PolicyDefault {
		x.log.Warn("unknown router policy, using default", "policy", o.Policy)
	}
	reg := &registry{byName: make(map[string]*provState, len(providers))}
	for _, p := range providers {
		if _, dup := reg.byName[p.Name()]; dup {
			continue
		}
		ps := newProvState(x, p.Name(), p.Kind())
		reg.byName[ps.name] = ps
		reg.list = append(reg.list, ps)
	}
	x.reg.Store(reg)
	return x
}

// Result is a successful Execute.
type Result struct {
	Response *provider.Response
	Target   provider.Target
	Attempts int
	Tried    []string // the provider of each attempt, in order
	// Upstream is the time spent inside attempt funcs and backoff waits; the rest of a
	// request's latency is the gateway's own overhead.
	Upstream time.Duration

	triedBuf [2]string // backs Tried for the common one- or two-attempt case
	p        *provState
	stream   bool
	done     func(error) // breaker outcome, pending for a stream that was not a probe
	ctx      context.Context
	finished atomic.Bool

	// The successful attempt's report, held back for a stream until Started.
	report    bool
	reported  atomic.Bool
	requestID string
	lat       time.Duration
}

// Started tells a stream result that its first event is on its way to the client:
// only then is the successful attempt reported (OnAttempt: the event bus), so that
// event never queues behind bookkeeping. Finish reports it when Started was never
// called. For non-stream results Execute already reported and Started does nothing.
func (r *Result) Started() {
	if r == nil || !r.report || r.reported.Swap(true) {
		return
	}
	r.p.x.emit(r.requestID, r.p.name, r.Target.Model, r.Attempts, r.lat, nil, nil, false)
}

// Finish reports how a stream ended (nil or io.EOF: cleanly) to the provider's breaker
// and stats. For non-stream results Execute already did so and Finish does nothing.
// Only the first call counts; call it on every path.
//
// A stream that was a half-open probe settled its breaker when its first event came
// (Execute): a long stream must not hold the provider's only probe slot, and so
// every other request, until it ends. If such a stream fails later, the failure is
// counted as an attempt of its own.
func (r *Result) Finish(err error) {
	if r == nil || !r.stream || r.finished.Swap(true) {
		return
	}
	r.Started()
	oc, ae := classifyEnd(r.ctx, err)
	fault := oc == outcomeRetryable || oc == outcomeFatal
	if fault {
		r.p.recordFailure(err, ae, r.p.x.o.Now())
	}
	if r.done == nil { // settled at the first event
		if fault {
			if done, berr := r.p.cb.Allow(); berr == nil {
				done(verdict(err, ae))
			}
			r.p.flush()
		}
		return
	}
	switch {
	case fault:
		r.done(verdict(err, ae))
	case oc == outcomeCanceled || oc == outcomeRateLimited:
		r.done(errNeutral)
	default:
		r.done(nil)
	}
	r.p.flush()
}

// attemptFunc performs one upstream call.
type attemptFunc = func(ctx context.Context, t provider.Target) (*provider.Response, error)

// Execute tries targets in policy order until one succeeds, retrying retryable failures
// on the same target and skipping targets whose breaker is open. It returns the
// caller-fault error of an upstream unchanged, the context's error when ctx ends, and
// otherwise an *apierr.Error with code provider_unavailable naming every target's fate.
//
// For a streamed response attempt should read up to the first chunk before returning, so
// that a failure before the first byte is an attempt failure (and can fail over); the
// caller then owes the Result a Finish call.
func (x *Executor) Execute(ctx context.Context, requestID string, targets []provider.Target,
	attempt func(ctx context.Context, t provider.Target) (*provider.Response, error)) (*Result, error) {
	// Everything per-request lives on the stack until we know the outcome.
	var (
		orderBuf [8]provider.Target
		triedBuf [8]string
		failBuf  [8]failure
	)
	ordered := x.orderInto(orderBuf[:0], targets, "")
	if x.paused.Load() != 0 {
		x.deferPaused(ordered, x.o.Now())
	}
	tried := triedBuf[:0]
	fails := failBuf[:0]
	var upstream time.Duration

	for i, t := range ordered {
		p := x.state(t.Provider)
		f := failure{provider: p.name}
		var jitter fullJitter
	attempts:
		for try := 0; ; try++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			done, berr := p.cb.Allow()
			p.flush()
			if berr != nil {
				f.skipped = berr
				if why := p.openWhy.Load(); why != nil && !errors.Is(berr, gobreaker.ErrTooManyRequests) {
					f.skipWhy = *why
				}
				break
			}
			tried = append(tried, p.name)
			resp, lat, err := x.call(ctx, p, t, attempt, done)
			upstream += lat
			oc, ae := classify(ctx, err)
			switch oc {
			case outcomeOK:
				p.recordSuccess(lat)
				r := &Result{Response: resp, Target: t, Attempts: len(tried), Upstream: upstream, p: p}
				r.Tried = append(r.triedBuf[:0], tried...)
				if resp != nil && resp.Stream != nil {
					r.stream, r.ctx = true, ctx
					r.report, r.requestID, r.lat = x.o.OnAttempt != nil, requestID, lat
					if p.cb.State() == gobreaker.StateHalfOpen {
						// A probe: its first event is proof enough (see Finish).
						done(nil)
					} else {
						r.done = done
					}
					p.flush()
				} else {
					done(nil)
					p.flush()
					x.emit(requestID, p.name, t.Model, len(tried), lat, nil, nil, false)
				}
				return r, nil
			case outcomeCallerFault:
				p.recordLatency(lat)
				done(nil) // the upstream answered: it is healthy
				p.flush()
				x.emit(requestID, p.name, t.Model, len(tried), lat, err, ae, false)
				if ae != nil { // a fresh error per call: safe to annotate for the log row
					ae.Attempts, ae.Tried = len(tried), append([]string(nil), tried...)
				}
				return nil, err
			case outcomeCanceled:
				done(errNeutral)
				p.flush()
				x.emit(requestID, p.name, t.Model, len(tried), lat, err, ae, false)
				if cerr := ctx.Err(); cerr != nil {
					return nil, cerr
				}
				return nil, err
			case outcomeRateLimited:
				// The upstream pacing us: not a failure. Never retried here (the client's
				// SDK waits retry-after and retries; retrying here too would multiply its
				// calls); the next target is tried, and this one is tried last by other
				// requests until its retry-after has passed.
				p.recordLatency(lat)
				done(errNeutral)
				p.flush()
				f.attempts++
				f.err, f.apiErr, f.wait = err, ae, true
				until := p.pauseFor(t.Model, ae, x.o.Now())
				x.emitLimited(requestID, p.name, t.Model, len(tried), lat, err, ae, i < len(ordered)-1, until)
				break attempts
			}
			// A provider fault: counts against the breaker (unless the request asked for it).
			p.recordLatency(lat)
			p.recordFailure(err, ae, x.o.Now())
			done(verdict(err, ae))
			p.flush()
			f.attempts++
			f.err, f.apiErr = err, ae
			var floor time.Duration
			if ae != nil && ae.RetryAfter > 0 {
				floor = ae.RetryAfter
				p.pauseFor(t.Model, ae, x.o.Now())
			}
			if oc == outcomeRetryable && floor > x.o.BackoffMax {
				// Retry-After (Anthropic's 529, a 503) asks for longer than the gateway
				// waits: calling again sooner would ignore it. Fail over; when this was
				// the target's only call, the client may come back after it.
				f.wait = try == 0
			} else if oc == outcomeRetryable && try < x.o.Retries {
				wait := x.wait(&jitter, floor)
				x.emit(requestID, p.name, t.Model, len(tried), lat, err, ae, true)
				start := x.o.Now()
				serr := x.o.Sleep(ctx, wait)
				upstream += x.o.Now().Sub(start)
				if serr != nil {
					return nil, serr
				}
				continue
			}
			x.emit(requestID, p.name, t.Model, len(tried), lat, err, ae, i < len(ordered)-1)
			break
		}
		fails = append(fails, f)
	}
	e := x.unavailable(fails, len(tried))
	e.Attempts, e.Tried = len(tried), append([]string(nil), tried...)
	return nil, e
}

// call runs one attempt with the in-flight gauge held, and settles the breaker if the
// attempt panics so a half-open probe slot is never lost.
func (x *Executor) call(ctx context.Context, p *provState, t provider.Target, attempt attemptFunc, done func(error)) (resp *provider.Response, lat time.Duration, err error) {
	p.inFlight.Add(1)
	p.requests.Add(1)
	ok := false
	defer func() {
		p.inFlight.Add(-1)
		if !ok {
			done(errPanic)
			p.flush()
		}
	}()
	start := x.o.Now()
	resp, err = attempt(ctx, t)
	lat = x.o.Now().Sub(start)
	ok = true
	return resp, lat, err
}

// emit reports a finished attempt. Retrying means the executor will retry or fail over
// (a later target may still be skipped by its breaker).
func (x *Executor) emit(requestID, prov, model string, n int, lat time.Duration, err error, ae *apierr.Error, retrying bool) {
	x.emitLimited(requestID, prov, model, n, lat, err, ae, retrying, time.Time{})
}

// emitLimited is emit for an attempt that answered 429, with the end of its pause.
func (x *Executor) emitLimited(requestID, prov, model string, n int, lat time.Duration, err error, ae *apierr.Error, retrying bool, until time.Time) {
	if x.o.OnAttempt == nil {
		return
	}
	a := events.Attempt{RequestID: requestID, Provider: prov, Model: model, Number: n,
		LatencyMS: float64(lat) / float64(time.Millisecond), Retrying: retrying, RateLimitedUntil: until}
	switch {
	case err == nil:
		a.Status = 200
	case ae != nil:
		a.Status, a.Error = ae.Status, describe(err, ae)
	default:
		a.Error = err.Error()
	}
	x.o.OnAttempt(a)
}

// state returns the provider's breaker and stats, creating them on first use.
func (x *Executor) state(pr provider.Provider) *provState {
	name := pr.Name()
	if p := x.reg.Load().byName[name]; p != nil {
		return p
	}
	x.regMu.Lock()
	defer x.regMu.Unlock()
	old := x.reg.Load()
	if p := old.byName[name]; p != nil {
		return p
	}
	p := newProvState(x, name, pr.Kind())
	next := &registry{byName: make(map[string]*provState, len(old.byName)+1), list: append(old.list[:len(old.list):len(old.list)], p)}
	for k, v := range old.byName {
		next.byName[k] = v
	}
	next.byName[name] = p
	x.reg.Store(next)
	return p
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
