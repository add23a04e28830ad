package resilience

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

func limitedErr(retryAfter time.Duration) *apierr.Error {
	e := upstreamErr(429, "slow down")
	e.Type, e.Code, e.RetryAfter = apierr.TypeRateLimit, apierr.CodeRateLimitExceeded, retryAfter
	return e
}

// TestRateLimitIsNotAFailure: before, a 429 was retried on the same target and counted
// toward the breaker, so one rate-limited client opened it for everyone.
func TestRateLimitIsNotAFailure(t *testing.T) {
	clock, sl, rec := newClock(), &sleeper{}, &recorder{}
	o := testOptions(clock, sl, rec)
	o.FailureThreshold = 2
	a := newFake("a", step{err: limitedErr(3 * time.Second)})
	x := New(o, []provider.Provider{a})
	for i := range 10 {
		_, err := x.Execute(context.Background(), "r", targets(a), do)
		ae := wantAPIErr(t, err, 429, apierr.CodeRateLimitExceeded)
		if a.Calls() != i+1 {
			t.Fatalf("request %d: %d upstream calls in all, want one per request (no retry of a 429)", i+1, a.Calls())
		}
		if ae.Header.Get("X-Should-Retry") != "true" || ae.Header.Get("Retry-After") != "3" || ae.Header.Get("Retry-After-Ms") != "3000" {
			t.Fatalf("headers %v", ae.Header)
		}
	}
	if len(sl.Waits()) != 0 {
		t.Errorf("the gateway waited %v: a 429 must reach the client at once", sl.Waits())
	}
	h := x.Health()[0]
	if h.Breaker != StateClosed || h.Errors != 0 || len(rec.Breakers()) != 0 {
		t.Errorf("health %+v breakers %v", h, rec.Breakers())
	}
	if want := clock.Now().Add(3 * time.Second); !h.RateLimitedUntil.Equal(want) {
		t.Errorf("rate-limited until %v, want %v", h.RateLimitedUntil, want)
	}
	if att := rec.Attempts(); att[0].Status != 429 || att[0].RateLimitedUntil.IsZero() || att[0].Retrying {
		t.Errorf("attempt event %+v", att[0])
	}
	clock.Advance(3 * time.Second)
	if h := x.Health()[0]; !h.RateLimitedUntil.IsZero() {
		t.Errorf("still rate-limited after its retry-after: %v", h.RateLimitedUntil)
	}
}

// TestRateLimitFailsOverAndIsTriedLast: the 429's target is not called again before its
// retry-after while another can serve; once it passes, the policy order is back.
func TestRateLimitFailsOverAndIsTriedLast(t *testing.T) {
	clock, sl := newClock(), &sleeper{}
	a := newFake("a", step{err: limitedErr(5 * time.Second)}, step{})
	b := newFake("b")
	x := New(testOptions(clock, sl, nil), []provider.Provider{a, b})
	res, err := x.Execute(context.Background(), "r", targets(a, b), do)
	if err != nil || !slices.Equal(res.Tried, []string{"a", "b"}) {
		t.Fatalf("res %+v err %v", res, err)
	}
	for range 3 {
		res, err = x.Execute(context.Background(), "r", targets(a, b), do)
		if err != nil || !slices.Equal(res.Tried, []string{"b"}) {
			t.Fatalf("during a's retry-after: tried %v err %v", res.Tried, err)
		}
	}
	clock.Advance(5 * time.Second)
	res, err = x.Execute(context.Background(), "r", targets(a, b), do)
	if err != nil || !slices.Equal(res.Tried, []string{"a"}) {
		t.Fatalf("after a's retry-after: tried %v err %v", res.Tried, err)
	}
	if a.Calls() != 2 || b.Calls() != 4 {
		t.Errorf("calls a=%d b=%d", a.Calls(), b.Calls())
	}
}

// TestRateLimitedTargetStillServesWhenAlone: a pause is a preference. With no other
// target, another client's request still goes to the upstream, which decides (its
// limits may be per model or per token count).
func TestRateLimitedTargetStillServesWhenAlone(t *testing.T) {
	a := newFake("a", step{err: limitedErr(time.Minute)}, step{})
	x := New(testOptions(newClock(), &sleeper{}, nil), []provider.Provider{a})
	_, err := x.Execute(context.Background(), "r", targets(a), do)
	wantAPIErr(t, err, 429, apierr.CodeRateLimitExceeded)
	if _, err := x.Execute(context.Background(), "r2", targets(a), do); err != nil {
		t.Fatalf("another client of the provider: %v", err)
	}
}

// TestPausesArePerModel: a 429 for one upstream model does not push back another model
// of the same provider.
func TestPausesArePerModel(t *testing.T) {
	a := newFake("a", step{err: limitedErr(time.Minute)}, step{})
	b := newFake("b")
	x := New(testOptions(newClock(), &sleeper{}, nil), []provider.Provider{a, b})
	tg := targets(a, b)
	_, _ = x.Execute(context.Background(), "r", tg, do)
	other := []provider.Target{{Provider: a, Model: "other"}, {Provider: b, Model: "other"}}
	if got := x.Order(other, ""); got[0].Provider != a {
		t.Errorf("another model of a was pushed back: %v", got[0].Provider.Name())
	}
	ordered := x.Order(tg, "")
	x.deferPaused(ordered, x.o.Now())
	if ordered[0].Provider != b {
		t.Errorf("the limited model was not tried last")
	}
}

func TestAllRateLimitedSoonestRetryAfter(t *testing.T) {
	a := newFake("a", step{err: limitedErr(3 * time.Second)})
	b := newFake("b", step{err: limitedErr(1500 * time.Millisecond)})
	x := New(testOptions(newClock(), &sleeper{}, nil), []provider.Provider{a, b})
	_, err := x.Execute(context.Background(), "r", targets(a, b), do)
	ae := wantAPIErr(t, err, 429, apierr.CodeRateLimitExceeded)
	if ae.Header.Get("Retry-After") != "2" || ae.Header.Get("Retry-After-Ms") != "1500" || ae.Header.Get("X-Should-Retry") != "true" {
		t.Errorf("headers %v", ae.Header)
	}
	if a.Calls() != 1 || b.Calls() != 1 {
		t.Errorf("calls a=%d b=%d", a.Calls(), b.Calls())
	}
}

// TestQuota429IsAFailure: OpenAI's insufficient_quota is a 429 that waiting does not
// fix: it fails over and counts, and the client is told not to retry.
func TestQuota429IsAFailure(t *testing.T) {
	o := testOptions(newClock(), &sleeper{}, nil)
	o.FailureThreshold = 1
	e := upstreamErr(429, "You exceeded your current quota")
	e.Code, e.Retryable = apierr.CodeInsufficientQuota, true
	a := newFake("a", step{err: e})
	x := New(o, []provider.Provider{a})
	_, err := x.Execute(context.Background(), "r", targets(a), do)
	ae := wantAPIErr(t, err, 502, apierr.CodeProviderUnavailable)
	if ae.Header.Get("X-Should-Retry") != "false" || x.State("a") != StateOpen {
		t.Errorf("headers %v breaker %s", ae.Header, x.State("a"))
	}
}

// TestOverloadedBeyondOurWaitTellsTheClientToWait: Anthropic's 529 keeps counting, but
// a Retry-After longer than the gateway waits is honoured by not calling again; the
// client is told when it may.
func TestOverloadedBeyondOurWaitTellsTheClientToWait(t *testing.T) {
	sl := &sleeper{}
	e := upstreamErr(529, "Overloaded")
	e.RetryAfter = 30 * time.Second
	a := newFake("a", step{err: e})
	x := New(testOptions(newClock(), sl, nil), []provider.Provider{a})
	_, err := x.Execute(context.Background(), "r", targets(a), do)
	ae := wantAPIErr(t, err, 502, apierr.CodeProviderUnavailable)
	if a.Calls() != 1 || len(sl.Waits()) != 0 {
		t.Errorf("calls %d waits %v", a.Calls(), sl.Waits())
	}
	if ae.Header.Get("X-Should-Retry") != "true" || ae.Header.Get("Retry-After") != "30" {
		t.Errorf("headers %v", ae.Header)
	}
	if h := x.Health()[0]; h.Errors != 1 {
		t.Errorf("a 529 must count: %+v", h)
	}
}

// TestRehearsedFaultsDoNotOpenTheBreaker: faults a request asks the mock for are
// retried and reported like real ones but never count toward the breaker.
func TestRehearsedFaultsDoNotOpenTheBreaker(t *testing.T) {
	o := testOptions(newClock(), &sleeper{}, nil)
	o.FailureThreshold = 2
	e := upstreamErr(500, "mock: x-mock-status asked for 500")
	e.Cause = provider.ErrRehearsal
	a := newFake("a", step{err: e})
	x := New(o, []provider.Provider{a})
	for range 5 {
		_, err := x.Execute(context.Background(), "r", targets(a), do)
		wantAPIErr(t, err, 502, apierr.CodeProviderUnavailable)
	}
	if h := x.Health()[0]; a.Calls() != 15 || h.Breaker != StateClosed || h.Errors != 15 {
		t.Errorf("calls %d health %+v", a.Calls(), h)
	}
	a.set(step{stream: true})
	res, err := x.Execute(context.Background(), "r", targets(a), do)
	if err != nil {
		t.Fatal(err)
	}
	res.Finish(&apierr.Error{Status: 502, Message: "cut", Retryable: true, Cause: provider.ErrRehearsal})
	if s := x.State("a"); s != StateClosed {
		t.Errorf("a rehearsed stream cut counted: %s", s)
	}
}

// TestRateLimitedProbeFreesTheSlot: a half-open probe answered 429 says nothing about
// health; the next request probes.
func TestRateLimitedProbeFreesTheSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake("a", step{err: upstreamErr(500, "down")})
		x := New(breakerOptions(nil), []provider.Provider{a})
		for range 2 {
			_, _ = x.Execute(context.Background(), "r", targets(a), do)
		}
		time.Sleep(testCooldown + 10*time.Millisecond)
		down := step{err: upstreamErr(500, "down")}
		a.set(down, down, step{err: limitedErr(time.Second)}, step{}) // steps count calls from the first
		_, err := x.Execute(context.Background(), "r", targets(a), do)
		wantAPIErr(t, err, 429, apierr.CodeRateLimitExceeded)
		if s := x.State("a"); s != StateHalfOpen {
			t.Fatalf("after a 429 probe: %s", s)
		}
		if _, err := x.Execute(context.Background(), "r", targets(a), do); err != nil {
			t.Fatalf("next probe: %v", err)
		}
		if s := x.State("a"); s != StateClosed {
			t.Errorf("after a good probe: %s", s)
		}
	})
}

// TestOpenBreakerNamesItsFailures: a refusal says what opened the breaker, also after a
// failed probe.
func TestOpenBreakerNamesItsFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake("a", step{err: upstreamErr(500, "boom")})
		x := New(breakerOptions(nil), []provider.Provider{a})
		for range 2 {
			_, _ = x.Execute(context.Background(), "r", targets(a), do)
		}
		time.Sleep(testCooldown + 10*time.Millisecond)
		a.set(step{err: upstreamErr(503, "still")})
		_, _ = x.Execute(context.Background(), "r", targets(a), do)
		_, err := x.Execute(context.Background(), "r", targets(a), do)
		ae := wantAPIErr(t, err, 503, apierr.CodeProviderUnavailable)
		if !strings.HasSuffix(ae.Message, "a: breaker open after its probe failed: 503 still") {
			t.Errorf("message %q", ae.Message)
		}
	})
}

// A stream that ends with the upstream's rate-limit error (Anthropic's mid-stream
// rate_limit_error) does not count either.
func TestMidStreamRateLimitNotCounted(t *testing.T) {
	o := breakerOptions(nil)
	o.FailureThreshold = 1
	a := newFake("a", step{stream: true})
	x := New(o, []provider.Provider{a})
	res, err := x.Execute(context.Background(), "r", targets(a), do)
	if err != nil {
		t.Fatal(err)
	}
	res.Finish(limitedErr(0))
	if h := x.Health()[0]; h.Breaker != StateClosed || h.Errors != 0 {
		t.Errorf("health %+v", h)
	}
}
