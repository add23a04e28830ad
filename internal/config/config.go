// Package config loads Runestone's configuration: built-in defaults, then config.toml
// (strict: unknown keys are errors naming key and line), then environment variables,
// then command-line flags.
package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/resilience"
)

// Config is the effective configuration.
type Config struct {
	Server    Server           `toml:"server" comment:"The HTTP listener."`
	Auth      Auth             `toml:"auth"`
	Store     Store            `toml:"store" comment:"Where keys and the request log live."`
	Limits    Limits           `toml:"limits" comment:"Defaults for every key that has no limits of its own."`
	Router    Router           `toml:"router"`
	Breaker   Breaker          `toml:"breaker"`
	Log       Log              `toml:"log"`
	Telemetry Telemetry        `toml:"telemetry"`
	Record    Record           `toml:"record"`
	Replay    Replay           `toml:"replay"`
	Providers []Provider       `toml:"providers"`
	Routes    []Route          `toml:"routes"`
	Pricing   map[string]Price `toml:"pricing"`

	// Resolved at load time, never read from the file.
	Home      string `toml:"-"` // home folder (config.toml, runestone.db)
	File      string `toml:"-"` // the config file read, "" when none
	LogFormat string `toml:"-"` // text | json
	// ZeroConfig is true when no provider was configured anywhere: the mock answers every model.
	ZeroConfig bool `toml:"-"`
	// UnsetSecretVars are the ${VAR}s the secret-holding fields name that were unset
	// when loading: a secret this process does not know (logs export refuses to
	// scrub without it).
	UnsetSecretVars []string `toml:"-"`
	// ProvidersFromFile is true when config.toml has [[providers]]: they are then the
	// whole set (the environment's OPENAI_API_KEY/ANTHROPIC_API_KEY and the mock are
	// not added), which serve's banner says out loud.
	ProvidersFromFile bool `toml:"-"`
}

// Server configures the listener.
type Server struct {
	Addr              string   `toml:"addr"`
	MaxBodyBytes      int64    `toml:"max_body_bytes"`
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	ReadBodyTimeout   Duration `toml:"read_body_timeout"`
	ShutdownTimeout   Duration `toml:"shutdown_timeout"`
	// AllowedHosts and AllowedOrigins open the Host and browser-Origin checks (see
	// docs/security.md); MaxConnections caps open client connections; IdleTimeout
	// closes idle keep-alive connections; MaxEventBytes caps one upstream SSE line.
	AllowedHosts   []string `toml:"allowed_hosts"`
	AllowedOrigins []string `toml:"allowed_origins"`
	MaxConnections int      `toml:"max_connections"`
	IdleTimeout    Duration `toml:"idle_timeout"`
	MaxEventBytes  int      `toml:"max_event_bytes"`
}

// Auth configures client authentication.
type Auth struct {
	Enabled  bool     `toml:"enabled"`
	Keys     []string `toml:"keys"`
	AdminKey string   `toml:"admin_key"`
}

// Store chooses the database: the embedded SQLite file, or a PostgreSQL shared by
// several replicas.
type Store struct {
	Driver string `toml:"driver"`
	DSN    string `toml:"dsn"`
}

// Limits are the default per-key limits (0 means unlimited) and where they are kept.
type Limits struct {
	RPM          int      `toml:"rpm"`
	RPH          int      `toml:"rph"`
	TPM          int      `toml:"tpm"`
	Concurrent   int      `toml:"concurrent"`
	Queue        int      `toml:"queue"`
	QueueTimeout Duration `toml:"queue_timeout"`
	Backend      string   `toml:"backend"`
	RedisURL     string   `toml:"redis_url"`
	OnRedisError string   `toml:"on_redis_error"`
	LeaseTTL     Duration `toml:"lease_ttl"`
	// RedisPrefix namespaces the limiter's Redis keys ("runestone:" when empty); not
	// in config.toml: tests use it to share one Redis.
	RedisPrefix string `toml:"-"`
}

// Store drivers and limit backends.
const (
	StoreSQLite    = "sqlite"
	StorePostgres  = "postgres"
	LimitsMemory   = "memory"
	LimitsRedis    = "redis"
	RedisFailOpen  = "fail-open"
	RedisFailClose = "fail-closed"
)

// Router configures target ordering and retries.
type Router struct {
	Policy      string   `toml:"policy"`
	Retries     int      `toml:"retries"`
	BackoffBase Duration `toml:"backoff_base"`
	BackoffMax  Duration `toml:"backoff_max"`
}

// Breaker configures the per-provider circuit breakers.
type Breaker struct {
	FailureThreshold int      `toml:"failure_threshold"`
	Cooldown         Duration `toml:"cooldown"`
	HalfOpenMax      int      `toml:"half_open_max"`
}

// Log configures the request log.
type Log struct {
	CaptureBodies  bool     `toml:"capture_bodies"`
	MaxBodyCapture int      `toml:"max_body_capture"`
	Retention      Duration `toml:"retention"`
}

// Record turns on recording: every exchange becomes a cassette file (see
// docs/record-replay.md).
type Record struct {
	Dir      string `toml:"dir"`
	MaxBytes int64  `toml:"max_bytes"`
	UseUmask bool   `toml:"use_umask"`
}

// Replay answers matching requests from recorded cassettes instead of providers.
type Replay struct {
	Dir         string   `toml:"dir"`
	Strict      bool     `toml:"strict"`
	Speed       float64  `toml:"speed"`
	MatchIgnore []string `toml:"match_ignore"`
	// Normalize are regex rewrites of every string in a request body before matching
	// and diffing, on top of the built-in agent rules (docs/record-replay.md).
	Normalize []NormalizeRule `toml:"normalize"`
	// MaxFileBytes caps one cassette file read (a folder may come from a stranger).
	MaxFileBytes int64 `toml:"max_file_bytes"`
}

// NormalizeRule replaces what Pattern (Go regexp) matches with Replace (${1} names a group).
type NormalizeRule struct {
	Pattern string `toml:"pattern"`
	Replace string `toml:"replace"`
}

// Provider is one upstream.
type Provider struct {
	Name        string            `toml:"name"`
	Kind        string            `toml:"kind"`
	BaseURL     string            `toml:"base_url"`
	APIKey      string            `toml:"api_key"`
	Models      []string          `toml:"models"`
	Priority    int               `toml:"priority"`
	Timeout     Duration          `toml:"timeout"`
	Headers     map[string]string `toml:"headers"`
	HealthCheck Duration          `toml:"health_check"`
	// APIs lists the inbound dialects the upstream serves natively and gets relayed byte
	// for byte ("chat", "responses" for kind openai); others are translated through chat.
	APIs []string `toml:"apis"`
	// PropagateTrace sends the W3C trace context (traceparent, tracestate, baggage) to
	// this upstream while tracing is on; nil = the kind's default (see PropagatesTrace).
	PropagateTrace *bool `toml:"propagate_trace"`
}

// ServesResponses reports whether an openai-kind provider natively serves the Responses
// API: as configured by apis, else only OpenAI's own API (compatible servers such as
// Ollama or vLLM mostly speak chat only).
func (p Provider) ServesResponses() bool {
	if p.APIs != nil {
		return slices.Contains(p.APIs, "responses")
	}
	return p.Kind == KindOpenAI && strings.Contains(p.BaseURL, "://api.openai.com")
}

// PropagatesTrace reports whether upstream requests carry the trace context. Unset, it
// is on for kind openai (vLLM and other OpenAI-compatible servers join the trace) and
// the mock, and off for anthropic: its API has no use for the ids, and a client's
// trace ids are not sent to a third party unless asked.
func (p Provider) PropagatesTrace() bool {
	if p.PropagateTrace != nil {
		return *p.PropagateTrace
	}
	return p.Kind != KindAnthropic
}

// Telemetry configures OpenTelemetry export (traces and GenAI metrics over OTLP).
// It is on when Endpoint or TracesEndpoint is set; the standard OTEL_* variables
// override these keys like every other environment variable.
type Telemetry struct {
	Endpoint           string            `toml:"endpoint"`
	TracesEndpoint     string            `toml:"traces_endpoint"`
	Protocol           string            `toml:"protocol"`
	Headers            map[string]string `toml:"headers"`
	ServiceName        string            `toml:"service_name"`
	ResourceAttributes map[string]string `toml:"resource_attributes"`
	Sampler            string            `toml:"sampler"`
	SamplerArg         float64           `toml:"sampler_arg"`
	CaptureContent     bool              `toml:"capture_content"`
}

// Enabled reports whether spans are exported.
func (t Telemetry) Enabled() bool { return t.Endpoint != "" || t.TracesEndpoint != "" }

// OTLP protocols and samplers (the names OTEL_EXPORTER_OTLP_PROTOCOL and
// OTEL_TRACES_SAMPLER use).
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Samplers lists the accepted sampler names.
var Samplers = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// Route maps a client-facing model name to several "provider:model" targets.
type Route struct {
	Model   string   `toml:"model"`
	Targets []string `toml:"targets"`
}

// Price is USD per million tokens. A cache rate left out (or 0) is unknown: a
// request that read or wrote the cache is then recorded with an unknown cost.
type Price struct {
	Input        float64 `toml:"input"`
	Output       float64 `toml:"output"`
	CacheRead    float64 `toml:"cache_read,omitempty"`
	CacheWrite   float64 `toml:"cache_write,omitempty"`
	CacheWrite1h float64 `toml:"cache_write_1h,omitempty"`
	// A prompt above LongAbove tokens bills every token at the long_* rates.
	LongAbove        int     `toml:"long_above,omitempty"`
	LongInput        float64 `toml:"long_input,omitempty"`
	LongOutput       float64 `toml:"long_output,omitempty"`
	LongCacheRead    float64 `toml:"long_cache_read,omitempty"`
	LongCacheWrite   float64 `toml:"long_cache_write,omitempty"`
	LongCacheWrite1h float64 `toml:"long_cache_write_1h,omitempty"`
	// Priority and Flex multiply every rate on those service tiers (0 = unknown).
	Priority float64 `toml:"priority,omitempty"`
	Flex     float64 `toml:"flex,omitempty"`
	// WebSearch is USD per server-side web search call.
	WebSearch float64 `toml:"web_search,omitempty"`
}

// Provider kinds.
const (
	KindOpenAI    = "openai"
	KindAnthropic = "anthropic"
	KindMock      = "mock"
)

// Built-in defaults, named so docs and code agree.
const (
	DefaultAddr             = "127.0.0.1:4001"
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1"
	DefaultAnthropicBaseURL = "https://api.anthropic.com"
)

// Default returns the built-in configuration.
func Default() *Config {
	return &Config{
		Server: Server{
			Addr:              DefaultAddr,
			MaxBodyBytes:      10 << 20,
			ReadHeaderTimeout: Duration{10 * time.Second},
			ReadBodyTimeout:   Duration{60 * time.Second},
			ShutdownTimeout:   Duration{30 * time.Second},
			AllowedHosts:      []string{},
			AllowedOrigins:    []string{},
			MaxConnections:    1024,
			IdleTimeout:       Duration{120 * time.Second},
			MaxEventBytes:     8 << 20,
		},
		Auth:  Auth{Enabled: true, Keys: []string{}},
		Store: Store{Driver: StoreSQLite},
		Limits: Limits{RPM: 3500, RPH: 90000, TPM: 0, Concurrent: 10, Queue: 100, QueueTimeout: Duration{30 * time.Second},
			Backend: LimitsMemory, OnRedisError: RedisFailClose, LeaseTTL: Duration{30 * time.Second}},
		Router: Router{Policy: resilience.PolicyDefault, Retries: resilience.DefaultRetries,
			BackoffBase: Duration{resilience.DefaultBackoffBase}, BackoffMax: Duration{resilience.DefaultBackoffMax}},
		Breaker: Breaker{FailureThreshold: resilience.DefaultFailureThreshold, Cooldown: Duration{resilience.DefaultCooldown},
			HalfOpenMax: resilience.DefaultHalfOpenMax},
		Log: Log{CaptureBodies: true, MaxBodyCapture: 65536, Retention: Duration{168 * time.Hour}},
		Telemetry: Telemetry{Protocol: ProtocolHTTP, Headers: map[string]string{}, ServiceName: "runestone",
			ResourceAttributes: map[string]string{}, Sampler: "parentbased_always_on", SamplerArg: 1},
		Record:  Record{MaxBytes: 16 << 20},
		Replay:  Replay{MatchIgnore: []string{}, MaxFileBytes: 64 << 20},
		Pricing: map[string]Price{},
	}
}

// Duration is a time.Duration written as a string ("30s") in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. \"30s\", \"5m\")", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
