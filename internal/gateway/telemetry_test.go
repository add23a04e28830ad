package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/telemetry"
)

// TestTraceGlueOffIsFree: with telemetry off the exchange's hooks allocate nothing
// and hand the attempt func back unchanged.
func TestTraceGlueOffIsFree(t *testing.T) {
	g := benchGateway(0)
	x := &exchange{g: g, r: httptest.NewRequest("POST", "/v1/chat/completions", nil)}
	fn := func(context.Context, provider.Target) (*provider.Response, error) { return nil, nil }
	var ev events.Request
	allocs := testing.AllocsPerRun(100, func() {
		x.traceStart()
		_ = x.traced(fn)
		x.traceEnd(&ev)
	})
	if allocs != 0 || x.span != nil || ev.TraceID != "" {
		t.Fatalf("off: %v allocs, span %v, trace id %q", allocs, x.span, ev.TraceID)
	}
}

// otlpSink accepts OTLP/HTTP exports and throws them away (a collector that keeps up).
func otlpSink(tb testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// deadEndpoint is a loopback address nothing listens on (a collector that is down).
func deadEndpoint(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

// tracedGateway is benchGateway with telemetry on, sampled at 100%, exporting to endpoint.
func tracedGateway(tb testing.TB, chunks int, endpoint string) *Gateway {
	g := benchGateway(chunks)
	tel, err := telemetry.New(context.Background(), telemetry.Options{Config: config.Telemetry{
		Endpoint: endpoint, Protocol: config.ProtocolHTTP, ServiceName: "bench", Sampler: "always_on", SamplerArg: 1}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	g.o.Telemetry = tel
	return g
}

// BenchmarkTelemetry measures what tracing adds per request: off (nil) against on
// (every request sampled, spans batched to an OTLP/HTTP sink on loopback) and on with
// the collector down (connection refused: every batch is dropped and counted).
func BenchmarkTelemetry(b *testing.B) {
	stream := []byte(`{"model":"gpt-4o-mini","stream":true,"temperature":0.7,"messages":[{"role":"user","content":"Hello"}]}`)
	for _, c := range []struct {
		name   string
		chunks int
		body   []byte
	}{{"body", 0, []byte(benchReq)}, {"stream100", 100, stream}} {
		for _, mode := range []string{"off", "on", "collector-down"} {
			var g *Gateway
			switch mode {
			case "off":
				g = benchGateway(c.chunks)
			case "on":
				g = tracedGateway(b, c.chunks, otlpSink(b))
			default:
				g = tracedGateway(b, c.chunks, deadEndpoint(b))
			}
			h := g.Handler()
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(c.body))
					req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
					h.ServeHTTP(&discard{h: http.Header{}}, req)
				}
			})
		}
	}
}
