// Package server wires a gateway from the configuration: store, auth, limits,
// providers, router, resilience, usage, metrics, request log and event bus, behind
// a net/http server with timeouts and a graceful shutdown that loses no log row.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/cassette"
	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/gateway"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/metrics"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/reqlog"
	"github.com/jmanhype/runestone/internal/resilience"
	"github.com/jmanhype/runestone/internal/router"
	"github.com/jmanhype/runestone/internal/sse"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/telemetry"
	"github.com/jmanhype/runestone/internal/usage"
)

// Options are what the command line adds to the configuration.
type Options struct {
	Version     string
	Logger      *slog.Logger
	LogRequests bool // one line per request (plain-log mode)
	// KeepAlive overrides the 15s stream keep-alive interval (tests).
	KeepAlive time.Duration
	// StreamIdle overrides the 120s limit on upstream silence mid-stream (tests).
	StreamIdle time.Duration
	// TelemetryBatch overrides the 5s span batch delay (tests).
	TelemetryBatch time.Duration
	// Now overrides the clock requests are stamped with and budget periods follow
	// (tests roll a month over without waiting for it).
	Now func() time.Time
	// TuneGC lets the server set the collector's headroom from the live heap
	// (gcTune); serve sets it unless the environment sets GOGC.
	TuneGC bool
}

// Server is a running (or ready) gateway.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	Bus     *events.Bus
	Gateway *gateway.Gateway
	Store   *store.Store
	auth    *auth.Authenticator
	limiter limits.Admitter
	exec    *resilience.Executor
	writer  *reqlog.Writer
	metrics *metrics.Metrics
	router  *router.Router
	tel     *telemetry.Telemetry
	http    *http.Server
	ln      net.Listener
	// bg is the background workers' lifetime (snapshots, probes): the server's, not
	// the caller's. Shutdown cancels it once requests have drained.
	bg       context.Context
	stopBg   context.CancelFunc
	wg       sync.WaitGroup
	shutOnce sync.Once
	gc       *gcTune // nil unless Options.TuneGC

	// Recorder and Replayer are nil unless record.dir / replay.dir are set; `runestone
	// exec` reads their Stats for its summary.
	Recorder *cassette.Recorder
	Replayer *cassette.Replayer
}

// New builds everything but does not listen yet.
func New(ctx context.Context, cfg *config.Config, o Options) (_ *Server, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: o.Logger, Bus: events.NewBus()}
	if o.TuneGC {
		s.gc = newGCTune()
		s.gc.look()
	}
	s.bg, s.stopBg = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		// s, not the result: every failure returns a nil *Server.
		if err != nil {
			s.stopBg()
			s.closeAll(context.Background())
		}
	}()
	if s.Store, err = store.OpenConfig(ctx, store.Config{Driver: cfg.Store.Driver, DSN: cfg.Store.DSN,
		Path: filepath.Join(cfg.Home, store.FileName)}); err != nil {
		return nil, err
	}
	defaults := limits.Limits{RPM: cfg.Limits.RPM, RPH: cfg.Limits.RPH, TPM: cfg.Limits.TPM, Concurrent: cfg.Limits.Concurrent}
	if s.auth, err = auth.New(ctx, auth.Options{Store: s.Store, StaticKeys: cfg.Auth.Keys, Defaults: defaults,
		Poll: 500 * time.Millisecond, Logger: o.Logger}); err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	var spend gateway.SpendBook
	if s.limiter, spend, err = newLimiter(ctx, cfg, o.Logger, s.Store, o.Now); err != nil {
		return nil, err
	}
	pricer := usage.NewPricer(Prices(cfg), o.Logger)
	tokens := usage.NewEstimator()
	if s.Recorder, s.Replayer, err = newCassettes(cfg, o.Logger); err != nil {
		return nil, err
	}
	if s.tel, err = newTelemetry(ctx, cfg, o); err != nil {
		return nil, err
	}
	providers, err := buildProviders(cfg, tokens, s.tel)
	if err != nil {
		return nil, err
	}
	routes := make([]router.Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		routes[i] = router.Route{Model: r.Model, Targets: r.Targets}
	}
	s.router = router.New(providers, routes)
	s.metrics = metrics.New()
	if s.tel != nil {
		s.metrics.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "runestone_otel_spans_dropped_total",
			Help: "Spans lost because the OTLP collector could not be reached.",
		}, func() float64 { return float64(s.tel.Dropped()) }))
	}
	s.exec = resilience.New(s.resilienceOptions(pricer), providers)
	s.writer = reqlog.New(reqlog.Options{Store: s.Store, Retention: cfg.Log.Retention.Duration, Logger: o.Logger})
	s.Gateway = gateway.New(gateway.Options{
		Version: o.Version, Addr: cfg.Server.Addr,
		ProviderInfo: s.providerInfo, TestProviders: s.testProviders,
		AuthEnabled: cfg.Auth.Enabled, Auth: s.auth, AdminKey: cfg.Auth.AdminKey, Anonymous: defaults,
		Router: s.router, Executor: s.exec, Limiter: s.limiter, Pricer: pricer, Tokens: tokens,
		Log: s.writer, Store: s.Store, Metrics: s.metrics, Bus: s.Bus, Spend: spend, Telemetry: s.tel,
		Recorder: s.Recorder, Replayer: s.Replayer, Now: o.Now,
		MaxBodyBytes: cfg.Server.MaxBodyBytes, BodyTimeout: cfg.Server.ReadBodyTimeout.Duration, CaptureBodies: cfg.Log.CaptureBodies, MaxBodyCapture: cfg.Log.MaxBodyCapture,
		Logger: o.Logger, LogRequests: o.LogRequests, KeepAlive: o.KeepAlive, StreamIdle: o.StreamIdle,
		AllowedHosts: cfg.Server.AllowedHosts, AllowedOrigins: cfg.Server.AllowedOrigins,
	})
	sse.SetMaxEvent(cfg.Server.MaxEventBytes)
	s.http = &http.Server{
		Handler:           s.Gateway.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.Duration,
		IdleTimeout:       cmp.Or(cfg.Server.IdleTimeout.Duration, 120*time.Second),
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	s.http.RegisterOnShutdown(s.Gateway.Drain)
	return s, nil
}

func (s *Server) resilienceOptions(pricer *usage.Pricer) resilience.Options {
	cfg := s.cfg
	prio := map[string]int{}
	for _, p := range cfg.Providers {
		prio[p.Name] = p.Priority
	}
	return resilience.Options{
		Retries: cfg.Router.Retries, BackoffBase: cfg.Router.BackoffBase.Duration, BackoffMax: cfg.Router.BackoffMax.Duration,
		FailureThreshold: uint32(cfg.Breaker.FailureThreshold), Cooldown: cfg.Breaker.Cooldown.Duration,
		HalfOpenMax: uint32(cfg.Breaker.HalfOpenMax), Policy: cfg.Router.Policy,
		Price: func(model string) (float64, float64, bool) {
			p, ok := pricer.Lookup(model)
			return p.Input, p.Output, ok
		},
		Priority: func(name string) int { return prio[name] },
		OnBreaker: func(b events.Breaker) {
			s.metrics.SetBreaker(b.Provider, b.To)
			s.tel.BreakerChanged(b.Provider, b.From, b.To)
			s.Bus.Publish(events.Event{Kind: events.KindBreakerChanged, Breaker: &b})
		},
		OnAttempt: func(a events.Attempt) {
			if s.Bus.Active() {
				s.Bus.Publish(events.Event{Kind: events.KindAttempt, Attempt: &a})
			}
		},
		Logger: s.log,
	}
}

// Prices is config.toml's [pricing] as overrides of the built-in price table (the
// gateway's and `runestone prices`').
func Prices(cfg *config.Config) map[string]usage.Price {
	out := make(map[string]usage.Price, len(cfg.Pricing))
	for m, p := range cfg.Pricing {
		out[m] = usage.Price{Input: p.Input, Output: p.Output, CachedInput: p.CacheRead, CacheWrite: p.CacheWrite,
			CacheWrite1h: p.CacheWrite1h, LongAbove: p.LongAbove, LongInput: p.LongInput, LongOutput: p.LongOutput,
			LongCachedInput: p.LongCacheRead, LongCacheWrite: p.LongCacheWrite, LongCacheWrite1h: p.LongCacheWrite1h,
			Priority: p.Priority, Flex: p.Flex, WebSearch: p.WebSearch}
	}
	return out
}

// newTelemetry builds the OTLP exporters when [telemetry] (or OTEL_*) names an
// endpoint; nil otherwise. Every secret the configuration holds is handed over so
// none can reach an exported attribute.
func newTelemetry(ctx context.Context, cfg *config.Config, o Options) (*telemetry.Telemetry, error) {
	if !cfg.Telemetry.Enabled() {
		return nil, nil
	}
	prop := map[string]bool{}
	secrets := append([]string{cfg.Auth.AdminKey}, cfg.Auth.Keys...)
	for _, p := range cfg.Providers {
		prop[p.Name] = p.PropagatesTrace()
		secrets = append(secrets, p.APIKey)
		for _, v := range p.Headers {
			secrets = append(secrets, v)
		}
	}
	for _, v := range cfg.Telemetry.Headers {
		secrets = append(secrets, v)
	}
	return telemetry.New(ctx, telemetry.Options{Config: cfg.Telemetry, Propagate: prop,
		ContentCap: cfg.Log.MaxBodyCapture, Secrets: secrets, Version: o.Version, Logger: o.Logger,
		BatchTimeout: o.TelemetryBatch})
}

// Telemetry is the OTLP exporter (nil when off), for the banner.
func (s *Server) Telemetry() *telemetry.Telemetry { return s.tel }

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Server.Addr, err)
	}
	if l := limitListen(ln, s.cfg.Server.MaxConnections); l != nil {
		s.http.ConnState = l.connState
		ln = l
	}
	s.ln = ln
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.snapshots()
	}()
	for _, p := range s.router.Providers() {
		if ml, ok := p.(provider.ModelLister); ok && ml.Catalog() != nil {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.learnModels(ml, p.Name())
			}()
		}
	}
	for i, pc := range s.cfg.Providers {
		if every := pc.HealthCheck.Duration; every > 0 {
			p := s.router.Providers()[i]
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.probeLoop(p, every)
			}()
		}
	}
	return nil
}

// Addr is the address actually listened on (useful with port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Server.Addr
	}
	return s.ln.Addr().String()
}

// Providers lists provider names and their models, for the banner.
func (s *Server) Router() *router.Router { return s.router }

// snapshots publishes limiter counters once a second, refreshes gauges, sets the
// collector's headroom and hands memory back to the OS when the gateway goes quiet.
func (s *Server) snapshots() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	trim := memTrim{free: debug.FreeOSMemory, quiet: memTrimQuiet}
	for {
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
			keys := s.Gateway.KeyLimits(s.bg)
			s.metrics.SetKeyGauges(keys)
			st := s.writer.Stats()
			s.metrics.LogWriter(st.Queued, st.Written, st.Dropped)
			if s.Bus.Active() {
				s.Bus.Publish(events.Event{Kind: events.KindLimiterSnapshot, Limits: keys})
			}
			trim.look(s.Gateway.Totals())
			if s.gc != nil {
				s.gc.look()
			}
		}
	}
}

// Shutdown drains in-flight requests and streams until ctx ends, then stops the
// background workers in order: snapshots and probes, then the request-log writer
// (flushing every queued row), the limiter, the key poller (a last flush of last-used
// times), the database and telemetry (a last span flush). Until the drain ends everything a request needs keeps
// running, so a request finishing late is admitted, logged and billed like any other.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.shutOnce.Do(func() {
		err = s.http.Shutdown(ctx)
		if err != nil {
			_ = s.http.Close() // the drain deadline passed: cut what is left
		}
		s.stopBg()
		s.wg.Wait()
		s.closeAll(context.WithoutCancel(ctx))
	})
	return err
}

func (s *Server) closeAll(ctx context.Context) {
	if s.writer != nil {
		if err := s.writer.Close(ctx); err != nil {
			s.log.Error("flush request log", "err", err)
		}
	}
	if s.limiter != nil {
		s.limiter.Close()
	}
	if s.auth != nil {
		s.auth.Close()
	}
	if s.Store != nil {
		_ = s.Store.Close()
	}
	if s.tel != nil {
		// Flush queued spans, but never hang the exit on a collector that stopped answering.
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := s.tel.Shutdown(tctx); err != nil {
			s.log.Debug("telemetry shutdown", "err", err)
		}
	}
}
