// Package gateway is the HTTP surface: the OpenAI-compatible /v1 endpoints and the
// operations endpoints. A request passes auth, body inspection, model resolution,
// budget and limits, then the resilience executor, and is relayed back (streamed
// event by event or as one body); accounting happens off the request path.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/cassette"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/metrics"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/reqlog"
	"github.com/jmanhype/runestone/internal/resilience"
	"github.com/jmanhype/runestone/internal/router"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/telemetry"
	"github.com/jmanhype/runestone/internal/usage"
)

// Options wire the gateway's collaborators. Auth, Limiter, Log, Metrics, Store and
// Bus may be nil (the feature is then off), which keeps tests small.
type Options struct {
	Version string
	Addr    string

	AuthEnabled bool
	Auth        *auth.Authenticator
	AdminKey    string
	Anonymous   limits.Limits // limits for callers when auth is disabled

	Router   *router.Router
	Executor *resilience.Executor
	Limiter  limits.Admitter
	Pricer   *usage.Pricer
	Tokens   *usage.Estimator
	Log      *reqlog.Writer
	Store    *store.Store
	Metrics  *metrics.Metrics
	Bus      *events.Bus
	Spend    SpendBook
	// Telemetry exports spans and GenAI metrics over OTLP; nil = off.
	Telemetry *telemetry.Telemetry

	MaxBodyBytes int64
	// BodyTimeout bounds reading a request body (60s): a body that never ends (a
	// stalled chunked upload) gets 408 instead of holding a goroutine forever.
	BodyTimeout    time.Duration
	CaptureBodies  bool
	MaxBodyCapture int
	// KeepAlive is the silence after which a stream gets an SSE comment (15s);
	// StreamIdle ends a stream whose upstream sent nothing for that long (120s).
	KeepAlive  time.Duration
	StreamIdle time.Duration

	// AllowedHosts are Host names besides loopback ones (and the bound address) the
	// gateway answers; AllowedOrigins are browser origins it answers with CORS.
	AllowedHosts   []string
	AllowedOrigins []string

	Logger      *slog.Logger
	LogRequests bool // one info line per request (plain-log mode)

	// Recorder, when set, records every exchange as a cassette file; Replayer, when
	// set, answers matching requests from cassettes before routing (see docs/record-replay.md).
	Recorder *cassette.Recorder
	Replayer *cassette.Replayer

	// ProviderInfo and TestProviders answer the admin API's provider views (the
	// server builds them from the configuration); nil answers 404.
	ProviderInfo  func() []adminapi.ProviderInfo
	TestProviders func(ctx context.Context, name string) []adminapi.ProbeResult

	// Now is the clock requests are stamped with, which decides the budget period they
	// count in (nil: the wall clock). Tests move it across a period boundary.
	Now func() time.Time
}

// Gateway serves the HTTP API.
type Gateway struct {
	o       Options
	started time.Time
	state   *liveState
	ids     idSource
	anon    *auth.Principal
	drain   chan struct{} // closed when the server shuts down: ends /admin/events streams
	drained atomic.Bool
	hosts   hosts
	origins origins
	periods periods
	issued  *issued // native response ids and their keys (responses_owner.go)
}

// Drain ends long-lived operations streams so a graceful shutdown does not wait on them.
func (g *Gateway) Drain() {
	if g.drained.CompareAndSwap(false, true) {
		close(g.drain)
	}
}

// New returns a gateway.
func New(o Options) *Gateway {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.StreamIdle <= 0 {
		o.StreamIdle = 120 * time.Second
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 60 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 10 << 20
	}
	if o.Spend == nil {
		o.Spend = NewSpend(nil)
	}

	return &Gateway{o: o, started: time.Now(), state: newLiveState(), ids: newIDSource(), drain: make(chan struct{}),
		anon:  &auth.Principal{KeyID: "anonymous", Name: "anonymous", Limits: o.Anonymous},
		hosts: newHosts(o.Addr, o.AllowedHosts), origins: newOrigins(o.AllowedOrigins), issued: newIssued()}
}

// Handler returns the gateway's routes wrapped in its middleware.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	for path, ep := range proxyRoutes {
		mux.HandleFunc("POST "+path, g.proxyHandler(ep))
		mux.HandleFunc(path, g.methodNotAllowed("POST"))
	}
	mux.HandleFunc("POST /v1/messages/count_tokens", g.countTokens(provider.CountTokens))
	mux.HandleFunc("POST /v1/responses/input_tokens", g.countTokens(provider.InputTokens))
	mux.HandleFunc("POST /v1/responses/compact", g.proxyHandler(provider.ResponsesCompact))
	mux.HandleFunc("GET /v1/responses", g.responsesUpgrade)
	mux.HandleFunc("GET /v1/responses/{id}", g.getResponse)
	mux.HandleFunc("DELETE /v1/responses/{id}", g.deleteResponse)
	mux.HandleFunc("GET /v1/responses/{id}/input_items", g.listInputItems)
	mux.HandleFunc("POST /v1/responses/{id}/cancel", g.cancelResponse)
	mux.HandleFunc("GET /{$}", g.root)
	mux.HandleFunc("GET /v1/models", g.listModels)
	mux.HandleFunc("GET /v1/models/{model...}", g.getModel)
	mux.HandleFunc("/v1/models", g.methodNotAllowed("GET"))
	mux.HandleFunc("GET /health", g.health)
	mux.HandleFunc("GET "+adminapi.PathProviders, g.admin(g.healthProviders))
	mux.HandleFunc("GET /health/metrics", g.admin(g.healthMetrics))
	mux.HandleFunc("GET /metrics", g.admin(g.metrics))
	mux.HandleFunc("GET "+adminapi.PathEvents, g.admin(g.adminEvents))
	mux.HandleFunc("GET "+adminapi.PathState, g.admin(g.adminState))
	mux.HandleFunc("GET "+adminapi.PathRequests+"{id}", g.admin(g.adminRequest))
	mux.HandleFunc("GET "+adminapi.PathProviderInfo, g.admin(g.adminProviderInfo))
	mux.HandleFunc("POST "+adminapi.PathProviderTest, g.admin(g.adminProviderTest))
	mux.HandleFunc("/", g.notFound)
	return g.middleware(mux)
}
