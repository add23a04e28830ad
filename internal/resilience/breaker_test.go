package resilience

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/provider"
)

// gobreaker reads time.Now itself, so breaker tests use a short real cooldown.
const testCooldown = 50 * time.Millisecond

func breakerOptions(rec *recorder) Options {
	o := testOptions(newClock(), &sleeper{}, rec)
	o.Now = nil // NextProbe is compared with the real clock below
	o.Retries = 0
	o.FailureThreshold = 2
	o.Cooldown = testCooldown
	return o
}

func transitions(bs []events.Breaker) string {
	var s []string
	for _, b := range bs {
		s = append(s, b.Provider+":"+b.From+">"+b.To)
	}
	return strings.Join(s, " ")
}

func TestBreakerLifecycle(t *testing.T) {
	// The cooldown passes on synctest's fake clock: no real sleep, no flakiness.
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		a := newFake("a", step{err: upstreamErr(500, "down")})
		x := New(breakerOptions(rec), []provider.Provider{a})
		ctx := context.Background()

		for i := range 2 {
			if _, err := x.Execute(ctx, "r", targets(a), do); err == nil {
				t.Fatal("want failure")
			}
			if want := []string{StateClosed, StateOpen}[i]; x.State("a") != want {
				t.Fatalf("after %d failures: %s, want %s", i+1, x.State("a"), want)
			}
		}
		bs := rec.Breakers()
		if transitions(bs) != "a:closed>open" {
			t.Fatalf("events = %s", transitions(bs))
		}
		if d := time.Until(bs[0].NextProbe); d <= 0 || d > testCooldown {
			t.Errorf("NextProbe in %v, want within the cooldown", d)
		}
		if !strings.Contains(bs[0].Reason, "500 down") {
			t.Errorf("reason = %q", bs[0].Reason)
		}
		if h := x.Health()[0]; h.Breaker != StateOpen || h.NextProbe.IsZero() {
			t.Errorf("health = %+v", h)
		}

		// Open: no network call at all.
		_, err := x.Execute(ctx, "r", targets(a), do)
		ae := wantAPIErr(t, err, 503, apierr.CodeProviderUnavailable)
		if a.Calls() != 2 {
			t.Fatalf("calls = %d: an open breaker let a call through", a.Calls())
		}
		// The refusal says what opened the breaker.
		if ae.Message != "all providers failed: a: breaker open after 2 consecutive failures, last: 500 down" ||
			ae.Header.Get("Retry-After") != "1" {
			t.Errorf("error = %q %v", ae.Message, ae.Header)
		}

		time.Sleep(testCooldown + 10*time.Millisecond)
		if s := x.State("a"); s != StateHalfOpen {
			t.Fatalf("after cooldown: %s", s)
		}
		a.set(step{})
		if _, err := x.Execute(ctx, "r", targets(a), do); err != nil {
			t.Fatalf("probe: %v", err)
		}
		if s := x.State("a"); s != StateClosed {
			t.Fatalf("after a good probe: %s", s)
		}
		if got := transitions(rec.Breakers()); got != "a:closed>open a:open>half-open a:half-open>closed" {
			t.Errorf("events = %s", got)
		}
		if h := x.Health()[0]; !h.NextProbe.IsZero() {
			t.Errorf("closed breaker still shows a next probe: %v", h.NextProbe)
		}
	})
}

func TestHalfOpenProbeFailureReopens(t *testing.T) {
	// The cooldown passes on synctest's fake clock: no real sleep, no flakiness.
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		a := newFake("a", step{err: upstreamErr(503, "still down")})
		x := New(breakerOptions(rec), []provider.Provider{a})
		for range 2 {
			_, _ = x.Execute(context.Background(), "r", targets(a), do)
		}
		time.Sleep(testCooldown + 10*time.Millisecond)
		if _, err := x.Execute(context.Background(), "r", targets(a), do); err == nil {
			t.Fatal("want failure")
		}
		if a.Calls() != 3 || x.State("a") != StateOpen {
			t.Fatalf("calls=%d state=%s", a.Calls(), x.State("a"))
		}
		bs := rec.Breakers()
		if got := transitions(bs); got != "a:closed>open a:open>half-open a:half-open>open" {
			t.Fatalf("events = %s", got)
		}
		if !strings.HasPrefix(bs[2].Reason, "probe failed") {
			t.Errorf("reason = %q", bs[2].Reason)
		}
	})
}

func TestHalfOpenAllowsHalfOpenMaxProbes(t *testing.T) {
	// The cooldown passes on synctest's fake clock: no real sleep, no flakiness.
	synctest.Test(t, func(t *testing.T) {
		o := breakerOptions(nil)
		o.HalfOpenMax = 2
		a := newFake("a", step{err: upstreamErr(500, "x")})
		x := New(o, []provider.Provider{a})
		for range 2 {
			_, _ = x.Execute(context.Background(), "r", targets(a), do)
		}
		time.Sleep(testCooldown + 10*time.Millisecond)
		// Two slow probes (no answer yet) hold both slots.
		release := make(chan struct{})
		slow := func(ctx context.Context, t provider.Target) (*provider.Response, error) {
			<-release
			return do(ctx, t)
		}
		a.set(step{})
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := x.Execute(context.Background(), "r", targets(a), slow)
				errs <- err
			}()
		}
		synctest.Wait()
		calls := a.Calls()
		_, err := x.Execute(context.Background(), "r", targets(a), do)
		ae := wantAPIErr(t, err, 503, apierr.CodeProviderUnavailable)
		if a.Calls() != calls {
			t.Fatalf("a third probe reached the provider")
		}
		if !strings.Contains(ae.Message, "probe in flight") {
			t.Errorf("message = %q", ae.Message)
		}
		close(release)
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("probe: %v", err)
			}
		}
		if s := x.State("a"); s != StateClosed {
			t.Fatalf("both probes done: %s", s)
		}
	})
}

// TestStreamProbeDoesNotHoldProviderHostage: a half-open breaker's probe that is a long
// stream used to keep the only probe slot until the stream ended, and every other
// request got 503 "probe in flight" meanwhile. The stream's first event now closes the
// breaker; a failure later in that stream still counts.
func TestStreamProbeDoesNotHoldProviderHostage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := breakerOptions(nil)
		a := newFake("a", step{err: upstreamErr(500, "x")})
		x := New(o, []provider.Provider{a})
		for range 2 {
			_, _ = x.Execute(context.Background(), "r", targets(a), do)
		}
		time.Sleep(testCooldown + 10*time.Millisecond)
		a.set(step{stream: true})
		probe, err := x.Execute(context.Background(), "r", targets(a), do)
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		if s := x.State("a"); s != StateClosed {
			t.Fatalf("probe stream under way: breaker %s, want closed", s)
		}
		// While the probe streams on (20 s here), everyone else is served.
		a.set(step{})
		for range 3 {
			if _, err := x.Execute(context.Background(), "r", targets(a), do); err != nil {
				t.Fatalf("another request during the probe's stream: %v", err)
			}
		}
		time.Sleep(20 * time.Second)
		// The probe's stream breaks: that failure counts as one of its own.
		probe.Finish(&apierr.Error{Status: 502, Message: "cut", Retryable: true})
		h := x.Health()[0]
		if h.Errors != 3 || h.LastError != "502 cut" || h.Breaker != StateClosed {
			t.Fatalf("health = %+v", h)
		}
		a.set(step{err: upstreamErr(500, "y")})
		_, _ = x.Execute(context.Background(), "r", targets(a), do)
		if s := x.State("a"); s != StateOpen {
			t.Fatalf("the cut stream and one more failure (threshold 2): breaker %s, want open", s)
		}
	})
}

func TestStreamFinishCountsTowardBreaker(t *testing.T) {
	o := breakerOptions(nil)
	o.FailureThreshold = 1
	a := newFake("a", step{stream: true})
	x := New(o, []provider.Provider{a})

	res, err := x.Execute(context.Background(), "r", targets(a), do)
	if err != nil || res.Response.Stream == nil {
		t.Fatalf("res=%+v err=%v", res, err)
	}
	if x.State("a") != StateClosed {
		t.Fatal("breaker moved before the stream ended")
	}
	res.Finish(&apierr.Error{Status: 502, Message: "stream cut", Retryable: true})
	if s := x.State("a"); s != StateOpen {
		t.Fatalf("mid-stream failure: breaker %s, want open", s)
	}
	res.Finish(nil) // second call must not count
	if h := x.Health()[0]; h.Errors != 1 || h.LastError != "502 stream cut" {
		t.Errorf("health = %+v", h)
	}
}

func TestStreamFinishNeutralOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"clean", io.EOF},
		{"client left", context.Canceled},
		{"caller fault", &apierr.Error{Status: 400, Message: "bad"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := breakerOptions(nil)
			o.FailureThreshold = 1
			a := newFake("a", step{stream: true})
			x := New(o, []provider.Provider{a})
			res, err := x.Execute(context.Background(), "r", targets(a), do)
			if err != nil {
				t.Fatal(err)
			}
			res.Finish(tc.err)
			if s := x.State("a"); s != StateClosed {
				t.Errorf("breaker %s", s)
			}
			if h := x.Health()[0]; h.Errors != 0 {
				t.Errorf("errors = %d", h.Errors)
			}
		})
	}
}

// A cancelled half-open probe must free its slot, or the provider stays unusable.
func TestCanceledProbeFreesSlot(t *testing.T) {
	// The cooldown passes on synctest's fake clock: no real sleep, no flakiness.
	synctest.Test(t, func(t *testing.T) {
		a := newFake("a", step{err: upstreamErr(500, "x")})
		x := New(breakerOptions(nil), []provider.Provider{a})
		for range 2 {
			_, _ = x.Execute(context.Background(), "r", targets(a), do)
		}
		time.Sleep(testCooldown + 10*time.Millisecond)
		a.set(step{stream: true})
		ctx, cancel := context.WithCancel(context.Background())
		res, err := x.Execute(ctx, "r", targets(a), do)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		res.Finish(errors.New("write: broken pipe")) // ctx is done: neutral
		res2, err := x.Execute(context.Background(), "r", targets(a), do)
		if err != nil {
			t.Fatalf("second probe refused after a cancelled one: %v", err)
		}
		res2.Finish(nil)
		if s := x.State("a"); s != StateClosed {
			t.Errorf("state %s", s)
		}
	})
}

func TestOpenBreakerSkippedInFailover(t *testing.T) {
	o := breakerOptions(nil)
	o.FailureThreshold = 1
	a := newFake("a", step{err: upstreamErr(500, "x")})
	b := newFake("b")
	x := New(o, []provider.Provider{a, b})
	_, _ = x.Execute(context.Background(), "r", targets(a, b), do) // a opens, b answers
	res, err := x.Execute(context.Background(), "r", targets(a, b), do)
	if err != nil {
		t.Fatal(err)
	}
	if a.Calls() != 1 || b.Calls() != 2 || res.Attempts != 1 || res.Tried[0] != "b" {
		t.Errorf("a=%d b=%d result=%+v", a.Calls(), b.Calls(), res)
	}
}

// A breaker that opens during retries stops the retries at once.
func TestBreakerOpeningStopsRetries(t *testing.T) {
	o := breakerOptions(nil)
	o.Retries = 5
	a := newFake("a", step{err: upstreamErr(503, "busy")})
	x := New(o, []provider.Provider{a})
	_, err := x.Execute(context.Background(), "r", targets(a), do)
	ae := wantAPIErr(t, err, 502, apierr.CodeProviderUnavailable)
	if a.Calls() != 2 {
		t.Errorf("calls = %d, want 2 (threshold)", a.Calls())
	}
	if ae.Message != "all providers failed: a: 503 busy (2 attempts, then breaker open)" {
		t.Errorf("message = %q", ae.Message)
	}
}

func TestAllOpenFailsFast(t *testing.T) {
	o := breakerOptions(nil)
	o.FailureThreshold = 1
	o.Cooldown = time.Hour
	ps := []provider.Provider{newFake("a", step{err: netErr()}), newFake("b", step{err: netErr()}), newFake("c", step{err: netErr()})}
	x := New(o, ps)
	tg := targets(ps...)
	_, _ = x.Execute(context.Background(), "r", tg, do)
	for _, p := range ps {
		if x.State(p.Name()) != StateOpen {
			t.Fatalf("%s not open", p.Name())
		}
	}
	// Failing fast means no network call; the per-call cost is BenchmarkExecuteAllOpen.
	const n = 200
	for range n {
		_, err := x.Execute(context.Background(), "r", tg, do)
		ae := wantAPIErr(t, err, 503, apierr.CodeProviderUnavailable)
		if ae.Header.Get("X-Should-Retry") != "false" {
			t.Fatalf("header = %v", ae.Header)
		}
	}
	for _, p := range ps {
		if c := p.(*fakeProvider).Calls(); c != 1 {
			t.Errorf("%s calls = %d", p.Name(), c)
		}
	}
}

// OnBreaker must run outside gobreaker's mutex: calling back into the executor from
// the callback would otherwise deadlock.
func TestOnBreakerNotUnderLock(t *testing.T) {
	// The cooldown passes on synctest's fake clock: no real sleep, no flakiness.
	synctest.Test(t, func(t *testing.T) {
		o := breakerOptions(nil)
		o.FailureThreshold = 1
		a := newFake("a", step{err: netErr()})
		var x *Executor
		seen := make(chan string, 8)
		o.OnBreaker = func(ev events.Breaker) {
			seen <- ev.To + "/" + x.State(ev.Provider) // re-enters the breaker
			_ = x.Health()
		}
		x = New(o, []provider.Provider{a})
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			_, _ = x.Execute(context.Background(), "r", targets(a), do)
			time.Sleep(testCooldown + 10*time.Millisecond)
			_ = x.State("a") // open -> half-open happens inside State
		}()
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
			t.Fatal("deadlock: OnBreaker was called under the breaker's lock")
		}
		close(seen)
		var got []string
		for s := range seen {
			got = append(got, s)
		}
		if strings.Join(got, " ") != "open/open half-open/half-open" {
			t.Errorf("callbacks saw %v", got)
		}
	})
}
