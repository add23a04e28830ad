// Package metrics exports the gateway's counters: Prometheus text at GET /metrics and
// a JSON Summary at GET /health/metrics. It owns a private registry so that tests and
// embedders never collide on the global one.
package metrics

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jmanhype/runestone/internal/events"
)

// maxSeries caps distinct (model, provider) pairs. Model names come from clients and
// the zero-config mock answers any of them, so without a cap one script looping over
// random names would grow every scrape without bound. Past the cap the model label
// reads "other".
const maxSeries = 1000

// Metrics records gateway activity. All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests  *prometheus.CounterVec   // model, provider, status_class
	duration  *prometheus.HistogramVec // model, provider
	ttft      *prometheus.HistogramVec // model, provider
	tokens    *prometheus.CounterVec   // model, provider, type
	cost      *prometheus.CounterVec   // model, provider
	estimated *prometheus.CounterVec   // model, provider
	// costEstimated is the part of cost computed from estimated tokens; unpriced
	// counts requests whose cost is unknown (no price, or a rate the table lacks).
	costEstimated, unpriced *prometheus.CounterVec // model, provider
	inFlight                prometheus.Gauge
	limited                 *prometheus.CounterVec // key
	authFailed              prometheus.Counter

	series     sync.Map // seriesKey -> *series
	seriesN    atomic.Int64
	seriesMu   sync.Mutex // serialises creation so the cap is exact
	totals     totals
	state      state
	logQueued  atomic.Int64
	logWritten atomic.Uint64
	logDropped atomic.Uint64
}

// Buckets reach minutes: LLM completions routinely take tens of seconds.
var (
	durationBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}
	ttftBuckets     = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60}
)

// New returns Metrics with every collector registered on a fresh registry, plus the
// Go runtime and process collectors.
func New() *Metrics {
	mp := []string{"model", "provider"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runestone_requests_total",
			Help: "Finished client requests by model, answering provider and HTTP status class.",
		}, []string{"model", "provider", "status_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "runestone_request_duration_seconds",
			Help:    "Client request latency from arrival to the last byte.",
			Buckets: durationBuckets,
		}, mp),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "runestone_ttft_seconds",
			Help:    "Time to the first streamed token, streaming requests only.",
			Buckets: ttftBuckets,
		}, mp),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runestone_tokens_total",
			Help: "Tokens by type (prompt or completion), reported or estimated.",
		}, []string{"model", "provider", "type"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runestone_cost_usd_total",
			Help: "Cost in USD of requests whose model has a known price; unpriced requests add nothing.",
		}, mp),
		estimated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runestone_tokens_estimated_total",
			Help: "Tokens (prompt plus completion) estimated by the gateway because the upstream reported no usage.",
		}, mp),
		costEstimated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runestone_cost_estimated_usd_total",
			Help: "The part of runestone_cost_usd_total priced from token counts the gateway estimated, not the provider's.",
		}, mp),
		unpriced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runestone_unpriced_requests_total",
			Help: "Requests that used tokens but whose cost is unknown (no price, or a rate the table lacks); not in runestone_cost_usd_total.",
		}, mp),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "runestone_in_flight_requests",
			Help: "Client requests currently being served.",
		}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runestone_rate_limited_total",
			Help: "Requests rejected by a key's limits.",
		}, []string{"key"}),
		authFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runestone_auth_failed_total",
			Help: "Requests rejected for a missing or invalid key.",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.ttft, m.tokens, m.cost, m.estimated,
		m.inFlight, m.limited, m.authFailed,
		// The log writer owns its counters; reading them at scrape time keeps one
		// source of truth instead of mirroring deltas.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runestone_log_queue_depth",
			Help: "Request-log rows waiting to be written.",
		}, func() float64 { return float64(m.logQueued.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "runestone_log_rows_written_total",
			Help: "Request-log rows written to the database.",
		}, func() float64 { return float64(m.logWritten.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "runestone_log_rows_dropped_total",
			Help: "Request-log rows lost (queue full or write failed).",
		}, func() float64 { return float64(m.logDropped.Load()) }),
		&stateCollector{s: &m.state},
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector should cost one series, not the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Registry exposes the private registry, for callers that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// InFlight moves the in-flight request gauge by delta (+1 on start, -1 on finish).
func (m *Metrics) InFlight(delta int) {
	m.inFlight.Add(float64(delta))
	m.totals.inFlight.Add(int64(delta))
}

// RateLimited counts one request rejected by key's limits.
func (m *Metrics) RateLimited(key string) {
	m.limited.WithLabelValues(orNone(key)).Inc()
	m.totals.rateLimited.Add(1)
}

// AuthFailed counts one request rejected for authentication.
func (m *Metrics) AuthFailed() {
	m.authFailed.Inc()
	m.totals.authFailed.Add(1)
}

// LogWriter records the request-log writer's latest stats; written and dropped are
// the writer's running totals.
func (m *Metrics) LogWriter(queued int, written, dropped uint64) {
	m.logQueued.Store(int64(queued))
	m.logWritten.Store(written)
	m.logDropped.Store(dropped)
}

// SetKeyGauges replaces the per-key gauges with this snapshot; keys absent from it
// vanish from /metrics.
func (m *Metrics) SetKeyGauges(limits []events.KeyLimits) { m.state.setKeys(limits) }

// SetBreaker records provider's breaker state: "closed", "half-open" or "open".
func (m *Metrics) SetBreaker(provider, state string) { m.state.setBreaker(provider, state) }

// orNone makes s a valid label value: "none" when empty, and valid UTF-8, because
// client_golang panics on invalid label values and names can come from clients.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	if !utf8.ValidString(s) {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}
