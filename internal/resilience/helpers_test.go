package resilience

import (
	"context"
	"io"

	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/provider"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// step is one scripted answer of a fakeProvider.
type step struct {
	err     error
	stream  bool          // answer with a fake stream instead of a body
	latency time.Duration // advanced on the test clock, if any
	block   bool          // wait for ctx to end, then return its error
}

// fakeProvider answers from a script; past its end it repeats the last step.
type fakeProvider struct {
	name  string
	clock *fakeClock
	mu    sync.Mutex
	steps []step
	calls atomic.Int32
}

func newFake(name string, steps ...step) *fakeProvider {
	return &fakeProvider{name: name, steps: steps}
}

func (f *fakeProvider) Name() string     { return f.name }
func (f *fakeProvider) Kind() string     { return "mock" }
func (f *fakeProvider) Models() []string { return []string{"m"} }
func (f *fakeProvider) Calls() int       { return int(f.calls.Load()) }

func (f *fakeProvider) set(steps ...step) {
	f.mu.Lock()
	f.steps = steps
	f.mu.Unlock()
}

func (f *fakeProvider) Do(ctx context.Context, call *provider.Call) (*provider.Response, error) {
	n := int(f.calls.Add(1))
	f.mu.Lock()
	var s step
	if len(f.steps) > 0 {
		s = f.steps[min(n, len(f.steps))-1]
	}
	f.mu.Unlock()
	if f.clock != nil && s.latency > 0 {
		f.clock.Advance(s.latency)
	}
	if s.block {
		<-ctx.Done()
		return nil, &apierr.Error{Status: 0, Message: "connection reset", Retryable: true, Provider: f.name, Cause: ctx.Err()}
	}
	if s.err != nil {
		return nil, s.err
	}
	if s.stream {
		return &provider.Response{Stream: &fakeStream{}}, nil
	}
	return &provider.Response{Body: []byte(`{"ok":true,"from":"` + f.name + `"}`)}, nil
}

type fakeStream struct{}

func (fakeStream) Next() ([]byte, error) { return nil, io.EOF }
func (fakeStream) Usage() provider.Usage { return provider.Usage{} }
func (fakeStream) Close() error          { return nil }

// do is the attempt func the gateway would pass: one Provider.Do per attempt.
func do(ctx context.Context, t provider.Target) (*provider.Response, error) {
	return t.Provider.Do(ctx, &provider.Call{Model: t.Model})
}

func targets(ps ...provider.Provider) []provider.Target {
	out := make([]provider.Target, len(ps))
	for i, p := range ps {
		out[i] = provider.Target{Provider: p, Model: "up-" + p.Name()}
	}
	return out
}

func upstreamErr(status int, msg string) *apierr.Error {
	return &apierr.Error{Status: status, Type: apierr.TypeServer, Message: msg,
		Retryable: apierr.RetryableStatus(status), Provider: "x"}
}

func netErr() *apierr.Error {
	return &apierr.Error{Message: "connection refused", Retryable: true}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sleeper records requested waits and advances the clock instead of sleeping.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
	clock *fakeClock
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	if s.clock != nil {
		s.clock.Advance(d)
	}
	return ctx.Err()
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// recorder collects events from the callbacks.
type recorder struct {
	mu       sync.Mutex
	breakers []events.Breaker
	attempts []events.Attempt
}

func (r *recorder) OnBreaker(e events.Breaker) {
	r.mu.Lock()
	r.breakers = append(r.breakers, e)
	r.mu.Unlock()
}

func (r *recorder) OnAttempt(a events.Attempt) {
	r.mu.Lock()
	r.attempts = append(r.attempts, a)
	r.mu.Unlock()
}

func (r *recorder) Breakers() []events.Breaker {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Breaker(nil), r.breakers...)
}

func (r *recorder) Attempts() []events.Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Attempt(nil), r.attempts...)
}

// testOptions are deterministic: fixed clock, recorded sleeps, jitter at half the ceiling.
func testOptions(clock *fakeClock, sl *sleeper, rec *recorder) Options {
	o := Options{
		Retries:          2,
		BackoffBase:      100 * time.Millisecond,
		BackoffMax:       time.Second,
		FailureThreshold: 5,
		Cooldown:         time.Hour,
		HalfOpenMax:      1,
		Now:              clock.Now,
		Sleep:            sl.Sleep,
		Rand:             func() float64 { return 0.5 },
	}
	if rec != nil {
		o.OnBreaker, o.OnAttempt = rec.OnBreaker, rec.OnAttempt
	}
	return o
}

func wantAPIErr(t *testing.T, err error, status int, code string) *apierr.Error {
	t.Helper()
	ae := apierr.As(err)
	if ae == nil {
		t.Fatalf("error = %v (%T), want *apierr.Error", err, err)
	}
	if ae.Status != status || ae.Code != code {
		t.Fatalf("error = %d/%q %q, want %d/%q", ae.Status, ae.Code, ae.Message, status, code)
	}
	return ae
}

// Test-only views of the executor (deadcode: nothing else needs them).

// State reports a provider's breaker: "closed", "open" or "half-open". Unknown
// providers have no failures yet, so they are "closed".
func (x *Executor) State(provider string) string {
	p := x.reg.Load().byName[provider]
	if p == nil {
		return "closed"
	}
	s := p.cb.State()
	p.flush() // State itself may move open -> half-open
	return s.String()
}

// Order returns a copy of targets in the order Execute would try them. model is used
// for pricing targets whose Model is empty. Under round-robin every call advances the
// rotation, exactly as a request would.
func (x *Executor) Order(targets []provider.Target, model string) []provider.Target {
	return x.orderInto(make([]provider.Target, 0, len(targets)), targets, model)
}
