// Package telemetry exports every gateway request as an OpenTelemetry trace (a server
// span per request, a client span per upstream attempt, GenAI semantic-convention
// attributes) and the GenAI client metrics, over OTLP with the official SDK.
//
// A nil *Telemetry is valid and means "off": every method, on it and on the nil *Span
// it hands out, returns at once without allocating, so the gateway calls them
// unconditionally. Export is batched and asynchronous; a collector that is down costs
// the request path nothing: its spans are dropped, counted, and logged once per outage.
package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/jmanhype/runestone/internal/config"
)

// instrumentation names the tracer and meter (the scope in every export).
const instrumentation = "github.com/jmanhype/runestone"

// exportTimeout bounds one export call: a collector that accepts the connection and
// then hangs must not hold the batch processor (and its queue) for the SDK's 10s.
const exportTimeout = 5 * time.Second

// Options configure New.
type Options struct {
	Config config.Telemetry
	// Propagate names the providers whose upstream requests carry the trace context.
	Propagate map[string]bool
	// ContentCap caps captured prompt and completion text, in bytes (log.max_body_capture).
	ContentCap int
	// Secrets are values that must never be exported (provider API keys and header
	// values, client keys): they are masked in content and error text.
	Secrets []string
	Version string
	Logger  *slog.Logger
	// BatchTimeout overrides the batch processor's 5s export delay (tests).
	BatchTimeout time.Duration

	spanExporter sdktrace.SpanExporter // replaces the OTLP one (this package's tests)
}

// Telemetry owns the tracer and meter providers. Methods are safe for concurrent use.
type Telemetry struct {
	tp        *sdktrace.TracerProvider
	mp        *sdkmetric.MeterProvider
	tracer    trace.Tracer
	prop      propagation.TextMapPropagator
	propagate map[string]bool
	capture   bool
	capMax    int
	secrets   []string
	describe  string
	health    *exportHealth
	breakers  breakerLog

	duration metric.Float64Histogram
	tokens   metric.Int64Histogram
	ttft     metric.Float64Histogram
}

// New builds the exporters and providers from cfg, or returns nil (off) when no
// endpoint is configured. Nothing is dialled here: the exporters connect lazily.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	c := o.Config
	if !c.Enabled() {
		return nil, nil
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Telemetry{
		prop:      propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		propagate: o.Propagate,
		capture:   c.CaptureContent,
		capMax:    o.ContentCap,
		health:    &exportHealth{log: o.Logger},
	}
	for _, s := range o.Secrets {
		if len(s) >= 8 { // shorter values would mask ordinary words
			t.secrets = append(t.secrets, s)
		}
	}
	if t.capMax <= 0 {
		t.capMax = 64 << 10
	}
	// The SDK reports export errors through the global handler, which by default
	// prints every failure; exportHealth already logs once per outage.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		o.Logger.Debug("opentelemetry", "err", err)
	}))

	res := resource.NewSchemaless(t.resourceAttrs(c, o.Version)...)
	spanExp, traceURL := o.spanExporter, "(test exporter)"
	if spanExp == nil {
		var err error
		if spanExp, traceURL, err = newSpanExporter(ctx, c); err != nil {
			return nil, fmt.Errorf("telemetry: %w", err)
		}
	}
	bsp := []sdktrace.BatchSpanProcessorOption{}
	if o.BatchTimeout > 0 {
		bsp = append(bsp, sdktrace.WithBatchTimeout(o.BatchTimeout))
	}
	t.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler(c.Sampler, c.SamplerArg)),
		sdktrace.WithBatcher(&countingSpanExporter{SpanExporter: spanExp, h: t.health}, bsp...),
	)
	t.tracer = t.tp.Tracer(instrumentation, trace.WithInstrumentationVersion(o.Version))
	t.describe = fmt.Sprintf("OTLP %s %s (sampler %s", c.Protocol, traceURL, c.Sampler)
	if strings.HasSuffix(c.Sampler, "traceidratio") {
		t.describe += fmt.Sprintf(" %g", c.SamplerArg)
	}
	t.describe += ")"

	// Metrics go to the base endpoint only: a traces_endpoint alone names no place for them.
	if c.Endpoint != "" {
		mexp, err := newMetricExporter(ctx, c)
		if err != nil {
			_ = t.tp.Shutdown(ctx)
			return nil, fmt.Errorf("telemetry: %w", err)
		}
		t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(&countingMetricExporter{Exporter: mexp, h: t.health})))
		t.describe += ", GenAI metrics"
	} else {
		t.mp = sdkmetric.NewMeterProvider() // no reader: instruments record into nothing
	}
	if c.CaptureContent {
		t.describe += ", capturing content"
	}
	if err := t.instruments(); err != nil {
		_ = t.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return t, nil
}

func (t *Telemetry) resourceAttrs(c config.Telemetry, version string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 2+len(c.ResourceAttributes))
	for k, v := range c.ResourceAttributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	// Named settings win over the same key in resource_attributes.
	attrs = append(attrs, attribute.String("service.name", c.ServiceName))
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	return attrs
}

func newSpanExporter(ctx context.Context, c config.Telemetry) (sdktrace.SpanExporter, string, error) {
	retry := false // a failed batch is dropped and counted; the next one tries again
	if c.Protocol == config.ProtocolGRPC {
		u := cmp.Or(c.TracesEndpoint, c.Endpoint)
		e, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(u), otlptracegrpc.WithHeaders(c.Headers),
			otlptracegrpc.WithTimeout(exportTimeout), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: retry}))
		return e, u, err
	}
	u := c.TracesEndpoint
	if u == "" {
		u = strings.TrimRight(c.Endpoint, "/") + "/v1/traces"
	}
	e, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u), otlptracehttp.WithHeaders(c.Headers),
		otlptracehttp.WithTimeout(exportTimeout), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: retry}))
	return e, u, err
}

func newMetricExporter(ctx context.Context, c config.Telemetry) (sdkmetric.Exporter, error) {
	if c.Protocol == config.ProtocolGRPC {
		return otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(c.Endpoint), otlpmetricgrpc.WithHeaders(c.Headers),
			otlpmetricgrpc.WithTimeout(exportTimeout), otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}))
	}
	return otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(strings.TrimRight(c.Endpoint, "/")+"/v1/metrics"),
		otlpmetrichttp.WithHeaders(c.Headers), otlpmetrichttp.WithTimeout(exportTimeout),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
}

func sampler(name string, arg float64) sdktrace.Sampler {
	ratio := sdktrace.TraceIDRatioBased(arg)
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return ratio
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(ratio)
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// instruments creates the GenAI client metrics, with the bucket boundaries the
// semantic conventions recommend.
func (t *Telemetry) instruments() error {
	m := t.mp.Meter(instrumentation)
	var err, e error
	t.duration, e = m.Float64Histogram("gen_ai.client.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("GenAI operation duration."),
		metric.WithExplicitBucketBoundaries(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92))
	err = errors.Join(err, e)
	t.tokens, e = m.Int64Histogram("gen_ai.client.token.usage", metric.WithUnit("{token}"),
		metric.WithDescription("Number of input and output tokens used."),
		metric.WithExplicitBucketBoundaries(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864))
	err = errors.Join(err, e)
	t.ttft, e = m.Float64Histogram("gen_ai.server.time_to_first_token", metric.WithUnit("s"),
		metric.WithDescription("Time to generate the first token, for streamed requests."),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0))
	return errors.Join(err, e)
}

// Describe is the banner line: where spans go, or "" when off.
func (t *Telemetry) Describe() string {
	if t == nil {
		return ""
	}
	return t.describe
}

// Dropped is the number of spans lost because an export failed.
func (t *Telemetry) Dropped() uint64 {
	if t == nil {
		return 0
	}
	return t.health.dropped.Load()
}

// Shutdown exports what is queued (until ctx ends) and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return errors.Join(t.tp.Shutdown(ctx), t.mp.Shutdown(ctx))
}

// Transport wraps rt so requests to the named provider carry the trace context of
// their own context (traceparent, tracestate, baggage). rt comes back unchanged when
// telemetry is off or the provider's propagate_trace is off.
func (t *Telemetry) Transport(provider string, rt http.RoundTripper) http.RoundTripper {
	if t == nil || !t.propagate[provider] {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &injector{next: rt, prop: t.prop}
}

type injector struct {
	next http.RoundTripper
	prop propagation.TextMapPropagator
}

func (i *injector) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return i.next.RoundTrip(r)
	}
	// A RoundTripper must not change the caller's request: inject into a copy.
	r = r.Clone(r.Context())
	i.prop.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	return i.next.RoundTrip(r)
}

// exportHealth counts failed exports and logs one line when export starts failing
// and one when every signal exports again, not one per batch. Spans and metrics keep
// separate flags: a backend that takes traces but not metrics (Jaeger, Langfuse) logs
// once, instead of flapping each time the other signal succeeds.
type exportHealth struct {
	log     *slog.Logger
	mu      sync.Mutex
	down    [2]bool // by signal
	dropped atomic.Uint64
}

const (
	sigSpans = iota
	sigMetrics
)

var signalNames = [2]string{"spans", "metrics"}

func (h *exportHealth) result(sig int, err error, spans int) {
	if err != nil {
		h.dropped.Add(uint64(spans))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	wasDown := h.down[sigSpans] || h.down[sigMetrics]
	h.down[sig] = err != nil
	isDown := h.down[sigSpans] || h.down[sigMetrics]
	switch {
	case isDown && !wasDown:
		h.log.Warn("telemetry: export to the OTLP collector failed; "+signalNames[sig]+" are dropped until it succeeds", "err", err)
	case wasDown && !isDown:
		h.log.Info("telemetry: export to the OTLP collector works again")
	}
}

type countingSpanExporter struct {
	sdktrace.SpanExporter
	h *exportHealth
}

func (e *countingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.h.result(sigSpans, err, len(spans))
	return err
}

type countingMetricExporter struct {
	sdkmetric.Exporter
	h *exportHealth
}

func (e *countingMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := e.Exporter.Export(ctx, rm)
	e.h.result(sigMetrics, err, 0)
	return err
}

// breakerLog remembers recent breaker state changes so a request's span can show the
// ones that happened while it ran (the executor reports them without a context).
type breakerLog struct {
	mu      sync.Mutex
	seq     uint64
	entries [32]breakerChange
}

type breakerChange struct {
	seq            uint64
	at             time.Time
	provider, from string
	to             string
}

// BreakerChanged records a circuit-breaker state change (wire it to the executor's
// OnBreaker); spans of requests that tried that provider get it as an event.
func (t *Telemetry) BreakerChanged(provider, from, to string) {
	if t == nil {
		return
	}
	b := &t.breakers
	b.mu.Lock()
	b.seq++
	b.entries[b.seq%uint64(len(b.entries))] = breakerChange{seq: b.seq, at: time.Now(), provider: provider, from: from, to: to}
	b.mu.Unlock()
}

func (b *breakerLog) current() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}

// since returns the changes after seq, oldest first.
func (b *breakerLog) since(seq uint64) []breakerChange {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []breakerChange
	for s := max(seq+1, b.seq+1-min(b.seq, uint64(len(b.entries)))); s <= b.seq; s++ {
		if e := b.entries[s%uint64(len(b.entries))]; e.seq == s {
			out = append(out, e)
		}
	}
	return out
}
