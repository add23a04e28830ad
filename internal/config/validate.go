package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/jmanhype/runestone/internal/resilience"
)

// Validate reports the first problem with the configuration in one sentence.
func (c *Config) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
		add("server.addr %q is not host:port", c.Server.Addr)
	}
	if c.Server.MaxBodyBytes <= 0 {
		add("server.max_body_bytes must be positive")
	}
	if c.Server.MaxConnections < 0 || c.Server.MaxEventBytes < 0 {
		add("server.max_connections and server.max_event_bytes must be >= 0")
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"limits.rpm", c.Limits.RPM}, {"limits.rph", c.Limits.RPH}, {"limits.tpm", c.Limits.TPM},
		{"limits.concurrent", c.Limits.Concurrent}, {"limits.queue", c.Limits.Queue}, {"router.retries", c.Router.Retries}} {
		if f.v < 0 {
			add("%s must be >= 0, got %d", f.name, f.v)
		}
	}
	switch c.Store.Driver {
	case StoreSQLite, StorePostgres: // an empty postgres dsn is refused when the store opens
	default:
		add("store.driver %q: want sqlite or postgres", c.Store.Driver)
	}
	switch c.Limits.Backend {
	case LimitsMemory, LimitsRedis: // an empty redis_url is refused when serve starts
	default:
		add("limits.backend %q: want memory or redis", c.Limits.Backend)
	}
	switch c.Limits.OnRedisError {
	case RedisFailClose, RedisFailOpen:
	default:
		add("limits.on_redis_error %q: want fail-closed or fail-open", c.Limits.OnRedisError)
	}
	if c.Limits.LeaseTTL.Duration <= 0 {
		add("limits.lease_ttl must be positive")
	}
	if !resilience.ValidPolicy(c.Router.Policy) {
		add("router.policy %q: want %s", c.Router.Policy, oneOf(resilience.Policies))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		add("log format %q: want text or json", c.LogFormat)
	}
	if c.Replay.Speed < 0 {
		add("replay.speed must be >= 0 (0 = as fast as possible, 1 = as recorded)")
	}
	if c.Record.MaxBytes < 1 {
		add("record.max_bytes must be >= 1 (the largest exchange recorded, in bytes)")
	}
	if c.Replay.MaxFileBytes < 1 {
		add("replay.max_file_bytes must be >= 1 (the largest cassette file read, in bytes)")
	}
	if c.Breaker.FailureThreshold < 1 {
		add("breaker.failure_threshold must be >= 1")
	}
	if c.Breaker.HalfOpenMax < 1 {
		add("breaker.half_open_max must be >= 1")
	}
	c.validateTelemetry(add)
	names := map[string]bool{}
	for i, p := range c.Providers {
		switch {
		case p.Name == "":
			add("providers[%d] has no name", i)
		case strings.ContainsAny(p.Name, ": "):
			add("provider name %q may not contain ':' or spaces", p.Name)
		case names[p.Name]:
			add("two providers are named %q", p.Name)
		}
		names[p.Name] = true
		switch p.Kind {
		case KindOpenAI, KindAnthropic, KindMock:
		default:
			add("provider %q: kind %q: want openai, anthropic or mock", p.Name, p.Kind)
		}
		if p.Kind != KindMock && !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
			add("provider %q: base_url %q must start with http:// or https://", p.Name, p.BaseURL)
		}
		for _, a := range p.APIs {
			if a != "chat" && a != "responses" {
				add("provider %q: apis: %q is not a dialect an %s provider can serve natively (want chat or responses)", p.Name, a, p.Kind)
			}
		}
		if p.Kind != KindMock && pointsAtSelf(p.BaseURL, c.Server.Addr) {
			add("provider %q: base_url %q is this gateway's own address (did OPENAI_BASE_URL meant for your app reach the gateway?)", p.Name, p.BaseURL)
		}
	}
	// A route's model is an exact name or a glob ("claude-*", "*haiku*": '*' matches
	// any run of characters); exact names win over globs, then the first glob.
	routeNames := map[string]bool{}
	for _, r := range c.Routes {
		if r.Model == "" || len(r.Targets) == 0 {
			add("every [[routes]] entry needs model and targets")
			continue
		}
		if routeNames[r.Model] {
			add("two routes are named %q (only the first would ever match)", r.Model)
		}
		routeNames[r.Model] = true
		for _, t := range r.Targets {
			prov, model, ok := strings.Cut(t, ":")
			switch {
			case !ok || !names[prov]:
				add("route %q: target %q must be provider:model with a configured provider", r.Model, t)
			case model == "" || strings.Contains(model, "*"):
				add("route %q: target %q must name one model (globs belong in the route's model)", r.Model, t)
			}
		}
	}
	for _, m := range slices.Sorted(maps.Keys(c.Pricing)) {
		p := c.Pricing[m]
		for _, v := range []float64{p.Input, p.Output, p.CacheRead, p.CacheWrite, p.CacheWrite1h, float64(p.LongAbove),
			p.LongInput, p.LongOutput, p.LongCacheRead, p.LongCacheWrite, p.LongCacheWrite1h, p.Priority, p.Flex, p.WebSearch} {
			if v < 0 {
				add("pricing %q: prices must be >= 0", m)
				break
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	// One line, in a stable order: the CLI prints errors as one sentence.
	return errors.New(strings.Join(errs, "; "))
}

// pointsAtSelf reports whether base's host:port is the listen address, which would
// send every request back into the gateway forever.
func pointsAtSelf(base, listen string) bool {
	u, err := url.Parse(base)
	if err != nil || u.Port() == "" {
		return false
	}
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil || lp != u.Port() {
		return false
	}
	same := func(h string) bool {
		return h == "localhost" || h == "" || h == "0.0.0.0" || h == "::" || net.ParseIP(h).IsLoopback()
	}
	return u.Hostname() == lh || (same(u.Hostname()) && same(lh))
}

// IsLoopback reports whether addr's host is a loopback address or localhost.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// oneOf joins names as "a, b, c or d" for an error message.
func oneOf(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func (c *Config) validateTelemetry(add func(string, ...any)) {
	t := c.Telemetry
	switch t.Protocol {
	case ProtocolHTTP, ProtocolGRPC:
	default:
		add("telemetry.protocol %q: want http/protobuf or grpc", t.Protocol)
	}
	for _, e := range []struct{ name, v string }{{"telemetry.endpoint", t.Endpoint}, {"telemetry.traces_endpoint", t.TracesEndpoint}} {
		if e.v == "" {
			continue
		}
		if u, err := url.Parse(e.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%s %q must be a URL starting with http:// or https://", e.name, e.v)
		}
	}
	if !slices.Contains(Samplers, t.Sampler) {
		add("telemetry.sampler %q: want one of %s", t.Sampler, strings.Join(Samplers, ", "))
	}
	if t.SamplerArg < 0 || t.SamplerArg > 1 {
		add("telemetry.sampler_arg must be between 0 and 1, got %g", t.SamplerArg)
	}
}
