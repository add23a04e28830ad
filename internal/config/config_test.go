package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestTemplateMatchesDefaults(t *testing.T) {
	got := &Config{}
	if err := decodeStrict("template", []byte(Template), got); err != nil {
		t.Fatal(err)
	}
	want := Default()
	got.Pricing = want.Pricing
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("template decodes to\n%+v\nwant defaults\n%+v", got, want)
	}
}

func TestZeroConfigUsesMock(t *testing.T) {
	cfg, err := Load(Options{Home: t.TempDir(), Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ZeroConfig || len(cfg.Providers) != 1 || cfg.Providers[0].Kind != KindMock {
		t.Fatalf("providers = %+v, zero = %v", cfg.Providers, cfg.ZeroConfig)
	}
	if cfg.Server.Addr != DefaultAddr || cfg.File != "" {
		t.Fatalf("addr %q file %q", cfg.Server.Addr, cfg.File)
	}
}

func TestPrecedenceFlagsEnvFileDefaults(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, FileName), `
[server]
addr = "127.0.0.1:5000"
[limits]
rpm = 10
rph = 20
[router]
retries = 7
`)
	cfg, err := Load(Options{Home: home, Getenv: env(map[string]string{
		"PORT": "6000", "RUNESTONE_RATE_LIMIT_RPM": "30", "OPENAI_API_KEY": "sk-test-1234567890abcdef",
		"OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
	})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Addr != "127.0.0.1:6000" {
		t.Errorf("PORT should override file: %q", cfg.Server.Addr)
	}
	if cfg.Limits.RPM != 30 || cfg.Limits.RPH != 20 || cfg.Router.Retries != 7 || cfg.Limits.Concurrent != 10 {
		t.Errorf("limits %+v router %+v", cfg.Limits, cfg.Router)
	}
	if cfg.ZeroConfig || cfg.Providers[0].Name != "openai" || cfg.Providers[0].BaseURL != "http://127.0.0.1:9/v1" {
		t.Errorf("providers %+v", cfg.Providers)
	}
	cfg, err = Load(Options{Home: home, Addr: "127.0.0.1:7000", Getenv: env(map[string]string{"PORT": "6000"})})
	if err != nil || cfg.Server.Addr != "127.0.0.1:7000" {
		t.Fatalf("flag should win: %v %v", cfg.Server.Addr, err)
	}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, FileName), "[server]\naddr = \"127.0.0.1:1\"\n\n[limits]\nrpmm = 5\n")
	_, err := Load(Options{Home: home, Getenv: env(nil)})
	if err == nil || !strings.Contains(err.Error(), `:5: unknown key "limits.rpmm"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestProvidersFromFileAreTheWholeSetAndExpandVars(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, FileName), `
[[providers]]
name = "local"
kind = "openai"
base_url = "http://127.0.0.1:11434/v1/"
api_key = "${LOCAL_KEY}"
models = ["llama3"]
timeout = "5s"
`)
	cfg, err := Load(Options{Home: home, Getenv: env(map[string]string{"LOCAL_KEY": "secret-value-123456", "OPENAI_API_KEY": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 1 || cfg.Providers[0].APIKey != "secret-value-123456" ||
		cfg.Providers[0].BaseURL != "http://127.0.0.1:11434/v1" || cfg.Providers[0].Timeout.Duration != 5*time.Second {
		t.Fatalf("providers %+v", cfg.Providers)
	}
	out, err := cfg.Redacted().TOML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "secret-value-123456") || !strings.Contains(out, "secr…3456") {
		t.Fatalf("redacted output leaks or lacks mask:\n%s", out)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"bad policy", "[router]\npolicy = \"fastest\"\n", "router.policy"},
		{"negative", "[limits]\nrpm = -1\n", "limits.rpm"},
		{"bad duration", "[breaker]\ncooldown = \"soon\"\n", "invalid duration"},
		{"bad kind", "[[providers]]\nname = \"x\"\nkind = \"gemini\"\nbase_url = \"http://a\"\n", "kind"},
		{"route target", "[[providers]]\nname = \"m\"\nkind = \"mock\"\n[[routes]]\nmodel = \"s\"\ntargets = [\"nope:x\"]\n", "route"},
		{"glob target", "[[providers]]\nname = \"m\"\nkind = \"mock\"\n[[routes]]\nmodel = \"s\"\ntargets = [\"m:claude-*\"]\n", "must name one model"},
		{"duplicate route", "[[providers]]\nname = \"m\"\nkind = \"mock\"\n[[routes]]\nmodel = \"c-*\"\ntargets = [\"m:a\"]\n[[routes]]\nmodel = \"c-*\"\ntargets = [\"m:b\"]\n", "two routes"},
		{"negative price", "[pricing.\"x\"]\ninput = 1\ncache_read = -1\n", "pricing \"x\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			writeFile(t, filepath.Join(home, FileName), tt.file)
			_, err := Load(Options{Home: home, Getenv: env(nil)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "localhost:1": true, "[::1]:1": true, "0.0.0.0:1": false, "10.0.0.1:1": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) != %v", addr, want)
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestProviderPointingAtTheGatewayIsRefused(t *testing.T) {
	_, err := Load(Options{Home: t.TempDir(), Getenv: env(map[string]string{
		"OPENAI_API_KEY": "sk-rs-abcdefghijklmnop", "OPENAI_BASE_URL": "http://localhost:4001/v1"})})
	if err == nil || !strings.Contains(err.Error(), "own address") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(Options{Home: t.TempDir(), Addr: "127.0.0.1:5000", Getenv: env(map[string]string{
		"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:4001/v1"})}); err != nil {
		t.Fatalf("another port is fine: %v", err)
	}
}

func TestGlobRoutesAndCachePricesLoad(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, FileName), `[[providers]]
name = "m"
kind = "mock"
[[routes]]
model = "claude-*"
targets = ["m:mock"]
[[routes]]
model = "*haiku*"
targets = ["m:mock-small"]
[pricing."claude-x"]
input = 3
output = 15
cache_read = 0.3
cache_write = 3.75
cache_write_1h = 6
`)
	cfg, err := Load(Options{Home: home, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 2 || cfg.Routes[0].Model != "claude-*" || cfg.Routes[1].Model != "*haiku*" {
		t.Fatalf("routes %+v", cfg.Routes)
	}
	if p := cfg.Pricing["claude-x"]; p != (Price{Input: 3, Output: 15, CacheRead: 0.3, CacheWrite: 3.75, CacheWrite1h: 6}) {
		t.Fatalf("price %+v", p)
	}
	out, err := cfg.TOML()
	if err != nil || !strings.Contains(out, "cache_write_1h = 6.0") || !strings.Contains(out, "model = '*haiku*'") {
		t.Fatalf("rendered config lacks the new keys (%v):\n%s", err, out)
	}
}

func TestSecretsListsEveryConfiguredSecret(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, FileName), `[auth]
keys = ["client-static-key"]
admin_key = "admin-key-1"
[store]
dsn = "postgres://u:dbpass@h/db"
[[providers]]
name = "p"
kind = "openai"
base_url = "https://user:urlpass@example.com/v1"
api_key = "${PKEY}"
headers = { "X-Api-Token" = "Bearer hdr-token", "X-Trace" = "visible" }
`)
	cfg, err := Load(Options{Home: home, Getenv: env(map[string]string{"PKEY": "provider-key-9"})})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cfg.Secrets(), " ")
	for _, want := range []string{"client-static-key", "admin-key-1", "dbpass", "urlpass", "provider-key-9", "hdr-token"} {
		if !strings.Contains(got, want) {
			t.Errorf("Secrets() = %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "visible") {
		t.Errorf("Secrets() lists a non-secret header: %q", got)
	}
}

func TestTypeErrorsNameTheKeyInWords(t *testing.T) {
	for src, want := range map[string]string{
		"[limits]\nrpm = \"lots\"\n":              ":2:7: limits.rpm should be a whole number, not a TOML string",
		"[server]\nshutdown_timeout = \"soon\"\n": `:2:20: server.shutdown_timeout: invalid duration "soon"`,
		"[breaker]\ncooldown = 5\n":               `:2: cooldown should be a duration in quotes, e.g. "30s" or "5m", not 5`,
		"[[providers]]\nname = 3\n":               ":2:8: providers.name should be a quoted string, not a TOML integer",
	} {
		dir := t.TempDir()
		file := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(Options{Home: dir, Getenv: func(string) string { return "" }})
		if err == nil || !strings.Contains(err.Error(), file+want) || strings.Contains(err.Error(), "struct field") {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}
