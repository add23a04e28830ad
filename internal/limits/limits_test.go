package limits

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newClock() *fakeClock { return &fakeClock{t: base} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(d time.Duration) {
	c.mu.Lock()
	c.t = base.Add(d)
	c.mu.Unlock()
}

func newLimiter(t *testing.T, o Options) (*Limiter, *fakeClock) {
	t.Helper()
	c := newClock()
	if o.Now == nil {
		o.Now = c.Now
	}
	l := New(o)
	t.Cleanup(l.Close)
	return l, c
}

// try acquires and releases at once, reporting admission and the 429 if any.
func try(t *testing.T, l *Limiter, key string, lim Limits) (bool, *apierr.Error) {
	t.Helper()
	tk, err := l.Acquire(context.Background(), key, key, lim)
	if err != nil {
		e := apierr.As(err)
		if e == nil || e.Status != http.StatusTooManyRequests || e.Code != apierr.CodeRateLimitExceeded {
			t.Fatalf("Acquire error %v, want a 429 rate_limit_exceeded", err)
		}
		return false, e
	}
	tk.Release(0)
	return true, nil
}

func snap(l *Limiter, key string) (s struct{ RPM, RPH, TPM, InFlight, Queued int }, ok bool) {
	for _, k := range l.Snapshot() {
		if k.KeyID == key {
			s.RPM, s.RPH, s.TPM, s.InFlight, s.Queued = k.RPM, k.RPH, k.TPM, k.InFlight, k.Queued
			return s, true
		}
	}
	return s, false
}

func TestRPMWindowEdges(t *testing.T) {
	l, c := newLimiter(t, Options{})
	lim := Limits{RPM: 3}
	for i := range 3 {
		if ok, _ := try(t, l, "k", lim); !ok {
			t.Fatalf("request %d rejected", i)
		}
	}
	_, e := try(t, l, "k", lim)
	if e == nil || e.Header.Get("Retry-After") != "60" {
		t.Fatalf("4th: %v (Retry-After %q), want 429 Retry-After 60", e, e.Header.Get("Retry-After"))
	}
	if e.Header.Get(HeaderRemainingRequests) != "0" || e.Header.Get(HeaderLimitRequests) != "3" {
		t.Fatalf("429 headers %v", e.Header)
	}
	c.Set(59*time.Second + 999*time.Millisecond)
	if ok, e := try(t, l, "k", lim); ok || e.Header.Get("Retry-After") != "1" {
		t.Fatalf("at 59.999s: admitted=%v %v", ok, e)
	}
	c.Set(time.Minute)
	for i := range 3 {
		if ok, _ := try(t, l, "k", lim); !ok {
			t.Fatalf("at 60s request %d rejected", i)
		}
	}
}

// A fixed-window limiter lets 2x the limit through around a window boundary; a
// sliding window must not.
func TestNoDoubleBurstAtBoundary(t *testing.T) {
	l, c := newLimiter(t, Options{})
	lim := Limits{RPM: 10}
	c.Set(59*time.Second + 900*time.Millisecond)
	for range 10 {
		if ok, _ := try(t, l, "k", lim); !ok {
			t.Fatal("first burst rejected")
		}
	}
	c.Set(60*time.Second + 100*time.Millisecond) // a fixed minute window would reset here
	for range 10 {
		if ok, _ := try(t, l, "k", lim); ok {
			t.Fatal("second burst admitted right after the minute boundary")
		}
	}
	c.Set(119*time.Second + 900*time.Millisecond)
	if ok, _ := try(t, l, "k", lim); !ok {
		t.Fatal("not admitted once the first burst left the window")
	}
}

// Random arrivals over 10 minutes: no sliding 60s interval may hold more than the
// limit, and rejected requests must not eat capacity (a key that retries constantly
// still gets its full limit per minute).
func TestSlidingWindowProperty(t *testing.T) {
	l, c := newLimiter(t, Options{})
	lim := Limits{RPM: 20}
	r := rand.New(rand.NewPCG(1, 2))
	var admitted []time.Duration
	var now time.Duration
	for now < 10*time.Minute {
		now += time.Duration(r.IntN(2000)) * time.Millisecond
		c.Set(now)
		if ok, _ := try(t, l, "k", lim); ok {
			admitted = append(admitted, now)
		}
	}
	for i := range admitted {
		j := sort.Search(len(admitted), func(j int) bool { return admitted[j] >= admitted[i]+time.Minute })
		if n := j - i; n > lim.RPM {
			t.Fatalf("%d requests admitted in [%v, %v+1m)", n, admitted[i], admitted[i])
		}
	}
	// ~600 arrivals/10min at ~60/min offered vs 20/min allowed: close to 200 admitted.
	if len(admitted) < 180 {
		t.Fatalf("only %d admitted in 10 minutes at 20 RPM: rejections eat capacity?", len(admitted))
	}
}

func TestRejectedRequestsNotCharged(t *testing.T) {
	l, c := newLimiter(t, Options{})
	lim := Limits{RPM: 2, RPH: 100}
	try(t, l, "k", lim)
	try(t, l, "k", lim)
	c.Set(30 * time.Second)
	for range 50 {
		if ok, _ := try(t, l, "k", lim); ok {
			t.Fatal("over-limit request admitted")
		}
	}
	if s, _ := snap(l, "k"); s.RPM != 2 || s.RPH != 2 {
		t.Fatalf("rejections were charged: %+v", s)
	}
	c.Set(60 * time.Second)
	for range 2 {
		if ok, _ := try(t, l, "k", lim); !ok {
			t.Fatal("capacity not back after the window: rejections were charged")
		}
	}
}

func TestRPH(t *testing.T) {
	l, c := newLimiter(t, Options{})
	lim := Limits{RPH: 5}
	for i := range 5 {
		c.Set(time.Duration(i) * 10 * time.Minute)
		if ok, _ := try(t, l, "k", lim); !ok {
			t.Fatalf("request %d rejected", i)
		}
	}
	c.Set(55 * time.Minute)
	_, e := try(t, l, "k", lim)
	if e == nil || e.Header.Get("Retry-After") != "300" {
		t.Fatalf("6th: %v, want 429 with Retry-After 300", e)
	}
	if e.Header.Get(HeaderLimitRequests) != "5" {
		t.Fatalf("RPH-only key should report RPH in request headers: %v", e.Header)
	}
	c.Set(time.Hour)
	if ok, _ := try(t, l, "k", lim); !ok {
		t.Fatal("not admitted an hour after the first request")
	}
}

func TestTPM(t *testing.T) {
	l, c := newLimiter(t, Options{})
	lim := Limits{TPM: 100}
	tk, err := l.Acquire(context.Background(), "k", "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	tk.Release(60)
	c.Set(10 * time.Second)
	tk, err = l.Acquire(context.Background(), "k", "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	tk.SetHeaders(h)
	if h.Get(HeaderLimitTokens) != "100" || h.Get(HeaderRemainingTokens) != "40" || h.Get(HeaderResetTokens) != "50s" {
		t.Fatalf("token headers %v", h)
	}
	if h.Get(HeaderLimitRequests) != "" {
		t.Fatalf("no request limit, yet request headers: %v", h)
	}
	tk.Release(50)
	c.Set(20 * time.Second)
	_, e := try(t, l, "k", lim)
	if e == nil || e.Header.Get("Retry-After") != "40" { // the 60 tokens leave at 60s
		t.Fatalf("over TPM: %v, want 429 Retry-After 40", e)
	}
	c.Set(60 * time.Second)
	if ok, _ := try(t, l, "k", lim); !ok {
		t.Fatal("not admitted after the first 60 tokens left the window")
	}
	if s, _ := snap(l, "k"); s.TPM != 50 {
		t.Fatalf("tpm used = %d, want 50", s.TPM)
	}
}

func TestRequestHeaders(t *testing.T) {
	l, c := newLimiter(t, Options{})
	lim := Limits{RPM: 10, RPH: 1000}
	try(t, l, "k", lim)
	c.Set(1500 * time.Millisecond)
	tk, err := l.Acquire(context.Background(), "k", "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Release(0)
	h := http.Header{}
	tk.SetHeaders(h)
	want := map[string]string{HeaderLimitRequests: "10", HeaderRemainingRequests: "8", HeaderResetRequests: "1m0s"}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if h.Get(HeaderLimitTokens) != "" {
		t.Errorf("token headers without a TPM limit: %v", h)
	}
	h = http.Header{}
	if tk2, _ := l.Acquire(context.Background(), "other", "other", Limits{Concurrent: 5}); tk2 != nil {
		tk2.SetHeaders(h)
		tk2.Release(0)
	}
	if len(h) != 0 {
		t.Errorf("headers for a key without request/token limits: %v", h)
	}
}

func TestQueueZeroRejectsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := newLimiter(t, Options{Queue: 0, QueueTimeout: time.Minute})
		lim := Limits{Concurrent: 1}
		tk, err := l.Acquire(context.Background(), "k", "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = l.Acquire(context.Background(), "k", "k", lim)
		e := apierr.As(err)
		// On synctest's clock "at once" is exactly zero: queueing would have waited.
		if e == nil || e.Status != 429 || e.Header.Get("Retry-After") != "1" || time.Since(start) != 0 {
			t.Fatalf("second: %v after %v", err, time.Since(start))
		}
		if s, _ := snap(l, "k"); s.RPM != 1 {
			t.Fatalf("rejected request charged: rpm=%d", s.RPM)
		}
		tk.Release(0)
		tk.Release(0) // idempotent: must not free a second slot
		a, err := l.Acquire(context.Background(), "k", "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Release(0)
		if _, err := l.Acquire(context.Background(), "k", "k", lim); err == nil {
			t.Fatal("double Release freed two slots")
		}
	})
}

func waitQueued(t *testing.T, l *Limiter, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s, _ := snap(l, key); s.Queued == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("queue never reached %d", n)
}

func TestQueueFIFOAndFull(t *testing.T) {
	l, _ := newLimiter(t, Options{Queue: 3, QueueTimeout: 10 * time.Second})
	lim := Limits{Concurrent: 1, RPM: 100}
	first, err := l.Acquire(context.Background(), "k", "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk, err := l.Acquire(context.Background(), "k", "k", lim)
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			time.Sleep(2 * time.Millisecond)
			tk.Release(0)
		}()
		waitQueued(t, l, "k", i+1)
	}
	_, err = l.Acquire(context.Background(), "k", "k", lim)
	if e := apierr.As(err); e == nil || e.Status != 429 {
		t.Fatalf("queue full: %v, want 429", err)
	}
	if s, _ := snap(l, "k"); s.RPM != 1 || s.InFlight != 1 {
		t.Fatalf("queued requests charged before admission: %+v", s)
	}
	first.Release(0)
	wg.Wait()
	close(order)
	var got []int
	for i := range order {
		got = append(got, i)
	}
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("admission order %v, want FIFO [0 1 2]", got)
	}
	if s, _ := snap(l, "k"); s.RPM != 4 || s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("after drain: %+v (each admitted request counted once)", s)
	}
}

func TestQueueCountsAgainstWindows(t *testing.T) {
	// synctest's clock: "at once" is exactly zero elapsed, and waiting is free.
	synctest.Test(t, func(t *testing.T) {
		l, _ := newLimiter(t, Options{Queue: 5, QueueTimeout: 10 * time.Second})
		lim := Limits{Concurrent: 1, RPM: 2}
		a, _ := l.Acquire(context.Background(), "k", "k", lim)
		got := make(chan error, 1)
		go func() {
			tk, err := l.Acquire(context.Background(), "k", "k", lim)
			if tk != nil {
				defer tk.Release(0)
			}
			got <- err
		}()
		waitQueued(t, l, "k", 1)
		// 1 admitted + 1 queued = the RPM limit: a third must be refused at once, not queued.
		start := time.Now()
		_, err := l.Acquire(context.Background(), "k", "k", lim)
		if e := apierr.As(err); e == nil || !strings.Contains(e.Message, "RPM") || time.Since(start) != 0 {
			t.Fatalf("third request: %v after %v, want an immediate RPM 429", err, time.Since(start))
		}
		a.Release(0)
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	})
}

func TestQueueTimeout(t *testing.T) {
	l, _ := newLimiter(t, Options{Queue: 2, QueueTimeout: 30 * time.Millisecond})
	lim := Limits{Concurrent: 1}
	tk, _ := l.Acquire(context.Background(), "k", "k", lim)
	defer tk.Release(0)
	start := time.Now()
	_, err := l.Acquire(context.Background(), "k", "k", lim)
	e := apierr.As(err)
	if e == nil || e.Status != 429 || e.Header.Get("Retry-After") == "" {
		t.Fatalf("timed out: %v, want 429 with Retry-After", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("gave up after %v, before the queue timeout", d)
	}
	if s, _ := snap(l, "k"); s.Queued != 0 || s.RPM != 1 || s.InFlight != 1 {
		t.Fatalf("after timeout: %+v", s)
	}
}

func TestCancelWhileQueuedFreesPlace(t *testing.T) {
	l, _ := newLimiter(t, Options{Queue: 1, QueueTimeout: time.Minute})
	lim := Limits{Concurrent: 1}
	tk, _ := l.Acquire(context.Background(), "k", "k", lim)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx, "k", "k", lim)
		got <- err
	}()
	waitQueued(t, l, "k", 1)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	if s, _ := snap(l, "k"); s.Queued != 0 || s.RPM != 1 {
		t.Fatalf("after cancel: %+v", s)
	}
	tk.Release(0)
	next, err := l.Acquire(context.Background(), "k", "k", lim)
	if err != nil {
		t.Fatalf("slot not free after release: %v", err)
	}
	next.Release(0)
	if s, _ := snap(l, "k"); s.InFlight != 0 {
		t.Fatalf("in flight = %d", s.InFlight)
	}
}

func TestOneKeyDoesNotDelayAnother(t *testing.T) {
	l, _ := newLimiter(t, Options{Queue: 10, QueueTimeout: time.Minute})
	lim := Limits{Concurrent: 1}
	a, _ := l.Acquire(context.Background(), "a", "a", lim)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = l.Acquire(ctx, "a", "a", lim)
		}()
	}
	waitQueued(t, l, "a", 5)
	// b is admitted while a's five waiters are all still queued (none can leave before
	// a's slot frees), so b did not wait behind them: an order of events, not a timing.
	b, err := l.Acquire(context.Background(), "b", "b", lim)
	if err != nil {
		t.Fatalf("key b: %v", err)
	}
	if s, _ := snap(l, "a"); s.Queued != 5 {
		t.Fatalf("key a's queue moved (%d waiting) before b was admitted", s.Queued)
	}
	b.Release(0)
	cancel()
	wg.Wait()
	a.Release(0)
}

// Many clients with random deadlines race grants against cancellation: every
// admitted request is charged exactly once and no slot leaks.
func TestQueueStressCountsOnceAndNoLeak(t *testing.T) {
	l, _ := newLimiter(t, Options{Queue: 1000, QueueTimeout: time.Second})
	lim := Limits{Concurrent: 2, RPM: 100000}
	var admitted, maxIn, in atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*time.Millisecond)
			defer cancel()
			tk, err := l.Acquire(ctx, "k", "k", lim)
			if err != nil {
				return
			}
			admitted.Add(1)
			n := in.Add(1)
			for {
				m := maxIn.Load()
				if n <= m || maxIn.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(100 * time.Microsecond)
			in.Add(-1)
			tk.Release(1)
		}()
	}
	wg.Wait()
	s, _ := snap(l, "k")
	if s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("leak: %+v", s)
	}
	if int64(s.RPM) != admitted.Load() || int64(s.TPM) != admitted.Load() {
		t.Fatalf("rpm=%d tpm=%d, admitted %d", s.RPM, s.TPM, admitted.Load())
	}
	if maxIn.Load() > 2 {
		t.Fatalf("%d in flight at once, limit 2", maxIn.Load())
	}
}

func TestEvictIdleKeys(t *testing.T) {
	l, c := newLimiter(t, Options{IdleEvict: 10 * time.Minute})
	try(t, l, "rpm", Limits{RPM: 10})
	try(t, l, "rph", Limits{RPH: 10})
	try(t, l, "none", Limits{})
	busy, _ := l.Acquire(context.Background(), "busy", "busy", Limits{Concurrent: 1})
	c.Set(5 * time.Minute)
	if n := l.evict(); n != 0 {
		t.Fatalf("evicted %d keys before IdleEvict", n)
	}
	c.Set(11 * time.Minute)
	if n := l.evict(); n != 2 {
		t.Fatalf("evicted %d keys at 11m, want 2 (rpm, none)", n)
	}
	if _, ok := snap(l, "rph"); !ok {
		t.Fatal("rph key evicted while its hour window still counts")
	}
	c.Set(61 * time.Minute)
	if n := l.evict(); n != 1 {
		t.Fatalf("evicted %d keys at 61m, want 1 (rph)", n)
	}
	if ks := l.Snapshot(); len(ks) != 1 || ks[0].KeyID != "busy" {
		t.Fatalf("left %v, want only the key with a request in flight", ks)
	}
	busy.Release(0)
	// An evicted key starts fresh and works.
	if ok, _ := try(t, l, "rpm", Limits{RPM: 1}); !ok {
		t.Fatal("evicted key not re-created")
	}
}

func TestSnapshot(t *testing.T) {
	l, _ := newLimiter(t, Options{})
	tk, _ := l.Acquire(context.Background(), "key_b", "beta", Limits{RPM: 5, RPH: 50, TPM: 1000, Concurrent: 3})
	try(t, l, "key_a", Limits{RPM: 7})
	ks := l.Snapshot()
	if len(ks) != 2 || ks[0].KeyName != "beta" || ks[1].KeyName != "key_a" {
		t.Fatalf("order %+v, want by name", ks)
	}
	b := ks[0]
	if b.KeyID != "key_b" || b.RPM != 1 || b.RPMLimit != 5 || b.RPHLimit != 50 || b.TPMLimit != 1000 ||
		b.InFlight != 1 || b.Concurrent != 3 {
		t.Fatalf("snapshot %+v", b)
	}
	tk.Release(0)
}

func TestWindowRingWraps(t *testing.T) {
	w := newWindow(int64(time.Minute), int64(25*time.Millisecond))
	now := base.UnixNano()
	for i := range 10000 { // far more buckets than fit at once: expire keeps it bounded
		now += int64(50 * time.Millisecond)
		w.expire(now)
		w.add(now, 1)
		if i > 2000 && w.total != 1200 {
			t.Fatalf("step %d total %d, want 1200 (one per 50ms over 60s)", i, w.total)
		}
	}
	if len(w.ring) > 2048 {
		t.Fatalf("ring grew to %d", len(w.ring))
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	l := New(Options{Queue: 100, QueueTimeout: time.Second})
	defer l.Close()
	lim := Limits{RPM: 1 << 30, RPH: 1 << 30, TPM: 1 << 30, Concurrent: 10}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tk, err := l.Acquire(ctx, "key_bench", "bench", lim)
		if err != nil {
			b.Fatal(err)
		}
		tk.Release(10)
	}
}

func BenchmarkAcquireReleaseParallel(b *testing.B) {
	for _, shared := range []bool{false, true} {
		name := "distinct-keys"
		if shared {
			name = "one-key"
		}
		b.Run(name, func(b *testing.B) {
			l := New(Options{Queue: 1000, QueueTimeout: time.Second})
			defer l.Close()
			lim := Limits{RPM: 1 << 30, RPH: 1 << 30, TPM: 1 << 30, Concurrent: 64}
			var n atomic.Int64
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 goroutines
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				key := "key_shared"
				if !shared {
					key = fmt.Sprintf("key_%d", n.Add(1))
				}
				ctx := context.Background()
				for pb.Next() {
					tk, err := l.Acquire(ctx, key, key, lim)
					if err != nil {
						b.Error(err)
						return
					}
					tk.Release(10)
				}
			})
		})
	}
}
