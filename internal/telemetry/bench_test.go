package telemetry

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkRequestPath is the tracing work done on a request's own goroutine (server
// span, one attempt span, End with attributes and the GenAI metrics), with the
// export itself replaced by a no-op: what remains of BenchmarkTelemetry in
// internal/gateway is the batch exporter's background work.
func BenchmarkRequestPath(b *testing.B) {
	tel, err := New(context.Background(), Options{Config: testConfig(), spanExporter: tracetest.NewNoopExporter()})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	body := []byte(`{"model":"gpt-4o-mini","temperature":0.7,"messages":[{"role":"user","content":"Hello"}]}`)
	resp := []byte(`{"id":"chatcmpl-1","model":"gpt-4o-mini","choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		s := tel.StartRequest(r, OpChat)
		_, end := s.Attempt(r.Context(), "openai", "openai", "gpt-4o-mini")
		end(nil)
		s.End(Record{RequestModel: "gpt-4o-mini", Provider: "openai", Status: 200, InputTokens: 9, OutputTokens: 12,
			Attempts: 1, KeyName: "dev", RequestBody: body, ResponseBody: resp, TTFT: time.Millisecond})
	}
}

// BenchmarkPeekChunk is the per-event cost of tracing a stream (a typical content chunk).
func BenchmarkPeekChunk(b *testing.B) {
	tel, err := New(context.Background(), Options{Config: testConfig(), spanExporter: tracetest.NewNoopExporter()})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	s := tel.StartRequest(httptest.NewRequest("POST", "/v1/chat/completions", nil), OpChat)
	chunk := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}]}`)
	s.PeekChunk(chunk)
	b.ReportAllocs()
	for b.Loop() {
		s.PeekChunk(chunk)
	}
}
