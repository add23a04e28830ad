package resilience

import (
	"context"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
)

func BenchmarkExecuteSuccess(b *testing.B) {
	a := newFake("a")
	x := New(Options{}, []provider.Provider{a})
	tg := targets(a, newFake("b"))
	resp := &provider.Response{Body: []byte("{}")}
	attempt := func(context.Context, provider.Target) (*provider.Response, error) { return resp, nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Execute(ctx, "r", tg, attempt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecuteSuccessParallel(b *testing.B) {
	a := newFake("a")
	x := New(Options{Policy: PolicyLatency}, []provider.Provider{a})
	tg := targets(a, newFake("b"))
	resp := &provider.Response{Body: []byte("{}")}
	attempt := func(context.Context, provider.Target) (*provider.Response, error) { return resp, nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := x.Execute(context.Background(), "r", tg, attempt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkExecuteAllOpen is the cost of refusing a request whose every provider has
// an open breaker (TestAllOpenFailsFast checks that no call reaches the network).
func BenchmarkExecuteAllOpen(b *testing.B) {
	ps := []provider.Provider{newFake("a", step{err: netErr()}), newFake("b", step{err: netErr()})}
	x := New(Options{FailureThreshold: 1}, ps)
	tg := targets(ps...)
	_, _ = x.Execute(context.Background(), "r", tg, do)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Execute(context.Background(), "r", tg, do); err == nil {
			b.Fatal("want error")
		}
	}
}
