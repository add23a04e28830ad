package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/metrics"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/reqlog"
	"github.com/jmanhype/runestone/internal/resilience"
	"github.com/jmanhype/runestone/internal/router"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/usage"
)

// allOnGateway has what `runestone serve` turns on by default: limiter, pricing,
// token estimates, metrics, the event bus (no subscriber), and the SQLite request
// log with body capture. The log writer's own work runs on its goroutine and is
// counted too (allocs/op include it).
func allOnGateway(b *testing.B, chunks int) *Gateway {
	c := &canned{body: benchBody}
	for i := 0; i < chunks; i++ {
		c.chunks = append(c.chunks, benchChunk)
	}
	ps := []provider.Provider{c}
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	w := reqlog.New(reqlog.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	lim := limits.New(limits.Options{})
	b.Cleanup(func() {
		lim.Close()
		_ = w.Close(context.Background())
		_ = st.Close()
	})
	return New(Options{Router: router.New(ps, nil),
		Executor: resilience.New(resilience.Options{Retries: 2, OnAttempt: func(events.Attempt) {}}, ps),
		Limiter:  lim, Pricer: usage.NewPricer(nil, slog.New(slog.DiscardHandler)),
		Tokens: usage.NewEstimator(), Metrics: metrics.New(), Bus: events.NewBus(), Log: w,
		CaptureBodies: true, MaxBodyCapture: 64 << 10, Logger: slog.New(slog.DiscardHandler)})
}

func benchAllOn(b *testing.B, chunks int, body string) {
	h := allOnGateway(b, chunks).Handler()
	req := []byte(body)
	b.ReportAllocs()
	for b.Loop() {
		r := benchRequest("/v1/chat/completions", req)
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, r)
	}
}

// BenchmarkNonStreamRelayAllOn is BenchmarkNonStreamRelay with the default features on.
func BenchmarkNonStreamRelayAllOn(b *testing.B) { benchAllOn(b, 0, benchReq) }

// BenchmarkStreamRelayAllOn is BenchmarkStreamRelay with the default features on.
func BenchmarkStreamRelayAllOn(b *testing.B) {
	benchAllOn(b, 100, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}`)
}
