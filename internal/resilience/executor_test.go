package resilience

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

func TestSuccessFirstTry(t *testing.T) {
	clock, sl, rec := newClock(), &sleeper{}, &recorder{}
	a := newFake("a", step{latency: 40 * time.Millisecond})
	a.clock = clock
	x := New(testOptions(clock, sl, rec), []provider.Provider{a})

	res, err := x.Execute(context.Background(), "req1", targets(a), do)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 1 || !slices.Equal(res.Tried, []string{"a"}) || res.Target.Model != "up-a" {
		t.Fatalf("result = %+v", res)
	}
	if res.Upstream != 40*time.Millisecond {
		t.Errorf("Upstream = %v, want 40ms", res.Upstream)
	}
	if got := string(res.Response.Body); !strings.Contains(got, `"from":"a"`) {
		t.Errorf("body = %s", got)
	}
	res.Finish(errors.New("ignored for non-stream")) // must be a no-op
	if x.Health()[0].Errors != 0 {
		t.Error("Finish on a non-stream result counted an error")
	}
	att := rec.Attempts()
	if len(att) != 1 || att[0].RequestID != "req1" || att[0].Number != 1 || att[0].Status != 200 ||
		att[0].Model != "up-a" || att[0].LatencyMS != 40 || att[0].Retrying {
		t.Errorf("attempt events = %+v", att)
	}
}

func TestRetryThenSuccessWaits(t *testing.T) {
	clock, sl, rec := newClock(), &sleeper{}, &recorder{}
	sl.clock = clock
	a := newFake("a", step{err: upstreamErr(503, "overloaded")}, step{err: netErr()}, step{})
	x := New(testOptions(clock, sl, rec), []provider.Provider{a})

	res, err := x.Execute(context.Background(), "r", targets(a), do)
	if err != nil {
		t.Fatal(err)
	}
	if a.Calls() != 3 || res.Attempts != 3 || !slices.Equal(res.Tried, []string{"a", "a", "a"}) {
		t.Fatalf("calls=%d result=%+v", a.Calls(), res)
	}
	// Rand 0.5 of the ceiling: 100ms then 200ms.
	if got, want := sl.Waits(), []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if res.Upstream != 150*time.Millisecond {
		t.Errorf("Upstream = %v, want the 150ms of waits", res.Upstream)
	}
	att := rec.Attempts()
	if len(att) != 3 {
		t.Fatalf("attempts = %+v", att)
	}
	if att[0].Status != 503 || !att[0].Retrying || att[0].Number != 1 ||
		att[1].Status != 0 || att[1].Error != "connection refused" || !att[1].Retrying ||
		att[2].Status != 200 || att[2].Retrying || att[2].Number != 3 {
		t.Errorf("attempts = %+v", att)
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    float64
	}{{"low", 0}, {"high", 0.999999}} {
		t.Run(tc.name, func(t *testing.T) {
			clock, sl := newClock(), &sleeper{}
			o := testOptions(clock, sl, nil)
			o.Retries = 6
			o.BackoffBase, o.BackoffMax = 100*time.Millisecond, 500*time.Millisecond
			o.FailureThreshold = 100
			o.Rand = func() float64 { return tc.r }
			a := newFake("a", step{err: upstreamErr(500, "boom")})
			x := New(o, []provider.Provider{a})
			if _, err := x.Execute(context.Background(), "r", targets(a), do); err == nil {
				t.Fatal("want error")
			}
			ceilings := []time.Duration{100, 200, 400, 500, 500, 500}
			waits := sl.Waits()
			if len(waits) != len(ceilings) {
				t.Fatalf("waits = %v", waits)
			}
			for i, w := range waits {
				c := ceilings[i] * time.Millisecond
				if w < 0 || w >= c || w > o.BackoffMax {
					t.Errorf("wait %d = %v, want in [0, %v)", i, w, c)
				}
				if tc.r > 0.5 && w < c*99/100 {
					t.Errorf("wait %d = %v, want close to the ceiling %v", i, w, c)
				}
				if tc.r == 0 && w != 0 {
					t.Errorf("wait %d = %v, want 0 with Rand 0", i, w)
				}
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		want       []time.Duration // waits before retrying on the same target
	}{
		{"raises the jittered wait", 700 * time.Millisecond, []time.Duration{700 * time.Millisecond}},
		{"below jitter changes nothing", time.Millisecond, []time.Duration{50 * time.Millisecond}},
		// Longer than the gateway waits (BackoffMax): no early call, fail over instead.
		{"beyond BackoffMax is not retried", 30 * time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock, sl := newClock(), &sleeper{}
			e := upstreamErr(529, "overloaded")
			e.RetryAfter = tc.retryAfter
			a := newFake("a", step{err: e}, step{})
			b := newFake("b")
			x := New(testOptions(clock, sl, nil), []provider.Provider{a, b})
			res, err := x.Execute(context.Background(), "r", targets(a, b), do)
			if err != nil {
				t.Fatal(err)
			}
			if got := sl.Waits(); !slices.Equal(got, tc.want) {
				t.Errorf("waits = %v, want %v", got, tc.want)
			}
			wantFrom := "a"
			if tc.want == nil {
				wantFrom = "b"
			}
			if res.Target.Provider.Name() != wantFrom {
				t.Errorf("answered by %s, want %s", res.Target.Provider.Name(), wantFrom)
			}
			if h := x.Health()[0]; h.Errors != 1 || !h.RateLimitedUntil.IsZero() {
				t.Errorf("a 529 is a failure, not a rate limit: %+v", h)
			}
		})
	}
}

func TestRetriesExhaustedFailOver(t *testing.T) {
	clock, sl, rec := newClock(), &sleeper{}, &recorder{}
	a := newFake("a", step{err: upstreamErr(502, "bad gateway")})
	b := newFake("b")
	x := New(testOptions(clock, sl, rec), []provider.Provider{a, b})
	res, err := x.Execute(context.Background(), "r", targets(a, b), do)
	if err != nil {
		t.Fatal(err)
	}
	if a.Calls() != 3 || b.Calls() != 1 {
		t.Fatalf("calls a=%d b=%d, want 3 and 1", a.Calls(), b.Calls())
	}
	if !slices.Equal(res.Tried, []string{"a", "a", "a", "b"}) || res.Attempts != 4 || res.Target.Provider != b {
		t.Fatalf("result = %+v", res)
	}
	if len(sl.Waits()) != 2 {
		t.Errorf("waits = %v: no wait before failing over", sl.Waits())
	}
	att := rec.Attempts()
	if !att[2].Retrying { // failover follows
		t.Errorf("third attempt should say another attempt follows: %+v", att[2])
	}
}

func TestZeroRetries(t *testing.T) {
	clock, sl := newClock(), &sleeper{}
	o := testOptions(clock, sl, nil)
	o.Retries = 0
	a := newFake("a", step{err: upstreamErr(503, "x")})
	b := newFake("b")
	x := New(o, []provider.Provider{a, b})
	if _, err := x.Execute(context.Background(), "r", targets(a, b), do); err != nil {
		t.Fatal(err)
	}
	if a.Calls() != 1 || b.Calls() != 1 || len(sl.Waits()) != 0 {
		t.Errorf("calls a=%d b=%d waits=%v", a.Calls(), b.Calls(), sl.Waits())
	}
}

func TestCallerFaultReturnsImmediately(t *testing.T) {
	for _, status := range []int{400, 404, 409, 413, 422} {
		clock, sl := newClock(), &sleeper{}
		o := testOptions(clock, sl, nil)
		o.FailureThreshold = 1
		want := upstreamErr(status, "bad request from caller")
		a := newFake("a", step{err: want})
		b := newFake("b")
		x := New(o, []provider.Provider{a, b})
		res, err := x.Execute(context.Background(), "r", targets(a, b), do)
		if res != nil || err != want {
			t.Fatalf("%d: got %v, %v; want the upstream error itself", status, res, err)
		}
		if a.Calls() != 1 || b.Calls() != 0 || len(sl.Waits()) != 0 {
			t.Errorf("%d: calls a=%d b=%d waits=%v; want no retry, no failover", status, a.Calls(), b.Calls(), sl.Waits())
		}
		if s := x.State("a"); s != StateClosed {
			t.Errorf("%d: breaker %s after a caller fault with threshold 1", status, s)
		}
		if h := x.Health()[0]; h.Errors != 0 || h.Requests != 1 {
			t.Errorf("%d: health = %+v", status, h)
		}
	}
}

func TestNonRetryableProviderFaultFailsOver(t *testing.T) {
	for _, status := range []int{401, 402, 403} {
		clock, sl := newClock(), &sleeper{}
		o := testOptions(clock, sl, nil)
		o.FailureThreshold = 1
		a := newFake("a", step{err: &apierr.Error{Status: status, Message: "bad key"}})
		b := newFake("b")
		x := New(o, []provider.Provider{a, b})
		res, err := x.Execute(context.Background(), "r", targets(a, b), do)
		if err != nil {
			t.Fatal(err)
		}
		if a.Calls() != 1 || b.Calls() != 1 || len(sl.Waits()) != 0 || res.Target.Provider != b {
			t.Errorf("%d: calls a=%d b=%d waits=%v", status, a.Calls(), b.Calls(), sl.Waits())
		}
		if s := x.State("a"); s != StateOpen {
			t.Errorf("%d: breaker %s, want open (counted as failure, threshold 1)", status, s)
		}
	}
}

func TestCanceledDuringAttempt(t *testing.T) {
	clock, sl := newClock(), &sleeper{}
	o := testOptions(clock, sl, nil)
	o.FailureThreshold = 1
	a := newFake("a", step{block: true})
	b := newFake("b")
	x := New(o, []provider.Provider{a, b})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for a.Calls() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := x.Execute(ctx, "r", targets(a, b), do)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if a.Calls() != 1 || b.Calls() != 0 || len(sl.Waits()) != 0 {
		t.Errorf("calls a=%d b=%d waits=%v; want a stop", a.Calls(), b.Calls(), sl.Waits())
	}
	if s := x.State("a"); s != StateClosed {
		t.Errorf("breaker %s: a client disconnect counted against the provider", s)
	}
	if h := x.Health()[0]; h.Errors != 0 || h.InFlight != 0 {
		t.Errorf("health = %+v", h)
	}
}

func TestCanceledBeforeStart(t *testing.T) {
	a := newFake("a")
	x := New(testOptions(newClock(), &sleeper{}, nil), []provider.Provider{a})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := x.Execute(ctx, "r", targets(a), do); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if a.Calls() != 0 {
		t.Errorf("calls = %d", a.Calls())
	}
}

// The backoff sleep must end at once when the client goes away, even mid Retry-After.
// synctest's clock: the cancel fires 20ms in, after the first call has failed and the
// executor sleeps, whatever the machine's load (a wall-clock AfterFunc could fire first).
func TestCancelStopsBackoffWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := upstreamErr(503, "later")
		e.RetryAfter = time.Hour
		a := newFake("a", step{err: e})
		x := New(Options{Retries: 2, BackoffBase: time.Minute, BackoffMax: time.Hour}, []provider.Provider{a})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		_, err := x.Execute(ctx, "r", targets(a), do)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if el := time.Since(start); el != 20*time.Millisecond {
			t.Errorf("Execute returned %v after start, want 20ms (the cancel)", el)
		}
		if a.Calls() != 1 {
			t.Errorf("calls = %d, want 1", a.Calls())
		}
	})
}

func TestAllFailedMessage(t *testing.T) {
	clock, sl := newClock(), &sleeper{}
	limited := upstreamErr(429, "rate limited")
	limited.RetryAfter = 1500 * time.Millisecond
	a := newFake("openai", step{err: upstreamErr(503, "overloaded")})
	b := newFake("backup", step{err: &apierr.Error{Status: 401, Message: "bad key"}})
	c := newFake("third", step{err: limited})
	x := New(testOptions(clock, sl, nil), []provider.Provider{a, b, c})
	_, err := x.Execute(context.Background(), "r", targets(a, b, c), do)
	ae := wantAPIErr(t, err, 502, apierr.CodeProviderUnavailable)
	want := "all providers failed: openai: 503 overloaded (3 attempts); backup: 401 bad key; third: 429 rate limited"
	if ae.Message != want {
		t.Errorf("message = %q\nwant      %q", ae.Message, want)
	}
	if ae.Type != apierr.TypeServer || ae.Header.Get("X-Should-Retry") != "false" || ae.Header.Get("Retry-After") != "2" {
		t.Errorf("type %q header %v", ae.Type, ae.Header)
	}
	if !errors.Is(err, limited) {
		t.Errorf("cause should be the last real failure")
	}
}

func TestUnknownErrorIsRetried(t *testing.T) {
	a := newFake("a", step{err: errors.New("dial tcp: refused")}, step{})
	x := New(testOptions(newClock(), &sleeper{}, nil), []provider.Provider{a})
	if _, err := x.Execute(context.Background(), "r", targets(a), do); err != nil {
		t.Fatal(err)
	}
	if a.Calls() != 2 {
		t.Errorf("calls = %d", a.Calls())
	}
}

func TestNoTargets(t *testing.T) {
	x := New(Options{}, nil)
	_, err := x.Execute(context.Background(), "r", nil, do)
	wantAPIErr(t, err, 503, apierr.CodeProviderUnavailable)
}

func TestPanickingAttemptReleasesProbe(t *testing.T) {
	o := testOptions(newClock(), &sleeper{}, nil)
	o.FailureThreshold = 1
	a := newFake("a")
	x := New(o, []provider.Provider{a})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic swallowed")
			}
		}()
		_, _ = x.Execute(context.Background(), "r", targets(a), func(context.Context, provider.Target) (*provider.Response, error) {
			panic("boom")
		})
	}()
	if h := x.Health()[0]; h.InFlight != 0 || h.Breaker != StateClosed {
		t.Errorf("after a panic: in flight = %d, breaker %s (a gateway bug is not the provider's failure)", h.InFlight, h.Breaker)
	}
	if _, err := x.Execute(context.Background(), "r", targets(a), do); err != nil {
		t.Errorf("provider unusable after a panicking attempt: %v", err)
	}
}

func TestHealthStats(t *testing.T) {
	clock, sl := newClock(), &sleeper{}
	a := newFake("a")
	a.clock = clock
	x := New(testOptions(clock, sl, nil), []provider.Provider{a})
	// 100 attempts of 1..100ms, then one failure.
	for i := 1; i <= 100; i++ {
		a.set(step{latency: time.Duration(i) * time.Millisecond})
		if _, err := x.Execute(context.Background(), "r", targets(a), do); err != nil {
			t.Fatal(err)
		}
	}
	a.set(step{err: &apierr.Error{Status: 403, Message: "forbidden"}})
	_, _ = x.Execute(context.Background(), "r", targets(a), do)

	h := x.Health()
	if len(h) != 1 {
		t.Fatalf("health = %+v", h)
	}
	s := h[0]
	if s.Name != "a" || s.Kind != "mock" || s.Breaker != StateClosed || s.Requests != 101 || s.Errors != 1 {
		t.Errorf("state = %+v", s)
	}
	if s.LastError != "403 forbidden" || !s.LastErrorAt.Equal(clock.Now()) {
		t.Errorf("last error = %q at %v", s.LastError, s.LastErrorAt)
	}
	if s.ErrorRate < 0.0098 || s.ErrorRate > 0.0100 {
		t.Errorf("error rate = %v", s.ErrorRate)
	}
	// Window holds 1..100ms plus the failure's 0ms: 101 samples.
	if s.P50MS != 50 || s.P95MS != 95 {
		t.Errorf("p50=%v p95=%v, want 50 and 95", s.P50MS, s.P95MS)
	}

	// In flight is visible while an attempt runs.
	inside := make(chan int, 1)
	_, _ = x.Execute(context.Background(), "r", targets(a), func(ctx context.Context, t provider.Target) (*provider.Response, error) {
		inside <- x.Health()[0].InFlight
		return &provider.Response{}, nil
	})
	if n := <-inside; n != 1 {
		t.Errorf("in flight during attempt = %d", n)
	}
}

func TestLatencyWindowIsRecent(t *testing.T) {
	var s stats
	for range 1000 {
		s.recordLatency(time.Second)
	}
	for range ringSize {
		s.recordLatency(time.Millisecond)
	}
	if p50, p95 := s.percentiles(); p50 != 1 || p95 != 1 {
		t.Errorf("p50=%v p95=%v: old samples leaked into the window", p50, p95)
	}
}

func TestConcurrentExecute(t *testing.T) {
	o := Options{Retries: 1, BackoffBase: time.Microsecond, BackoffMax: time.Microsecond,
		FailureThreshold: 3, Cooldown: time.Millisecond, Policy: PolicyRoundRobin}
	a := newFake("a", step{err: upstreamErr(500, "x")}, step{}, step{err: netErr()}, step{})
	b := newFake("b")
	c := newFake("c", step{err: &apierr.Error{Status: 401, Message: "no"}})
	x := New(o, []provider.Provider{a, b, c})
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				res, err := x.Execute(context.Background(), "r", targets(a, b, c), do)
				if err == nil {
					res.Finish(nil)
				}
				if (g+i)%50 == 0 {
					_ = x.Health()
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	var total uint64
	for _, h := range x.Health() {
		total += h.Requests
		if h.InFlight != 0 {
			t.Errorf("%s in flight %d", h.Name, h.InFlight)
		}
	}
	if total < 1600 {
		t.Errorf("requests = %d, want at least one attempt per Execute", total)
	}
}
