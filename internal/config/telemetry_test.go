package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTelemetryEnvOverridesFile: the OTEL_* variables win over [telemetry] like every
// other variable, and header lists merge (the file's keys survive unless overridden).
func TestTelemetryEnvOverridesFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.toml")
	src := "[telemetry]\nendpoint = \"http://file:4318\"\nservice_name = \"from-file\"\n" +
		"headers = { x-file = \"f\", authorization = \"${TOKEN}\" }\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(Options{Home: dir, ConfigFile: file, Getenv: env(map[string]string{
		"TOKEN":                       "Bearer file-secret",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318",
		"OTEL_EXPORTER_OTLP_HEADERS":  "authorization=Basic%20abc=,x-env=e",
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment=dev",
	})})
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.Telemetry
	if !tc.Enabled() || tc.Endpoint != "http://env:4318" || tc.ServiceName != "from-file" {
		t.Fatalf("telemetry = %+v", tc)
	}
	if tc.Headers["authorization"] != "Basic abc=" || tc.Headers["x-file"] != "f" || tc.Headers["x-env"] != "e" {
		t.Fatalf("headers = %v", tc.Headers)
	}
	if tc.ResourceAttributes["deployment.environment"] != "dev" {
		t.Fatalf("resource attributes = %v", tc.ResourceAttributes)
	}
	out, _ := cfg.Redacted().TOML()
	if strings.Contains(out, "Basic abc=") {
		t.Fatalf("redacted config shows the collector credential:\n%s", out)
	}
	off, err := Load(Options{Home: dir, ConfigFile: file, Getenv: env(map[string]string{"OTEL_SDK_DISABLED": "true"})})
	if err != nil {
		t.Fatal(err)
	}
	if off.Telemetry.Enabled() {
		t.Fatal("OTEL_SDK_DISABLED=true left tracing on")
	}
}

func TestTelemetryValidation(t *testing.T) {
	for _, kv := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
		{"OTEL_TRACES_SAMPLER": "sometimes"},
		{"OTEL_TRACES_SAMPLER_ARG": "2"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"},
		{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
	} {
		if _, err := Load(Options{Home: t.TempDir(), Getenv: env(kv)}); err == nil {
			t.Errorf("%v: loaded without error", kv)
		}
	}
}

func TestPropagatesTraceDefaults(t *testing.T) {
	no := false
	for _, c := range []struct {
		p    Provider
		want bool
	}{
		{Provider{Kind: KindOpenAI}, true},
		{Provider{Kind: KindMock}, true},
		{Provider{Kind: KindAnthropic}, false},
		{Provider{Kind: KindOpenAI, PropagateTrace: &no}, false},
	} {
		if got := c.p.PropagatesTrace(); got != c.want {
			t.Errorf("%+v: PropagatesTrace = %v, want %v", c.p, got, c.want)
		}
	}
}
