package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/reqlog"
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

// benchRequest is a JSON POST from a loopback client, as the gateway accepts it.
func benchRequest(path string, body []byte) *http.Request {
	r := httptest.NewRequest("POST", path, bytes.NewReader(body))
	r.Host = "127.0.0.1:4001"
	r.Header.Set("Content-Type", "application/json")
	return r
}

// discard is a ResponseWriter that keeps nothing, so the benchmark measures the gateway.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

// SetReadDeadline succeeds as on a real connection: without it the gateway's
// deadline calls fail with a formatted error and the benchmark counts allocations
// a served request never makes.
func (d *discard) SetReadDeadline(time.Time) error { return nil }

func BenchmarkNonStreamRelay(b *testing.B) {
	h := benchGateway(0).Handler()
	body := []byte(benchReq)
	b.ReportAllocs()
	for b.Loop() {
		req := benchRequest("/v1/chat/completions", body)
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
		req := benchRequest("/v1/chat/completions", body)
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

// nativeCanned speaks Messages and Responses natively: it answers with fixed frames.
type nativeCanned struct {
	canned
	frames [][]byte
}

func (c *nativeCanned) Serves(ep provider.Endpoint) bool {
	return ep == provider.Messages || ep == provider.Responses
}

func (c *nativeCanned) Do(ctx context.Context, call *provider.Call) (*provider.Response, error) {
	if call.Endpoint == provider.Chat {
		return c.canned.Do(ctx, call)
	}
	if call.Stream {
		return &provider.Response{Raw: true, Stream: &cannedStream{chunks: c.frames}}, nil
	}
	return &provider.Response{Raw: true, Body: c.body, Usage: provider.Usage{PromptTokens: 9, CompletionTokens: 12, Reported: true}}, nil
}

var (
	benchMessagesFrame  = []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" word\"}}\n\n")
	benchResponsesFrame = []byte("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":3,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\" word\",\"logprobs\":[]}\n\n")
)

// dialectGateway has one provider; native says whether it speaks the dialects itself.
func dialectGateway(chunks int, native bool, frame []byte) *Gateway {
	c := canned{body: benchBody}
	for i := 0; i < chunks; i++ {
		c.chunks = append(c.chunks, benchChunk)
	}
	var p provider.Provider = &c
	if native {
		n := &nativeCanned{canned: c}
		for i := 0; i < chunks; i++ {
			n.frames = append(n.frames, frame)
		}
		p = n
	}
	ps := []provider.Provider{p}
	return New(Options{Router: router.New(ps, nil), Executor: resilience.New(resilience.Options{Retries: 2}, ps)})
}

func benchDialect(b *testing.B, path, body string, chunks int, native bool, frame []byte) {
	h := dialectGateway(chunks, native, frame).Handler()
	req := []byte(body)
	b.ReportAllocs()
	for b.Loop() {
		r := benchRequest(path, req)
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, r)
	}
}

const (
	benchMessagesReq  = `{"model":"gpt-4o-mini","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`
	benchResponsesReq = `{"model":"gpt-4o-mini","stream":true,"input":"Hello"}`
)

// BenchmarkMessagesNativeRelay: a 100-event Messages stream relayed as frames (per event: /100).
func BenchmarkMessagesNativeRelay(b *testing.B) {
	benchDialect(b, "/v1/messages", benchMessagesReq, 100, true, benchMessagesFrame)
}

// BenchmarkMessagesTranslatedStream: a 100-chunk chat stream answered as Messages events.
func BenchmarkMessagesTranslatedStream(b *testing.B) {
	benchDialect(b, "/v1/messages", benchMessagesReq, 100, false, nil)
}

// BenchmarkResponsesNativeRelay: a 100-event Responses stream relayed as frames.
func BenchmarkResponsesNativeRelay(b *testing.B) {
	benchDialect(b, "/v1/responses", benchResponsesReq, 100, true, benchResponsesFrame)
}

// BenchmarkResponsesTranslatedStream: a 100-chunk chat stream answered as Responses events.
func BenchmarkResponsesTranslatedStream(b *testing.B) {
	benchDialect(b, "/v1/responses", benchResponsesReq, 100, false, nil)
}

// BenchmarkTextSink: the per-chunk text capture of a chat stream (request log and
// token estimates), one content chunk per op.
func BenchmarkTextSink(b *testing.B) {
	t := reqlog.TextCapture{Max: 64 << 10}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		t.Add(benchChunk)
		if n++; n == 10000 { // 50 KB of text: start over below the cap
			t, n = reqlog.TextCapture{Max: 64 << 10}, 0
		}
	}
}

// BenchmarkMessagesLargeBody: a 75 KB /v1/messages conversation (a coding agent's
// turn) relayed natively, not streamed: the per-byte checks of the request path.
func BenchmarkMessagesLargeBody(b *testing.B) {
	h := dialectGateway(0, true, nil).Handler()
	body := []byte(`{"model":"gpt-4o-mini","max_tokens":1024,"messages":[` +
		strings.Repeat(`{"role":"user","content":[{"type":"text","text":"Here is some file content: func main() { fmt.Println(\"hello, world\") } and more text ünïcode"}]},`, 500) +
		`{"role":"user","content":"end"}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := benchRequest("/v1/messages", body)
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, r)
	}
}

// BenchmarkMessagesText: the text capture of a natively relayed Messages frame.
func BenchmarkMessagesText(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if messagesText(benchMessagesFrame) != " word" {
			b.Fatal("no text")
		}
	}
}
