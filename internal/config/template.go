package config

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Template is the commented config.toml that `runestone config init` writes. Every
// active key holds its built-in default (a test keeps them in step with Default).
const Template = `# Runestone configuration. Precedence: flags > environment > this file > defaults.
# Durations are strings such as "30s" or "5m". ${VAR} expands from the environment.

[server]
addr = "127.0.0.1:4001"          # listen address (PORT / RUNESTONE_ADDR override)
max_body_bytes = 10485760        # larger request bodies get 413
read_header_timeout = "10s"
read_body_timeout = "60s"        # longest a client may take to send its request body (then 408)
shutdown_timeout = "30s"         # graceful drain of in-flight requests and streams
allowed_hosts = []               # Host names answered besides localhost, 127.0.0.1, [::1] (e.g. a proxy's name); others get 403
allowed_origins = []             # browser origins answered with CORS (e.g. "http://localhost:5173"); other web pages get 403
max_connections = 1024           # open client connections at once; more wait in the kernel's backlog
idle_timeout = "120s"            # idle keep-alive client connections are closed after this
max_event_bytes = 8388608        # one upstream stream line larger than this ends the stream with a 502 error event

[auth]
enabled = true                   # RUNESTONE_AUTH_ENABLED
keys = []                        # static client keys, besides keys made with 'runestone keys create'
admin_key = ""                   # bearer key for /admin/*, /metrics, /health/*; once set, required from every client

[store]
driver = "sqlite"                # sqlite (runestone.db in the home folder) | postgres (shared by several replicas)
dsn = ""                         # postgres URL, e.g. "${DATABASE_URL}"; empty = the DATABASE_URL variable

[limits]                         # defaults for every key without limits of its own; 0 = unlimited
rpm = 3500
rph = 90000
tpm = 0
concurrent = 10
queue = 100                      # overflow queue per key when 'concurrent' is full; 0 = reject at once
queue_timeout = "30s"
backend = "memory"               # memory (this process) | redis (shared by several replicas)
redis_url = ""                   # e.g. "redis://127.0.0.1:6379/0" when backend = "redis"
on_redis_error = "fail-closed"   # while Redis is unreachable: fail-closed (503) | fail-open (admit without limits)
lease_ttl = "30s"                # a concurrency slot held by a replica that died frees after this (redis)

[router]
policy = "default"               # default (priority) | cost | latency | round-robin
retries = 2                      # extra attempts on the same provider for 5xx and connection errors (a 429 fails over, never retried)
backoff_base = "200ms"           # exponential with full jitter, honouring upstream Retry-After
backoff_max = "5s"

[breaker]
failure_threshold = 5            # consecutive failures that open a provider's breaker
cooldown = "30s"                 # open -> half-open after this
half_open_max = 1                # probes allowed while half-open

[log]
capture_bodies = true            # keep request/response bodies in the request log
max_body_capture = 65536         # bytes kept per body
retention = "168h"

[telemetry]                      # OpenTelemetry traces and GenAI metrics over OTLP; off while no endpoint is set
endpoint = ""                    # collector base URL, e.g. "http://127.0.0.1:4318" (/v1/traces and /v1/metrics are added)
traces_endpoint = ""             # full URL for spans only, used as is (overrides endpoint for traces)
protocol = "http/protobuf"       # http/protobuf | grpc (then e.g. "http://127.0.0.1:4317")
headers = {}                     # sent with every export, e.g. { Authorization = "Basic ${LANGFUSE_AUTH}" }
service_name = "runestone"
resource_attributes = {}         # extra resource attributes, e.g. { "deployment.environment" = "dev" }
sampler = "parentbased_always_on"  # always_on | always_off | traceidratio | parentbased_always_on | parentbased_always_off | parentbased_traceidratio
sampler_arg = 1.0                # sampling ratio for the traceidratio samplers
capture_content = false          # export prompt and completion text (capped at log.max_body_capture, provider secrets removed)
[record]                         # record every exchange as a cassette file (see docs/record-replay.md)
dir = ""                         # folder to write cassettes into; empty = off
max_bytes = 16777216             # one exchange bigger than this is not recorded (the client's answer goes on; the reason is logged)
use_umask = false                # write files and a new folder with the umask instead of 0600 and 0700

[replay]                         # answer matching requests from recorded cassettes, before routing
dir = ""                         # folder of cassettes; empty = off
strict = false                   # a request no cassette matches gets 4xx cassette_miss instead of a provider's answer
speed = 0.0                      # stream pace: 0 = as fast as possible, 1 = as recorded
max_file_bytes = 67108864        # a cassette file bigger than this is refused (cassettes are untrusted input)
match_ignore = []                # extra JSON paths matching ignores, e.g. "$.messages[0].content"
# normalize = []                # regex rewrites of request text before matching: [[replay.normalize]] below
# [[replay.normalize]]           # rewrite volatile text before matching, on top of the built-in agent rules
# pattern = 'build [0-9]+'       # a Go regexp, applied to every string in the request body
# replace = 'build <n>'          # ${1} names a group

# Without [[providers]], OPENAI_API_KEY / ANTHROPIC_API_KEY enable the built-in providers
# and the offline mock serves "mock" and "mock-*" (or every model when no key is set).
# With [[providers]], this list is the whole set.
#
# [[providers]]
# name = "openai"                # unique; shown in headers, logs and the dashboard
# kind = "openai"                # openai (any OpenAI-compatible API) | anthropic | mock
# base_url = "https://api.openai.com/v1"
# api_key = "${OPENAI_API_KEY}"
# models = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
# priority = 1                   # lower first under the default policy
# timeout = "120s"               # time to the upstream's response headers
# headers = {}                   # extra upstream headers
# health_check = "30s"           # optional active probe; off by default (probes spend tokens)
# apis = ["chat", "responses"]   # dialects relayed natively; default: both for api.openai.com, chat for other bases
# propagate_trace = true         # send traceparent/tracestate/baggage upstream when tracing is on; default: on for openai and mock, off for anthropic
#
# [[providers]]
# name = "ollama"
# kind = "openai"
# base_url = "http://127.0.0.1:11434/v1"
# models = ["llama3.2"]
#
# [[routes]]                     # one client-facing name served by several targets
# model = "smart"
# targets = ["anthropic:claude-sonnet-4-5", "openai:gpt-4o"]
#
# [[routes]]                     # a glob: every name it matches ('*' = any characters)
# model = "*haiku*"
# targets = ["ollama:llama3.2"]
#
# [pricing."claude-sonnet-4-5"]  # USD per million tokens; built-in prices cover common models
# input = 3.0
# output = 15.0
# cache_read = 0.30              # per million prompt tokens read from a cache
# cache_write = 3.75             # per million prompt tokens written to a 5-minute cache
# cache_write_1h = 6.0           # per million prompt tokens written to a 1-hour cache
# long_above = 200000            # a prompt above this many tokens bills every token at the long_* rates
# long_input = 6.0               # long-context rate per million uncached prompt tokens
# long_output = 22.5             # long-context rate per million completion tokens
# long_cache_read = 0.60         # long-context rate per million cached prompt tokens
# long_cache_write = 7.50        # long-context rate per million tokens written to a 5-minute cache
# long_cache_write_1h = 12.0     # long-context rate per million tokens written to a 1-hour cache
# priority = 2.0                 # multiplier of every rate on the priority service tier (unset = unknown)
# flex = 0.5                     # multiplier of every rate on the flex service tier (unset = unknown)
# web_search = 0.01              # USD per server-side web search call
`

// Redacted returns a copy safe to print: secrets show only whether they are set.
func (c *Config) Redacted() *Config {
	r := *c
	r.Auth.Keys = make([]string, len(c.Auth.Keys))
	for i, k := range c.Auth.Keys {
		r.Auth.Keys[i] = Mask(k)
	}
	r.Auth.AdminKey = Mask(c.Auth.AdminKey)
	r.Store.DSN = maskURLPassword(c.Store.DSN)
	r.Limits.RedisURL = maskURLPassword(c.Limits.RedisURL)
	r.Providers = make([]Provider, len(c.Providers))
	for i, p := range c.Providers {
		p.APIKey = Mask(p.APIKey)
		p.BaseURL = MaskURL(p.BaseURL)
		h := make(map[string]string, len(p.Headers))
		for k, v := range p.Headers {
			if isSecretHeader(k) {
				v = Mask(v)
			}
			h[k] = v
		}
		p.Headers = h
		r.Providers[i] = p
	}
	th := make(map[string]string, len(c.Telemetry.Headers))
	for k, v := range c.Telemetry.Headers {
		th[k] = Mask(v) // collector credentials (Authorization, x-api-key, ...) every time
	}
	r.Telemetry.Headers = th
	return &r
}

// Secrets lists every configured secret value, for scrubbers (cassettes): provider
// keys and secret-looking provider headers, passwords in URLs, client and admin keys.
func (c *Config) Secrets() []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	password := func(raw string) {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			p, _ := u.User.Password()
			add(p)
		}
	}
	for _, p := range c.Providers {
		add(p.APIKey)
		password(p.BaseURL)
		for k, v := range p.Headers {
			if isSecretHeader(k) {
				add(strings.TrimPrefix(v, "Bearer "))
			}
		}
	}
	for _, k := range c.Auth.Keys {
		add(k)
	}
	add(c.Auth.AdminKey)
	password(c.Store.DSN)
	password(c.Limits.RedisURL)
	return out
}

// Mask hides a secret, keeping only enough to tell keys apart.
func Mask(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) < 16:
		return "****"
	default:
		return s[:4] + "…" + s[len(s)-4:]
	}
}

func isSecretHeader(k string) bool { return IsSecretName(k) }

// IsSecretName reports a header (or query parameter) whose value is a credential:
// cookies, and any name containing key, token, secret, auth or password.
func IsSecretName(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "cookie", "set-cookie", "proxy-authorization":
		return true
	}
	for _, w := range []string{"key", "auth", "token", "secret", "password", "passwd", "signature"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// MaskURL hides the password in a URL's userinfo and the values of credential-like
// query parameters (?api_key=…). A URL that does not parse still has anything between
// "//" and "@" masked.
func MaskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.Index(s, "//"); i >= 0 {
			if j := strings.LastIndex(s[i+2:], "@"); j >= 0 {
				return s[:i+2] + "****@" + s[i+2+j+1:]
			}
		}
		return s
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "****")
		} else if u.User.Username() != "" {
			u.User = url.User("****") // a token used as the user name
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			if IsSecretName(k) {
				for i := range vs {
					vs[i] = "****"
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// TOML renders the configuration (call Redacted first when printing).
func (c *Config) TOML() (string, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(true)
	if err := enc.Encode(c); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// maskURLPassword hides the password of a postgres:// or redis:// URL.
func maskURLPassword(s string) string { return MaskURL(s) }
