package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/resilience"
	"github.com/jmanhype/runestone/internal/router"
)

// canned is an in-process upstream: it answers instantly with fixed bytes, so the
// benchmarks measure only what the gateway adds.
type canned struct {
	body   []byte
	chunks [][]byte
}

func (c *canned) Name() string     { return "canned" }
func (c *canned) Kind() string     { return "openai" }
func (c *canned) Models() []string { return []string{"gpt-4o-mini"} }
func (c *canned) Do(_ context.Context, call *provider.Call) (*provider.Response, error) {
	if call.Stream {
		return &provider.Response{Stream: &cannedStream{chunks: c.chunks}}, nil
	}
	return &provider.Response{Body: c.body, Usage: provider.Usage{PromptTokens: 9, CompletionTokens: 12, Reported: true}}, nil
}

type cannedStream struct {
	chunks [][]byte
	i      int
}

func (s *cannedStream) Next() ([]byte, error) {
	if s.i >= len(s.chunks) {
		return nil, io.EOF
	}
	s.i++
	return s.chunks[s.i-1], nil
}
func (s *cannedStream) Usage() provider.Usage {
	return provider.Usage{PromptTokens: 9, CompletionTokens: len(s.chunks), Reported: true}
}
func (s *cannedStream) Close() error { return nil }

var (
	benchBody  = []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}`)
	benchChunk = []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}]}`)
	benchReq   = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there, how are you?"}]}`
)

func benchGateway(chunks int) *Gateway {
	c := &canned{body: benchBody}
	for i := 0; i < chunks; i++ {
		c.chunks = append(c.chunks, benchChunk)
	}
	ps := []provider.Provider{c}
	return New(Options{Router: router.New(ps, nil), Executor: resilience.New(resilience.Options{Retries: 2}, ps)})
}

// discard is a ResponseWriter that keeps nothing, so the benchmark measures the gateway.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

func BenchmarkNonStreamRelay(b *testing.B) {
	h := benchGateway(0).Handler()
	body := []byte(benchReq)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body))
		req.Host = "127.0.0.1" // httptest's example.com is refused by the Host allow-list
		req.Header.Set("Content-Type", "application/json")
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, req)
	}
}

// BenchmarkStreamRelay relays a 100-event stream per op; per-event cost is ns/op / 100.
func BenchmarkStreamRelay(b *testing.B) {
	h := benchGateway(100).Handler()
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body))
		req.Host = "127.0.0.1" // httptest's example.com is refused by the Host allow-list
		req.Header.Set("Content-Type", "application/json")
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, req)
	}
}

func BenchmarkInspect(b *testing.B) {
	body := []byte(benchReq)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inspect(body, provider.Chat); err != nil {
			b.Fatal(err)
		}
	}
}
