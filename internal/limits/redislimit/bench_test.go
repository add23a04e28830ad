package redislimit

import (
	"context"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/testutil"
)

// benchLimits make every check do real work (windows, lease) without ever refusing.
var benchLimits = limits.Limits{RPM: 10_000_000, TPM: 1_000_000_000, Concurrent: 1_000_000}

// BenchmarkAdmitRelease is one request's limiter traffic as the gateway makes it:
// admit, book spend, release with tokens; many requests at once (RunParallel, with
// SetParallelism(16) goroutines per CPU), reporting this process's CPU per request
// besides the wall time. The memory case is the in-process limiter,
// the yardstick for the Redis one.
func BenchmarkAdmitRelease(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		l := limits.New(limits.Options{})
		defer l.Close()
		run(b, l, nil)
	})
	b.Run("redis", func(b *testing.B) {
		l := newLimiter(b, Options{})
		run(b, l, l.Spend())
	})
}

func run(b *testing.B, l limits.Admitter, sp *Spend) {
	ctx := context.Background()
	// The first admission loads the scripts: not part of the steady state.
	if a, err := l.Admit(ctx, "bench", "bench", benchLimits); err == nil {
		a.Release(1)
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	cpu0 := testutil.ProcessCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a, err := l.Admit(ctx, "bench", "bench", benchLimits)
			if err != nil {
				b.Error(err)
				return
			}
			if sp != nil {
				sp.Add(ctx, "bench", budget.None, time.Now(), 0.0001)
			}
			a.Release(10)
		}
	})
	// The client's own CPU per request (the benchmark's ns/op is bound by Redis's
	// when both share the machine's cores).
	b.ReportMetric(float64((testutil.ProcessCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
