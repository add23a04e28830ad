package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/config"
)

func testConfig() config.Telemetry {
	return config.Telemetry{TracesEndpoint: "http://127.0.0.1:1/v1/traces", Protocol: config.ProtocolHTTP,
		ServiceName: "runestone", Sampler: "parentbased_always_on", SamplerArg: 1}
}

// newTest builds a Telemetry whose spans land in memory (read them after Shutdown).
func newTest(t *testing.T, mutate func(*Options)) (*Telemetry, *tracetest.InMemoryExporter) {
	t.Helper()
	mem := tracetest.NewInMemoryExporter()
	o := Options{Config: testConfig(), spanExporter: mem, Propagate: map[string]bool{"on": true},
		Secrets: []string{"sk-planted-secret-123", "short"}}
	if mutate != nil {
		mutate(&o)
	}
	tel, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return tel, mem
}

// flushed ends tel and returns what it exported (the in-memory exporter forgets its
// spans on Shutdown, so they are read after a flush).
func flushed(t *testing.T, tel *Telemetry, mem *tracetest.InMemoryExporter) tracetest.SpanStubs {
	t.Helper()
	if err := tel.tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := mem.GetSpans()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return spans
}

func TestNilIsOffAndFree(t *testing.T) {
	var tel *Telemetry
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	rt := http.DefaultTransport
	chunk := []byte(`{}`)
	allocs := testing.AllocsPerRun(100, func() {
		s := tel.StartRequest(r, OpChat)
		ctx, end := s.Attempt(context.Background(), "p", "openai", "m")
		end(nil)
		_ = ctx
		s.PeekChunk(chunk)
		s.Event("x")
		_ = s.TraceID()
		s.End(Record{Status: 200})
		tel.BreakerChanged("p", "closed", "open")
		_ = tel.Transport("p", rt)
		_ = tel.Describe()
		_ = tel.Dropped()
	})
	if allocs != 0 {
		t.Fatalf("nil telemetry allocates %v per request", allocs)
	}
	if tel.Transport("p", rt) != rt || tel.Shutdown(context.Background()) != nil {
		t.Fatal("nil telemetry is not a no-op")
	}
}

func TestOffWithoutEndpoint(t *testing.T) {
	tel, err := New(context.Background(), Options{Config: config.Telemetry{Protocol: config.ProtocolHTTP}})
	if tel != nil || err != nil {
		t.Fatalf("New without endpoint = %v, %v; want nil, nil", tel, err)
	}
}

func TestSpanTreeEventsAndRecord(t *testing.T) {
	tel, mem := newTest(t, nil)
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	r.Header.Set("baggage", "user=alice")
	s := tel.StartRequest(r, OpChat)
	_, end := s.Attempt(r.Context(), "primary", "openai", "gpt-4o")
	end(&apierr.Error{Status: 503, Type: "server_error", Code: "upstream_unavailable", Message: "key sk-planted-secret-123 rejected"})
	tel.BreakerChanged("primary", "closed", "open")
	tel.BreakerChanged("elsewhere", "closed", "open") // not tried by this request: no event
	_, end = s.Attempt(r.Context(), "backup", "mock", "gpt-4o")
	end(nil)
	s.PeekChunk([]byte(`{"id":"resp-1","model":"gpt-4o-x","choices":[{"delta":{"content":"hi"},"finish_reason":null}]}`))
	s.PeekChunk([]byte(`{"id":"resp-1","choices":[{"delta":{},"finish_reason":"length"}]}`))
	cost := 0.25
	s.End(Record{RequestModel: "smart", ResponseModel: "gpt-4o", Provider: "backup", Status: 200, Stream: true,
		InputTokens: 5, OutputTokens: 6, CacheReadTokens: 2, TTFT: 30 * time.Millisecond, QueueWait: time.Second,
		KeyName: "dev", Project: "p1", Route: "smart", Attempts: 2, CostUSD: &cost,
		RequestBody: []byte(`{"temperature":0.2,"top_p":0.9,"max_completion_tokens":100,"stop":["x","y"],"messages":[{"role":"user","content":"secret words"}]}`)})
	if s.TraceID() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("trace id %q", s.TraceID())
	}
	spans := flushed(t, tel, mem)
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	srv := spans[len(spans)-1]
	if srv.Name != "chat smart" || srv.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("server span %q parent %s", srv.Name, srv.Parent.SpanID())
	}
	a1, a2 := spans[0], spans[1]
	if a1.Parent.SpanID() != srv.SpanContext.SpanID() || a2.Parent.SpanID() != srv.SpanContext.SpanID() {
		t.Fatal("attempts are not children of the request span")
	}
	if d := a1.Status.Description; strings.Contains(d, "sk-planted-secret-123") || !strings.Contains(d, "key sk-…123 rejected") {
		t.Fatalf("attempt error not redacted: %q", a1.Status.Description)
	}
	got := map[attribute.Key]attribute.Value{}
	for _, kv := range srv.Attributes {
		got[kv.Key] = kv.Value
	}
	for k, want := range map[attribute.Key]string{
		"gen_ai.provider.name":                 "runestone.mock",
		"gen_ai.response.model":                "gpt-4o",
		"gen_ai.response.id":                   "resp-1",
		"gen_ai.response.finish_reasons":       `["length"]`,
		"gen_ai.request.temperature":           "0.2",
		"gen_ai.request.top_p":                 "0.9",
		"gen_ai.request.max_tokens":            "100",
		"gen_ai.request.stop_sequences":        `["x","y"]`,
		"gen_ai.usage.cache_read.input_tokens": "2",
		"runestone.route":                      "smart",
		"runestone.key.project":                "p1",
		"runestone.cost_usd":                   "0.25",
		"gen_ai.response.time_to_first_chunk":  "0.03",
	} {
		if v, ok := got[k]; !ok || v.String() != want {
			t.Errorf("%s = %q, want %q", k, v.String(), want)
		}
	}
	if _, ok := got["gen_ai.input.messages"]; ok {
		t.Error("content exported with capture_content off")
	}
	var names []string
	for _, e := range srv.Events {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "runestone.queue.wait,runestone.breaker.state_change" {
		t.Fatalf("events %v", names)
	}
}

func TestCaptureContentIsCappedAndRedacted(t *testing.T) {
	tel, mem := newTest(t, func(o *Options) { o.Config.CaptureContent = true; o.ContentCap = 40 })
	s := tel.StartRequest(httptest.NewRequest("POST", "/v1/chat/completions", nil), OpChat)
	s.End(Record{RequestModel: "m", Status: 200,
		RequestBody:  []byte(`{"messages":[{"role":"user","content":"my key sk-planted-secret-123 and a long tail of words"}]}`),
		ResponseBody: []byte(`{"id":"x","choices":[{"message":{"content":"answer"},"finish_reason":"stop"}]}`)})
	attrs := map[attribute.Key]string{}
	for _, kv := range flushed(t, tel, mem)[0].Attributes {
		attrs[kv.Key] = kv.Value.String()
	}
	in := attrs["gen_ai.input.messages"]
	if strings.Contains(in, "sk-planted-secret-123") || !strings.Contains(in, "…[truncated]") || len(in) > 60 {
		t.Fatalf("input messages %q", in)
	}
	if !strings.Contains(attrs["gen_ai.output.messages"], `"content":"answer"`) {
		t.Fatalf("output messages %q", attrs["gen_ai.output.messages"])
	}
}

func TestTransportInjectsOnlyWhenAllowed(t *testing.T) {
	tel, _ := newTest(t, nil)
	defer tel.Shutdown(context.Background())
	var seen http.Header
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Header
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	s := tel.StartRequest(httptest.NewRequest("POST", "/v1/chat/completions", nil), OpChat)
	ctx, end := s.Attempt(context.Background(), "on", "openai", "m")
	defer end(nil)
	for _, c := range []struct {
		provider string
		want     bool
	}{{"on", true}, {"off", false}} {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://upstream/v1/chat/completions", nil)
		if _, err := tel.Transport(c.provider, next).RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if got := seen.Get("traceparent") != ""; got != c.want {
			t.Errorf("provider %s: traceparent sent = %v, want %v", c.provider, got, c.want)
		}
		if req.Header.Get("traceparent") != "" {
			t.Error("the transport changed the caller's request")
		}
	}
	// Without a span in the context nothing is added.
	req, _ := http.NewRequest("POST", "http://upstream/", nil)
	_, _ = tel.Transport("on", next).RoundTrip(req)
	if seen.Get("traceparent") != "" {
		t.Error("traceparent without a span")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestExportHealthLogsOncePerOutage(t *testing.T) {
	var buf bytes.Buffer
	h := &exportHealth{log: slog.New(slog.NewTextHandler(&buf, nil))}
	boom := errors.New("connection refused")
	h.result(sigSpans, boom, 3)
	h.result(sigMetrics, boom, 0) // same outage: no second line
	h.result(sigSpans, boom, 2)
	h.result(sigSpans, nil, 4)
	h.result(sigMetrics, nil, 0) // now everything works: one recovery line
	h.result(sigSpans, nil, 1)
	h.result(sigSpans, boom, 1) // a second outage
	// A backend without metrics: its first failure is an outage (line 3), then spans
	// succeeding beside metrics failing logs nothing more (no flapping).
	h.result(sigSpans, nil, 1)
	for range 3 {
		h.result(sigMetrics, boom, 0)
		h.result(sigSpans, nil, 1)
	}
	if h.dropped.Load() != 6 {
		t.Fatalf("dropped %d, want 6", h.dropped.Load())
	}
	out := buf.String()
	if strings.Count(out, "failed") != 3 || strings.Count(out, "works again") != 2 {
		t.Fatalf("log:\n%s", out)
	}
}

func TestBreakerLogKeepsTheLatest(t *testing.T) {
	var b breakerLog
	start := b.current()
	for i := 0; i < 40; i++ {
		b.mu.Lock()
		b.seq++
		b.entries[b.seq%uint64(len(b.entries))] = breakerChange{seq: b.seq}
		b.mu.Unlock()
	}
	got := b.since(start)
	if len(got) != 32 || got[0].seq != 9 || got[31].seq != 40 {
		t.Fatalf("since: %d entries, first %d", len(got), got[0].seq)
	}
	if len(b.since(38)) != 2 {
		t.Fatal("since(38) should return the last two")
	}
}

func TestSamplerOffRecordsNothing(t *testing.T) {
	tel, mem := newTest(t, func(o *Options) { o.Config.Sampler = "always_off" })
	s := tel.StartRequest(httptest.NewRequest("POST", "/", nil), OpEmbeddings)
	s.End(Record{Status: 200})
	if s.TraceID() != "" {
		t.Fatalf("unsampled request has trace id %q", s.TraceID())
	}
	if len(flushed(t, tel, mem)) != 0 {
		t.Fatal("always_off exported a span")
	}
}
