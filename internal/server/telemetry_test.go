package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	collmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/testutil"
)

// otlpReceiver is an in-process OTLP/HTTP collector: it decodes the protobuf export
// requests the SDK sends and keeps every span and metric name.
type otlpReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	spans   []*tracepb.Span
	raw     [][]byte // every decoded trace export, re-marshalled: searched for leaks
	metrics map[string]bool
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{metrics: map[string]bool{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		w.Header().Set("Content-Type", "application/x-protobuf")
		switch r.URL.Path {
		case "/v1/traces":
			var req colltrace.ExportTraceServiceRequest
			if err := proto.Unmarshal(b, &req); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			rc.mu.Lock()
			for _, rs := range req.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					rc.spans = append(rc.spans, ss.Spans...)
				}
			}
			rc.raw = append(rc.raw, []byte(req.String()))
			rc.mu.Unlock()
			out, _ := proto.Marshal(&colltrace.ExportTraceServiceResponse{})
			_, _ = w.Write(out)
		case "/v1/metrics":
			var req collmetrics.ExportMetricsServiceRequest
			if err := proto.Unmarshal(b, &req); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			rc.mu.Lock()
			for _, rm := range req.ResourceMetrics {
				for _, sm := range rm.ScopeMetrics {
					for _, m := range sm.Metrics {
						rc.metrics[m.Name] = true
					}
				}
			}
			rc.mu.Unlock()
			out, _ := proto.Marshal(&collmetrics.ExportMetricsServiceResponse{})
			_, _ = w.Write(out)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *otlpReceiver) snapshot() ([]*tracepb.Span, []byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*tracepb.Span(nil), rc.spans...), bytes.Join(rc.raw, nil)
}

func attr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// streamingUpstream answers 503 for the first fails calls, then a stream whose last
// chunk reports usage (11 prompt, 7 completion tokens).
func streamingUpstream(t *testing.T, fails int, echo string) *testutil.Upstream {
	var n atomic.Int32
	return testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if int(n.Add(1)) <= fails {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			fmt.Fprintf(w, `{"error":{"message":"overloaded; you sent key %s","type":"server_error","param":null,"code":null}}`, echo)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"id\":\"chatcmpl-trace1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello from upstream\"},\"finish_reason\":null}]}\n\n")
		io.WriteString(w, "data: {\"id\":\"chatcmpl-trace1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
		io.WriteString(w, "data: {\"id\":\"chatcmpl-trace1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}\n\ndata: [DONE]\n\n")
	})
}

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent = "00f067aa0ba902b7"
	upstreamKey  = "sk-upstream-secret-value"
)

func tracedConfig(upstream, collector, extra string) string {
	return upstreamConfig(upstream, `
[telemetry]
endpoint = "`+collector+`"
`+extra)
}

func streamRequest(t *testing.T, g *gw, prompt string) (int, []byte) {
	t.Helper()
	status, _, body := g.do("POST", "/v1/chat/completions",
		`{"model":"gpt-4o-mini","stream":true,"temperature":0.5,"max_tokens":64,"messages":[{"role":"user","content":"`+prompt+`"}]}`,
		map[string]string{"traceparent": "00-" + clientTrace + "-" + clientParent + "-01", "tracestate": "vendor=abc"})
	return status, body
}

// TestTelemetryStreamedChatSpans is the check: a streamed chat request with
// a client traceparent gives one server span under the client's span, one attempt
// span per upstream call (three for two retries), the GenAI attributes with the
// upstream's token counts, trace context upstream, and no prompt content.
func TestTelemetryStreamedChatSpans(t *testing.T) {
	rc := newOTLPReceiver(t)
	up := streamingUpstream(t, 2, "none")
	g := startGatewayWith(t, tracedConfig(up.URL, rc.URL, ""), nil,
		server.Options{Version: "test", TelemetryBatch: 10 * time.Millisecond})
	sub := g.Srv.Bus.Subscribe(64)
	defer sub.Close()

	status, body := streamRequest(t, g, "the private prompt words")
	if status != 200 || !bytes.Contains(body, []byte("Hello from upstream")) {
		t.Fatalf("status %d body %s", status, body)
	}
	var finished *events.Request
	for finished == nil {
		select {
		case e := <-sub.C:
			if e.Kind == events.KindRequestFinished {
				finished = e.Request
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no request_finished event")
		}
	}
	if finished.TraceID != clientTrace {
		t.Fatalf("dashboard event trace id %q, want the client's %s", finished.TraceID, clientTrace)
	}
	shutdown(t, g) // flushes the batch processor and the metric reader

	spans, raw := rc.snapshot()
	var srv *tracepb.Span
	var attempts []*tracepb.Span
	for _, s := range spans {
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			if srv != nil {
				t.Fatalf("two server spans: %q and %q", srv.Name, s.Name)
			}
			srv = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			attempts = append(attempts, s)
		}
	}
	if srv == nil {
		t.Fatalf("no server span among %d spans", len(spans))
	}
	if got := hex.EncodeToString(srv.TraceId); got != clientTrace {
		t.Fatalf("server span trace id %s, want the client's %s", got, clientTrace)
	}
	if got := hex.EncodeToString(srv.ParentSpanId); got != clientParent {
		t.Fatalf("server span parent %s, want the client's span %s", got, clientParent)
	}
	if srv.Name != "chat gpt-4o-mini" || srv.TraceState != "vendor=abc" {
		t.Fatalf("server span name %q tracestate %q", srv.Name, srv.TraceState)
	}
	if len(attempts) != 3 {
		t.Fatalf("%d attempt spans, want 3 (two 503s, then the answer)", len(attempts))
	}
	ups := up.Requests()
	if len(ups) != 3 {
		t.Fatalf("upstream saw %d calls", len(ups))
	}
	for i, a := range attempts {
		if !bytes.Equal(a.ParentSpanId, srv.SpanId) || !bytes.Equal(a.TraceId, srv.TraceId) {
			t.Fatalf("attempt %d is not a child of the server span", i)
		}
	}
	// Each upstream call carried its own attempt span as parent.
	for i, u := range ups {
		tp := u.Header.Get("Traceparent")
		found := false
		for _, a := range attempts {
			found = found || tp == "00-"+clientTrace+"-"+hex.EncodeToString(a.SpanId)+"-01"
		}
		if !found {
			t.Fatalf("upstream call %d traceparent %q names no attempt span", i, tp)
		}
	}
	failed := 0
	for _, a := range attempts {
		if a.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d attempt spans in error, want 2", failed)
	}
	for key, want := range map[string]any{
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "openai",
		"gen_ai.request.model":           "gpt-4o-mini",
		"gen_ai.response.model":          "gpt-4o-mini-2024", // the model the answer names (issue 30)
		"gen_ai.response.id":             "chatcmpl-trace1",
		"gen_ai.usage.input_tokens":      int64(11),
		"gen_ai.usage.output_tokens":     int64(7),
		"gen_ai.request.temperature":     0.5,
		"gen_ai.request.max_tokens":      int64(64),
		"runestone.attempts":             int64(3),
		"runestone.provider":             "fake",
		"runestone.key.name":             "static",
		"http.response.status_code":      int64(200),
		"gen_ai.response.finish_reasons": "stop",
	} {
		v := attr(srv, key)
		var got any
		switch {
		case v == nil:
		case v.GetArrayValue() != nil:
			got = v.GetArrayValue().Values[0].GetStringValue()
		case v.GetStringValue() != "":
			got = v.GetStringValue()
		case v.GetIntValue() != 0:
			got = v.GetIntValue()
		default:
			got = v.GetDoubleValue()
		}
		if got != want {
			t.Errorf("server span %s = %v (%T), want %v", key, got, got, want)
		}
	}
	if attr(srv, "gen_ai.response.time_to_first_chunk") == nil {
		t.Error("no time to first chunk on a stream")
	}
	if attr(srv, "gen_ai.input.messages") != nil || bytes.Contains(raw, []byte("private prompt")) ||
		bytes.Contains(raw, []byte("Hello from upstream")) {
		t.Fatal("content was exported without capture_content")
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, m := range []string{"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "gen_ai.server.time_to_first_token"} {
		if !rc.metrics[m] {
			t.Errorf("metric %s not exported (got %v)", m, rc.metrics)
		}
	}
}

// TestTelemetryCaptureRedactsSecrets: with capture_content on, the prompt and answer
// are exported, but secrets planted in the prompt and in an upstream error that
// echoes the provider key never reach the collector.
func TestTelemetryCaptureRedactsSecrets(t *testing.T) {
	rc := newOTLPReceiver(t)
	up := streamingUpstream(t, 1, upstreamKey)
	g := startGatewayWith(t, tracedConfig(up.URL, rc.URL, "capture_content = true\n"), nil,
		server.Options{Version: "test", TelemetryBatch: 10 * time.Millisecond})
	status, _ := streamRequest(t, g, "keys "+upstreamKey+" and "+staticKey+" are here")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	shutdown(t, g)
	spans, raw := rc.snapshot()
	if len(spans) == 0 {
		t.Fatal("nothing exported")
	}
	for _, secret := range []string{upstreamKey, staticKey} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("secret %q was exported", secret)
		}
	}
	if !bytes.Contains(raw, []byte("are here")) || !bytes.Contains(raw, []byte("Hello from upstream")) {
		t.Fatal("capture_content = true exported no content")
	}
	if !bytes.Contains(raw, []byte("overloaded")) {
		t.Fatal("the failed attempt's error text is missing (the secret check proves nothing)")
	}
}

// TestTelemetryCollectorDown: requests are unaffected, the outage is logged once and
// the dropped spans are counted (Prometheus runestone_otel_spans_dropped_total).
func TestTelemetryCollectorDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	up := streamingUpstream(t, 0, "")
	var logs syncBuffer
	g := startGatewayWith(t, tracedConfig(up.URL, dead, ""), nil, server.Options{Version: "test",
		TelemetryBatch: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	tel := g.Srv.Telemetry()
	for round := 0; round < 3; round++ {
		before := tel.Dropped()
		for i := 0; i < 3; i++ {
			if status, body := streamRequest(t, g, "hi"); status != 200 || !bytes.Contains(body, []byte("[DONE]")) {
				t.Fatalf("collector down broke a request: %d %s", status, body)
			}
		}
		waitFor(t, func() bool { return tel.Dropped() > before })
	}
	if n := strings.Count(logs.String(), "export to the OTLP collector failed"); n != 1 {
		t.Fatalf("%d outage log lines, want exactly 1:\n%s", n, logs.String())
	}
	_, _, metrics := g.do("GET", "/metrics", "", map[string]string{"Authorization": ""})
	line := ""
	for _, l := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(l, "runestone_otel_spans_dropped_total ") {
			line = l
		}
	}
	if line == "" || strings.HasSuffix(line, " 0") {
		t.Fatalf("dropped-span counter: %q", line)
	}
}

// TestTelemetryOffByDefault: no endpoint, no exporter, no trace id on events.
func TestTelemetryOffByDefault(t *testing.T) {
	up := streamingUpstream(t, 0, "")
	g := startGateway(t, upstreamConfig(up.URL, ""), nil)
	if g.Srv.Telemetry() != nil {
		t.Fatal("telemetry on without an endpoint")
	}
	if status, _ := streamRequest(t, g, "hi"); status != 200 {
		t.Fatalf("status %d", status)
	}
	if tp := up.Last(t).Header.Get("Traceparent"); tp != "" {
		t.Fatalf("traceparent %q sent upstream with tracing off", tp)
	}
}

func shutdown(t *testing.T, g *gw) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTelemetryMessagesNativeStream: a streamed /v1/messages request relayed natively
// to an Anthropic upstream is a "chat" span with the message id, stop reason and the
// token counts of the log row; the anthropic provider gets no traceparent by default.
func TestTelemetryMessagesNativeStream(t *testing.T) {
	tools := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-stream-two-tool-use.httprr")[0]
	u := testutil.NewUpstream(t, testutil.Replay(tools, 0))
	rc := newOTLPReceiver(t)
	cfg := strings.Replace(claudeProvider, "%s", u.URL, 1) + "[telemetry]\nendpoint = \"" + rc.URL + "\"\n"
	g := startGatewayWith(t, cfg, nil, server.Options{Version: "test", TelemetryBatch: 10 * time.Millisecond})
	status, _, got := g.do("POST", "/v1/messages", string(tools.RequestBody), map[string]string{
		"anthropic-version": "2023-06-01", "traceparent": "00-" + clientTrace + "-" + clientParent + "-01"})
	if status != 200 || string(got) != string(tools.Body) {
		t.Fatalf("stream relay: %d %s", status, got)
	}
	if tp := u.Last(t).Header.Get("Traceparent"); tp != "" {
		t.Fatalf("anthropic provider got traceparent %q without propagate_trace", tp)
	}
	row := g.rows(t, 1)[0]
	shutdown(t, g)
	var wantID string
	for _, ev := range sseEvents(tools.Body) {
		if id := gjson.Get(ev, "message.id").String(); id != "" {
			wantID = id
			break
		}
	}
	spans, _ := rc.snapshot()
	var srv *tracepb.Span
	for _, s := range spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			srv = s
		}
	}
	if srv == nil || srv.Name != "chat claude-sonnet-4-5" || hex.EncodeToString(srv.TraceId) != clientTrace {
		t.Fatalf("server span %v", srv)
	}
	if v := attr(srv, "gen_ai.response.id").GetStringValue(); wantID == "" || v != wantID {
		t.Errorf("response id %q, want %q", v, wantID)
	}
	if v := attr(srv, "gen_ai.response.finish_reasons"); v == nil || v.GetArrayValue().Values[0].GetStringValue() != "tool_use" {
		t.Errorf("finish reasons %v", v)
	}
	if attr(srv, "runestone.dialect").GetStringValue() != "messages" {
		t.Errorf("dialect %v", attr(srv, "runestone.dialect"))
	}
	if attr(srv, "gen_ai.provider.name").GetStringValue() != "anthropic" ||
		attr(srv, "gen_ai.usage.input_tokens").GetIntValue() != int64(row.PromptTokens) ||
		attr(srv, "gen_ai.usage.output_tokens").GetIntValue() != int64(row.CompletionTokens) || row.CompletionTokens == 0 {
		t.Errorf("provider/tokens: %v in %v out %v; log row %d/%d", attr(srv, "gen_ai.provider.name"),
			attr(srv, "gen_ai.usage.input_tokens"), attr(srv, "gen_ai.usage.output_tokens"), row.PromptTokens, row.CompletionTokens)
	}
}
