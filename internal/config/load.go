package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Options are the inputs Load reads besides the file.
type Options struct {
	Home       string              // --home; "" = $RUNESTONE_HOME or ~/.runestone
	ConfigFile string              // --config; "" = <home>/config.toml if it exists
	Addr       string              // --addr
	LogFormat  string              // --log-format
	Getenv     func(string) string // nil = os.Getenv
}

// FileName is the config file inside the home folder.
const FileName = "config.toml"

// Load builds the effective configuration: defaults < config.toml < env < flags.
func Load(o Options) (*Config, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := Default()
	home, err := ResolveHome(o.Home, getenv)
	if err != nil {
		return nil, err
	}
	cfg.Home = home

	file := o.ConfigFile
	explicit := file != ""
	if !explicit {
		file = filepath.Join(home, FileName)
	}
	data, err := os.ReadFile(file)
	switch {
	case err == nil:
		if err := decodeStrict(file, data, cfg); err != nil {
			return nil, err
		}
		cfg.File = file
	case errors.Is(err, os.ErrNotExist) && !explicit:
	default:
		return nil, fmt.Errorf("read config: %w", err)
	}
	fileProviders := len(cfg.Providers) > 0
	cfg.ProvidersFromFile = fileProviders

	if err := applyEnv(cfg, getenv); err != nil {
		return nil, err
	}
	if o.Addr != "" {
		cfg.Server.Addr = o.Addr
	}
	cfg.LogFormat = cmp.Or(o.LogFormat, getenv("RUNESTONE_LOG_FORMAT"), "text")

	expandSecrets(cfg, getenv)
	if !fileProviders {
		cfg.Providers, cfg.ZeroConfig = builtinProviders(getenv)
	}
	for i := range cfg.Providers {
		fillProviderDefaults(&cfg.Providers[i])
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ResolveHome returns --home, else $RUNESTONE_HOME, else ~/.runestone, as an absolute path.
func ResolveHome(flag string, getenv func(string) string) (string, error) {
	home := cmp.Or(flag, getenv("RUNESTONE_HOME"))
	if home == "" {
		uh, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find home folder: %w (set RUNESTONE_HOME or --home)", err)
		}
		home = filepath.Join(uh, ".runestone")
	}
	return filepath.Abs(home)
}

// decodeStrict decodes TOML, turning unknown keys into an error naming key and line.
func decodeStrict(file string, data []byte, cfg *Config) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(cfg)
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		var msgs []string
		for _, e := range strict.Errors {
			row, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("%s:%d: unknown key %q", file, row, strings.Join(e.Key(), ".")))
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Errorf("%s:%d:%d: %s", file, row, col, decodeMessage(de, data, row))
	}
	if m := badDuration.FindStringSubmatch(fmt.Sprint(err)); m != nil {
		// go-toml gives no position for a bare number turned duration: find the line.
		for i, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.Trim(strings.TrimSpace(v), `"'`) == m[1] {
				return fmt.Errorf("%s:%d: %s should be a duration in quotes, e.g. \"30s\" or \"5m\", not %s",
					file, i+1, strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

var badDuration = regexp.MustCompile(`invalid duration "([^"]*)"`)

// typeMismatch matches go-toml's "cannot decode TOML string into struct field
// config.Limits.RPM of type int", which names Go types rather than the file's keys.
var typeMismatch = regexp.MustCompile(`cannot decode TOML (\w+) into (?:struct field \S+|a Go value) of type (\S+)`)

// goTypeWords says a Go field type the way the configuration documents it.
var goTypeWords = map[string]string{"int": "a whole number", "int64": "a whole number", "float64": "a number",
	"bool": "true or false", "string": "a quoted string", "[]string": "a list of strings, e.g. [\"a\", \"b\"]",
	"config.Duration": "a duration in quotes, e.g. \"30s\" or \"5m\"", "map[string]string": "a table of strings"}

// decodeMessage is a decode error in the file's words: the key as written and what it
// wants ("limits.rpm wants a whole number, not a string"), not Go struct paths.
func decodeMessage(de *toml.DecodeError, data []byte, row int) string {
	key := strings.Join(de.Key(), ".")
	if key == "" {
		key = keyOnLine(data, row)
	}
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	if m := typeMismatch.FindStringSubmatch(msg); m != nil {
		want := goTypeWords[m[2]]
		if want == "" {
			want = "another type"
		}
		if key == "" {
			return fmt.Sprintf("this value is a TOML %s; it should be %s", m[1], want)
		}
		return fmt.Sprintf("%s should be %s, not a TOML %s", key, want, m[1])
	}
	if key != "" && !strings.Contains(msg, key) {
		return key + ": " + msg
	}
	return msg
}

// keyOnLine returns the key assigned on a 1-based line ("rpm" for "rpm = 3"), or "".
func keyOnLine(data []byte, row int) string {
	lines := strings.Split(string(data), "\n")
	if row < 1 || row > len(lines) {
		return ""
	}
	k, _, ok := strings.Cut(lines[row-1], "=")
	if !ok {
		return ""
	}
	return strings.TrimSpace(k)
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	if v := getenv("RUNESTONE_ADDR"); v != "" {
		cfg.Server.Addr = v
	} else if v := getenv("PORT"); v != "" {
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("PORT=%q is not a port number", v)
		}
		host, _, err := net.SplitHostPort(cfg.Server.Addr)
		if err != nil {
			host = "127.0.0.1"
		}
		cfg.Server.Addr = net.JoinHostPort(host, v)
	}
	if v := getenv("RUNESTONE_AUTH_ENABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("RUNESTONE_AUTH_ENABLED=%q: want true or false", v)
		}
		cfg.Auth.Enabled = b
	}
	if v := getenv("RUNESTONE_API_KEYS"); v != "" {
		cfg.Auth.Keys = append(cfg.Auth.Keys, splitList(v)...)
	}
	if v := getenv("RUNESTONE_ALLOWED_HOSTS"); v != "" {
		cfg.Server.AllowedHosts = append(cfg.Server.AllowedHosts, splitList(v)...)
	}
	if v := getenv("RUNESTONE_ALLOWED_ORIGINS"); v != "" {
		cfg.Server.AllowedOrigins = append(cfg.Server.AllowedOrigins, splitList(v)...)
	}
	if v := getenv("RUNESTONE_ADMIN_KEY"); v != "" {
		cfg.Auth.AdminKey = v
	}
	for name, dst := range map[string]*int{
		"RUNESTONE_RATE_LIMIT_RPM": &cfg.Limits.RPM,
		"RUNESTONE_RATE_LIMIT_RPH": &cfg.Limits.RPH,
		"RUNESTONE_RATE_LIMIT_TPM": &cfg.Limits.TPM,
		"RUNESTONE_MAX_CONCURRENT": &cfg.Limits.Concurrent,
	} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%s=%q: want a whole number >= 0", name, v)
			}
			*dst = n
		}
	}
	if v := getenv("RUNESTONE_ROUTER_POLICY"); v != "" {
		cfg.Router.Policy = v
	}
	if v := getenv("RUNESTONE_STORE_DRIVER"); v != "" {
		cfg.Store.Driver = v
	}
	if v := getenv("RUNESTONE_STORE_DSN"); v != "" {
		cfg.Store.DSN = v
	}
	if v := getenv("RUNESTONE_LIMITS_BACKEND"); v != "" {
		cfg.Limits.Backend = v
	}
	if v := getenv("RUNESTONE_REDIS_URL"); v != "" {
		cfg.Limits.RedisURL = v
	}
	if v := getenv("RUNESTONE_ON_REDIS_ERROR"); v != "" {
		cfg.Limits.OnRedisError = v
	}
	if v := getenv("RUNESTONE_RECORD"); v != "" {
		cfg.Record.Dir = v
	}
	if v := getenv("RUNESTONE_REPLAY"); v != "" {
		cfg.Replay.Dir = v
	}
	if v := getenv("RUNESTONE_REPLAY_STRICT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("RUNESTONE_REPLAY_STRICT=%q: want true or false", v)
		}
		cfg.Replay.Strict = b
	}
	return applyOTelEnv(&cfg.Telemetry, getenv)
}

// applyOTelEnv reads the standard OpenTelemetry variables into [telemetry], so the
// exporters are built from one merged configuration (env wins, as everywhere) rather
// than each SDK component reading the environment on its own.
func applyOTelEnv(t *Telemetry, getenv func(string) string) error {
	if v := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
		t.Endpoint = v
	}
	if v := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		t.TracesEndpoint = v
	}
	if v := cmp.Or(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL")); v != "" {
		t.Protocol = v
	}
	if v := getenv("OTEL_EXPORTER_OTLP_HEADERS"); v != "" {
		if t.Headers == nil {
			t.Headers = map[string]string{}
		}
		if err := parseKVList("OTEL_EXPORTER_OTLP_HEADERS", v, t.Headers); err != nil {
			return err
		}
	}
	if v := getenv("OTEL_SERVICE_NAME"); v != "" {
		t.ServiceName = v
	}
	if v := getenv("OTEL_RESOURCE_ATTRIBUTES"); v != "" {
		if t.ResourceAttributes == nil {
			t.ResourceAttributes = map[string]string{}
		}
		if err := parseKVList("OTEL_RESOURCE_ATTRIBUTES", v, t.ResourceAttributes); err != nil {
			return err
		}
	}
	if v := getenv("OTEL_TRACES_SAMPLER"); v != "" {
		t.Sampler = v
	}
	if v := getenv("OTEL_TRACES_SAMPLER_ARG"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a number between 0 and 1", v)
		}
		t.SamplerArg = f
	}
	if v := getenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=%q: want true or false", v)
		}
		t.CaptureContent = b
	}
	if v := getenv("OTEL_SDK_DISABLED"); strings.EqualFold(v, "true") {
		t.Endpoint, t.TracesEndpoint = "", ""
	}
	return nil
}

// parseKVList merges "k1=v1,k2=v2" (values percent-encoded, as the OTel spec writes
// OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES) into dst.
func parseKVList(name, s string, dst map[string]string) error {
	for _, item := range strings.Split(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return fmt.Errorf("%s: %q is not key=value", name, strings.TrimSpace(item))
		}
		if dv, err := url.PathUnescape(strings.TrimSpace(v)); err == nil {
			v = dv
		}
		dst[k] = strings.TrimSpace(v)
	}
	return nil
}

// expandSecrets expands ${VAR} in the string fields that commonly hold them.
func expandSecrets(cfg *Config, getenv func(string) string) {
	exp := func(s string) string {
		return expandVars(s, func(name string) string {
			v := getenv(name)
			if v == "" && !slices.Contains(cfg.UnsetSecretVars, name) {
				cfg.UnsetSecretVars = append(cfg.UnsetSecretVars, name)
			}
			return v
		})
	}
	cfg.Auth.AdminKey = exp(cfg.Auth.AdminKey)
	cfg.Store.DSN = exp(cfg.Store.DSN)
	if cfg.Store.DSN == "" && cfg.Store.Driver == StorePostgres {
		cfg.Store.DSN = getenv("DATABASE_URL")
	}
	cfg.Limits.RedisURL = exp(cfg.Limits.RedisURL)
	for i, k := range cfg.Auth.Keys {
		cfg.Auth.Keys[i] = exp(k)
	}
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		p.APIKey, p.BaseURL = exp(p.APIKey), exp(p.BaseURL)
		for k, v := range p.Headers {
			p.Headers[k] = exp(v)
		}
	}
	for k, v := range cfg.Telemetry.Headers {
		cfg.Telemetry.Headers[k] = exp(v)
	}
}

// expandVars replaces ${VAR} (only the braced form, so "$" in secrets survives).
func expandVars(s string, getenv func(string) string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(getenv(s[i+2 : i+j]))
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

// builtinProviders enables openai and anthropic from the environment, plus the mock.
func builtinProviders(getenv func(string) string) ([]Provider, bool) {
	var ps []Provider
	if k := getenv("OPENAI_API_KEY"); k != "" {
		ps = append(ps, Provider{Name: "openai", Kind: KindOpenAI, APIKey: k,
			BaseURL: cmp.Or(getenv("OPENAI_BASE_URL"), DefaultOpenAIBaseURL), Priority: 1})
	}
	if k := getenv("ANTHROPIC_API_KEY"); k != "" {
		ps = append(ps, Provider{Name: "anthropic", Kind: KindAnthropic, APIKey: k,
			BaseURL: cmp.Or(getenv("ANTHROPIC_BASE_URL"), DefaultAnthropicBaseURL), Priority: 2})
	}
	zero := len(ps) == 0
	// The mock serves "mock" and "mock-*" beside real providers, everything without them.
	ps = append(ps, Provider{Name: "mock", Kind: KindMock, Priority: 100})
	return ps, zero
}

func fillProviderDefaults(p *Provider) {
	if p.Timeout.Duration == 0 {
		p.Timeout.Duration = 120 * time.Second
	}
	if p.Kind == KindOpenAI && p.BaseURL == "" {
		p.BaseURL = DefaultOpenAIBaseURL
	}
	if p.Kind == KindAnthropic && p.BaseURL == "" {
		p.BaseURL = DefaultAnthropicBaseURL
	}
	p.BaseURL = strings.TrimRight(p.BaseURL, "/")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
