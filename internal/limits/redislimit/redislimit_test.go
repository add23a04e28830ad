package redislimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/limits"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// redisURL returns RUNESTONE_TEST_REDIS_URL or skips (fails when
// RUNESTONE_REQUIRE_SCALEOUT is set, as in CI).
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("RUNESTONE_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("RUNESTONE_REQUIRE_SCALEOUT") != "" {
			t.Fatal("RUNESTONE_REQUIRE_SCALEOUT is set but RUNESTONE_TEST_REDIS_URL is not: start Redis (scripts/scaleout-services.sh)")
		}
		t.Skip("Redis test skipped: set RUNESTONE_TEST_REDIS_URL (source scripts/scaleout-services.sh) to run it")
	}
	return u
}

func prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "rstest:" + hex.EncodeToString(b) + ":"
}

func newLimiter(t testing.TB, o Options) *Limiter {
	t.Helper()
	if o.URL == "" {
		o.URL = redisURL(t)
	}
	if o.Prefix == "" {
		o.Prefix = prefix()
	}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func TestRPMSharedAcrossReplicas(t *testing.T) {
	p := prefix()
	a, b := newLimiter(t, Options{Prefix: p}), newLimiter(t, Options{Prefix: p})
	lim := limits.Limits{RPM: 5}
	ok := 0
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		ad, err := l.Admit(context.Background(), "k1", "one", lim)
		if err == nil {
			ok++
			h := http.Header{}
			ad.SetHeaders(h)
			ad.Release(0)
			continue
		}
		e := apierr.As(err)
		if e == nil || e.Status != 429 || e.Header.Get("Retry-After") == "" {
			t.Fatalf("want a 429 with Retry-After, got %v", err)
		}
	}
	if ok != 5 {
		t.Fatalf("%d admitted, want 5", ok)
	}
}

func TestConcurrencyLeasesAndQueue(t *testing.T) {
	p := prefix()
	a := newLimiter(t, Options{Prefix: p, Queue: 10, QueueTimeout: 5 * time.Second})
	b := newLimiter(t, Options{Prefix: p, Queue: 10, QueueTimeout: 5 * time.Second})
	lim := limits.Limits{Concurrent: 2}
	var inFlight, peak atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ad, err := l.Admit(context.Background(), "k", "k", lim)
			if err != nil {
				t.Error(err)
				return
			}
			n := inFlight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(15 * time.Millisecond)
			inFlight.Add(-1)
			ad.Release(1)
		}()
	}
	wg.Wait()
	if peak.Load() > 2 {
		t.Fatalf("peak in flight %d, want <= 2", peak.Load())
	}
}

func TestDeadReplicaLeasesExpire(t *testing.T) {
	p := prefix()
	dead := newLimiter(t, Options{Prefix: p, LeaseTTL: 300 * time.Millisecond})
	lim := limits.Limits{Concurrent: 1}
	if _, err := dead.Admit(context.Background(), "k", "k", lim); err != nil {
		t.Fatal(err)
	}
	dead.Close() // the replica dies holding its lease: nothing refreshes or releases it
	live := newLimiter(t, Options{Prefix: p, LeaseTTL: 300 * time.Millisecond})
	if _, err := live.Admit(context.Background(), "k", "k", lim); err == nil {
		t.Fatal("admitted while the dead replica's lease is still valid")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		ad, err := live.Admit(context.Background(), "k", "k", lim)
		if err == nil {
			ad.Release(0)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lease of the dead replica never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHeldLeaseIsRefreshed(t *testing.T) {
	p := prefix()
	a := newLimiter(t, Options{Prefix: p, LeaseTTL: 200 * time.Millisecond})
	lim := limits.Limits{Concurrent: 1}
	ad, err := a.Admit(context.Background(), "k", "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // three TTLs: only refreshes keep it alive
	if _, err := a.Admit(context.Background(), "k", "k", lim); err == nil {
		t.Fatal("a held lease expired")
	}
	ad.Release(0)
	if ad2, err := a.Admit(context.Background(), "k", "k", lim); err != nil {
		t.Fatal(err)
	} else {
		ad2.Release(0)
	}
}

func TestTPMFromReleases(t *testing.T) {
	a := newLimiter(t, Options{})
	lim := limits.Limits{TPM: 100}
	ad, err := a.Admit(context.Background(), "k", "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	ad.Release(150)
	_, err = a.Admit(context.Background(), "k", "k", lim)
	if e := apierr.As(err); e == nil || e.Status != 429 {
		t.Fatalf("want TPM 429, got %v", err)
	}
	if s := a.Snapshot(); len(s) != 1 || s[0].TPM != 150 {
		t.Fatalf("snapshot %+v", s)
	}
}

// TPM reads the seconds before the current one from a per-second cache: tokens booked
// in the current second after the cache was filled still count, a cache of another
// second is ignored, and buckets older than a minute neither count nor stay.
func TestTPMCachedPastSeconds(t *testing.T) {
	p := prefix()
	a, b := newLimiter(t, Options{Prefix: p}), newLimiter(t, Options{Prefix: p})
	ctx := context.Background()
	now, err := a.Client().Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	k := a.names("k")
	sec := now.Unix()
	if err := a.Client().HSet(ctx, k.tpm, sec-30, 200, sec-70, 500).Err(); err != nil {
		t.Fatal(err)
	}
	// A cache left from an earlier second must not be trusted (it would undercount).
	if err := a.Client().Set(ctx, k.tpmc, fmt.Sprintf("%d:0", sec-1), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	lim := limits.Limits{TPM: 250}
	remaining := func(ad limits.Admission) string {
		h := http.Header{}
		ad.SetHeaders(h)
		return h.Get(limits.HeaderRemainingTokens)
	}
	ad, err := a.Admit(ctx, "k", "k", lim)
	if err != nil {
		t.Fatalf("200 of 250 tokens used: %v", err)
	}
	if r := remaining(ad); r != "50" {
		t.Fatalf("remaining tokens %s, want 50", r)
	}
	ad.Release(40)
	ad, err = b.Admit(ctx, "k", "k", lim)
	if err != nil {
		t.Fatalf("240 of 250 tokens used: %v", err)
	}
	if r := remaining(ad); r != "10" {
		t.Fatalf("remaining tokens %s, want 10 (the current second's tokens counted)", r)
	}
	ad.Release(20)
	_, err = a.Admit(ctx, "k", "k", lim)
	if e := apierr.As(err); e == nil || e.Status != 429 || !strings.Contains(e.Message, "tokens per min") {
		t.Fatalf("260 of 250 tokens used: want TPM 429, got %v", err)
	}
	if n, _ := a.Client().HExists(ctx, k.tpm, strconv.FormatInt(sec-70, 10)).Result(); n {
		t.Fatal("a bucket older than a minute was kept")
	}
}

func TestSpendShared(t *testing.T) {
	p := prefix()
	a, b := newLimiter(t, Options{Prefix: p}), newLimiter(t, Options{Prefix: p})
	if err := a.Spend().Seed(context.Background(), map[budget.Account]float64{{Key: "k"}: 1}); err != nil {
		t.Fatal(err)
	}
	_ = b.Spend().Seed(context.Background(), map[budget.Account]float64{{Key: "k"}: 5}) // already seeded: kept
	ctx := context.Background()
	a.Spend().Add(ctx, "k", budget.None, time.Now(), 0.25)
	b.Spend().Add(ctx, "k", budget.None, time.Now(), 0.5)
	// One MGET reads every key; a key Redis does not hold reads as 0.
	if got := b.Spend().Spent(ctx, []budget.Account{{Key: "k"}, {Key: "unseen"}}); got[0] != 1.75 || got[1] != 0 {
		t.Fatalf("spent %v, want [1.75 0]", got)
	}
	// The admission script checks the budget in the same round trip.
	over, under := 1.75, 2.0
	_, err := a.Admit(context.Background(), "k", "k", limits.Limits{Budget: &over})
	if e := apierr.As(err); e == nil || e.Code != apierr.CodeInsufficientQuota {
		t.Fatalf("spent budget: want 429 insufficient_quota, got %v", err)
	}
	ad, err := b.Admit(context.Background(), "k", "k", limits.Limits{Budget: &under})
	if err != nil {
		t.Fatal(err)
	}
	ad.Release(0)
}

// A monthly budget is checked against the month's own Redis total, which expires a day
// after the month ends; the lifetime total keeps growing alongside, and the next month
// starts from 0.
func TestSpendPerPeriod(t *testing.T) {
	p := prefix()
	a, b := newLimiter(t, Options{Prefix: p}), newLimiter(t, Options{Prefix: p})
	ctx := context.Background()
	nov := time.Date(futureYear(), 11, 17, 8, 0, 0, 0, time.UTC)
	dec := time.Date(futureYear(), 12, 1, 0, 0, 0, 0, time.UTC)
	a.Spend().Add(ctx, "k", budget.Month, nov, 3)
	b.Spend().Add(ctx, "k", budget.Month, nov, 2)
	novA, decA := budget.For("k", budget.Month, nov), budget.For("k", budget.Month, dec)
	if got := b.Spend().Spent(ctx, []budget.Account{{Key: "k"}, novA, decA}); got[0] != 5 || got[1] != 5 || got[2] != 0 {
		t.Fatalf("spent %v, want [5 5 0]", got)
	}
	ttl, err := a.Client().PExpireTime(ctx, a.spendName(novA)).Result()
	if err != nil {
		t.Skipf("PEXPIRETIME needs Redis 7: %v", err)
	}
	if want := time.Date(futureYear(), 12, 2, 0, 0, 0, 0, time.UTC); ttl != time.Duration(want.UnixMilli())*time.Millisecond {
		t.Fatalf("november's total expires at %v, want %v", time.UnixMilli(ttl.Milliseconds()).UTC(), want)
	}
	five := 5.0
	lim := limits.Limits{Budget: &five, BudgetPeriod: budget.Month, BudgetStart: novA.Start}
	_, err = a.Admit(ctx, "k", "k", lim)
	e := apierr.As(err)
	if e == nil || e.Code != apierr.CodeInsufficientQuota ||
		!strings.Contains(e.Message, fmt.Sprintf("spent $5.00 of $5.00 for November %d; it resets on %d-12-01 00:00 UTC", nov.Year(), nov.Year())) ||
		!strings.Contains(e.Message, "keys update k --budget USD") {
		t.Fatalf("november at its budget: got %v", err)
	}
	lim.BudgetStart = decA.Start
	ad, err := b.Admit(ctx, "k", "k", lim)
	if err != nil {
		t.Fatalf("december starts from 0: %v", err)
	}
	ad.Release(0)
}

// An unreachable Redis: fail-closed answers 503, fail-open admits without limits.
func TestRedisDownFailureModes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	closed := newLimiter(t, Options{URL: "redis://" + addr})
	_, err = closed.Admit(context.Background(), "k", "k", limits.Limits{RPM: 1})
	if e := apierr.As(err); e == nil || e.Status != 503 || e.Code != apierr.CodeLimiterUnavailable {
		t.Fatalf("fail-closed: want 503 limiter_unavailable, got %v", err)
	}
	open := newLimiter(t, Options{URL: "redis://" + addr, OnError: FailOpen})
	for range 3 {
		ad, err := open.Admit(context.Background(), "k", "k", limits.Limits{RPM: 1})
		if err != nil {
			t.Fatalf("fail-open: %v", err)
		}
		ad.Release(0)
	}
	if open.Healthy() {
		t.Fatal("reported healthy while Redis is down")
	}
}

// Spend booked while the replica holds a lease of the key rides the key's next
// release (the gateway books a request's cost just before freeing its slot): once
// that release returns, every replica sees the spend, in the period's total too, and
// the budget check refuses on it.
func TestSpendRidesRelease(t *testing.T) {
	p := prefix()
	a, b := newLimiter(t, Options{Prefix: p}), newLimiter(t, Options{Prefix: p})
	ctx := context.Background()
	nov := time.Date(futureYear(), 11, 17, 8, 0, 0, 0, time.UTC)
	novA := budget.For("k", budget.Month, nov)
	two := 2.0
	lim := limits.Limits{Concurrent: 5, Budget: &two}
	t1, err := a.Admit(ctx, "k", "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := a.Admit(ctx, "k", "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	a.Spend().Add(ctx, "k", budget.Month, nov, 0.5)
	a.Spend().Add(ctx, "k", budget.None, nov, 0.25)
	a.Spend().Add(ctx, "k", budget.Month, nov, 0.75)
	t1.Release(10) // carries all three
	if got := b.Spend().Spent(ctx, []budget.Account{{Key: "k"}, novA}); got[0] != 1.5 || got[1] != 1.25 {
		t.Fatalf("after the release: spent %v, want [1.5 1.25]", got)
	}
	ttl, err := a.Client().PExpireTime(ctx, a.spendName(novA)).Result()
	if err == nil && ttl != time.Duration(time.Date(futureYear(), 12, 2, 0, 0, 0, 0, time.UTC).UnixMilli())*time.Millisecond {
		t.Fatalf("november's total expires at %v", time.UnixMilli(ttl.Milliseconds()).UTC())
	}
	a.Spend().Add(ctx, "k", budget.None, nov, 0.5) // t2 still held: rides its release
	t2.Release(0)
	if got := b.Spend().Spent(ctx, []budget.Account{{Key: "k"}}); got[0] != 2 {
		t.Fatalf("after the second release: spent %v, want [2]", got)
	}
	if _, err := b.Admit(ctx, "k", "k", lim); apierr.As(err) == nil || apierr.As(err).Code != apierr.CodeInsufficientQuota {
		t.Fatalf("budget spent on the other replica: want insufficient_quota, got %v", err)
	}
	// No lease held: Add books at once.
	a.Spend().Add(ctx, "k", budget.None, nov, 1)
	if got := b.Spend().Spent(ctx, []budget.Account{{Key: "k"}}); got[0] != 3 {
		t.Fatalf("without a lease: spent %v, want [3]", got)
	}
	if n, _ := a.Client().ZCard(ctx, a.names("k").lease).Result(); n != 0 {
		t.Fatalf("%d leases left after both releases", n)
	}
}

// Warm loads every script (as after a Redis restart emptied the script cache), so
// the first admission runs EVALSHA without a NOSCRIPT round trip and a compile.
func TestWarmLoadsScripts(t *testing.T) {
	l := newLimiter(t, Options{})
	ctx := context.Background()
	if err := l.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	hashes := make([]string, len(scripts))
	for i, s := range scripts {
		hashes[i] = s.Hash()
	}
	got, err := l.rdb.ScriptExists(ctx, hashes...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range got {
		if !ok {
			t.Errorf("script %d not loaded by Warm", i)
		}
	}
	// Unreachable Redis: Warm says so, and New still succeeded (lazy, like an outage).
	down := newLimiter(t, Options{URL: "redis://127.0.0.1:1"})
	if err := down.Warm(ctx); err == nil {
		t.Error("Warm against an unreachable Redis returned no error")
	}
}

// futureYear is next year: a period's Redis total expires a day after the period ends,
// so a test booking into a fixed month fails once that month is over (these did, on
// 2026-12-02). Next year's November is always ahead of the clock.
func futureYear() int { return time.Now().UTC().Year() + 1 }
