package config

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from the code")

// docsPath is the configuration reference, generated from Template, the Config struct
// and the environment overlay by TestDocs -update, and checked against them by TestDocs.
var docsPath = filepath.Join("..", "..", "docs", "configuration.md")

// envDocs maps each environment variable Load reads to the key it sets (or "" when it
// sets no key) and a note. TestDocsEnvVars proves every entry has that effect and that
// load.go reads no variable missing here.
var envDocs = []struct{ name, key, sample, note string }{
	{"RUNESTONE_HOME", "", "", "home folder (config.toml, runestone.db); `--home` wins; default `~/.runestone`"},
	{"RUNESTONE_ADDR", "server.addr", "127.0.0.1:9999", "listen address; `--addr` wins"},
	{"PORT", "server.addr", "9998", "port only, keeping the host of `server.addr`; ignored when RUNESTONE_ADDR is set"},
	{"RUNESTONE_AUTH_ENABLED", "auth.enabled", "false", "`true` or `false`"},
	{"RUNESTONE_API_KEYS", "auth.keys", "k1,k2", "comma-separated; added to the file's keys"},
	{"RUNESTONE_ALLOWED_HOSTS", "server.allowed_hosts", "proxy.internal,*.example.test", "comma-separated; added to the file's names"},
	{"RUNESTONE_ALLOWED_ORIGINS", "server.allowed_origins", "http://localhost:5173", "comma-separated; added to the file's origins"},
	{"RUNESTONE_ADMIN_KEY", "auth.admin_key", "admin-secret", ""},
	{"RUNESTONE_RATE_LIMIT_RPM", "limits.rpm", "7", ""},
	{"RUNESTONE_RATE_LIMIT_RPH", "limits.rph", "8", ""},
	{"RUNESTONE_RATE_LIMIT_TPM", "limits.tpm", "9", ""},
	{"RUNESTONE_MAX_CONCURRENT", "limits.concurrent", "3", ""},
	{"RUNESTONE_ROUTER_POLICY", "router.policy", "cost", ""},
	{"RUNESTONE_STORE_DRIVER", "store.driver", "postgres", "`sqlite` or `postgres`"},
	{"RUNESTONE_STORE_DSN", "store.dsn", "postgres://db.internal/runestone", "the Postgres URL; DATABASE_URL is read when both this and `store.dsn` are empty"},
	{"DATABASE_URL", "", "", "the Postgres URL when `store.driver` is `postgres` and no `store.dsn` is given"},
	{"RUNESTONE_LIMITS_BACKEND", "limits.backend", "redis", "`memory` or `redis`"},
	{"RUNESTONE_REDIS_URL", "limits.redis_url", "redis://127.0.0.1:6379/0", ""},
	{"RUNESTONE_ON_REDIS_ERROR", "limits.on_redis_error", "fail-open", "`fail-closed` or `fail-open`"},
	{"RUNESTONE_RECORD", "record.dir", "testdata/cassettes", "record every exchange into this folder; `serve --record` wins"},
	{"RUNESTONE_REPLAY", "replay.dir", "testdata/cassettes", "answer from the cassettes in this folder; `serve --replay` wins"},
	{"RUNESTONE_REPLAY_STRICT", "replay.strict", "true", "`true` or `false`; `serve --strict` wins"},
	{"RUNESTONE_LOG_FORMAT", "", "json", "process log format, `text` or `json`; `serve --log-format` wins"},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "telemetry.endpoint", "http://127.0.0.1:4318", "turns tracing on"},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "telemetry.traces_endpoint", "http://127.0.0.1:4318/v1/traces", "turns tracing on; used as is"},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "telemetry.protocol", "grpc", "`http/protobuf` or `grpc`; OTEL_EXPORTER_OTLP_TRACES_PROTOCOL wins"},
	{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "telemetry.protocol", "grpc", ""},
	{"OTEL_EXPORTER_OTLP_HEADERS", "telemetry.headers", "authorization=Basic%20abc", "`k=v,k2=v2`, values percent-encoded; added to the file's headers"},
	{"OTEL_SERVICE_NAME", "telemetry.service_name", "gateway-dev", ""},
	{"OTEL_RESOURCE_ATTRIBUTES", "telemetry.resource_attributes", "deployment.environment=dev", "`k=v,k2=v2`; added to the file's attributes"},
	{"OTEL_TRACES_SAMPLER", "telemetry.sampler", "traceidratio", ""},
	{"OTEL_TRACES_SAMPLER_ARG", "telemetry.sampler_arg", "0.25", ""},
	{"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "telemetry.capture_content", "true", "`true` or `false`"},
	{"OTEL_SDK_DISABLED", "", "", "`true` turns tracing off whatever the endpoints say"},
	{"OPENAI_API_KEY", "", "sk-test", "without `[[providers]]`: enables the built-in `openai` provider (priority 1)"},
	{"OPENAI_BASE_URL", "", "http://127.0.0.1:1/v1", "base URL of that built-in `openai` provider"},
	{"ANTHROPIC_API_KEY", "", "sk-ant-test", "without `[[providers]]`: enables the built-in `anthropic` provider (priority 2)"},
	{"ANTHROPIC_BASE_URL", "", "http://127.0.0.1:2", "base URL of that built-in `anthropic` provider"},
}

// moreDocs describes keys whose template line has no comment.
var moreDocs = map[string]string{
	"server.read_header_timeout": "time a client may take to send its request headers",
	"limits.rpm":                 "requests per minute per key (sliding window)",
	"limits.rph":                 "requests per hour per key (sliding window)",
	"limits.tpm":                 "tokens per minute per key",
	"limits.concurrent":          "requests in flight at once per key",
	"limits.queue_timeout":       "longest a request waits in the overflow queue before it is rejected",
	"router.backoff_max":         "longest wait between retries; an upstream Retry-After longer than this fails over instead of waiting",
	"log.retention":              "request-log rows older than this are deleted",
	"providers.base_url":         "the API root, e.g. `http://127.0.0.1:11434/v1` for Ollama",
	"providers.api_key":          "the upstream's API key; write `${VAR}` to keep it out of the file",
	"providers.models":           "model names this provider serves; `*` and `[0-9]` make a pattern (\"qwen*\"); empty = for openai and anthropic the built-in list, the vendor's family (`gpt-*`, `claude-*`, …) and the names its /v1/models lists; `name:model` reaches any other model",
	"routes.model":               "the name clients ask for, or a glob such as `claude-*` (`*` matches any characters)",
	"routes.targets":             "`provider:model` pairs, tried in the router policy's order",
	"pricing.input":              "USD per million prompt tokens",
	"pricing.output":             "USD per million completion tokens",
}

// tableDocs introduces tables whose template line has no comment.
var tableDocs = map[string]string{
	"server":    "The HTTP listener.",
	"auth":      "Client authentication. Keys made with `runestone keys create` live in the database, not here.",
	"router":    "How a model name's targets are ordered and retried.",
	"breaker":   "One circuit breaker per provider: an open breaker is skipped without a request. A 429 never counts toward it (see docs/architecture.md, \"Retries, rate limits and breakers\").",
	"log":       "The request log that `runestone logs` reads.",
	"telemetry": "OpenTelemetry traces and GenAI metrics over OTLP.",
}

// notInTemplate are Config keys the template does not show, with what to say about them.
var notInTemplate = map[string]string{}

type docKey struct {
	key, value, comment string
}

type docSection struct {
	name    string // "server", "[[providers]]", `pricing."gpt-4o-mini"`
	comment string
	example bool // commented out in the template: example values, not defaults
	keys    []docKey
}

var (
	reSection = regexp.MustCompile(`^(#\s*)?(\[\[?[^\]]+\]\]?)\s*(#\s*(.*))?$`)
	reKey     = regexp.MustCompile(`^(#\s*)?([a-z0-9_]+)\s*=\s*(.*?)(\s{2,}#\s*(.*))?$`)
)

// parseTemplate reads the tables and keys of Template, active and commented out.
func parseTemplate(t *testing.T) []docSection {
	t.Helper()
	var secs []docSection
	seen := map[string]int{}
	cur := -1
	sc := bufio.NewScanner(strings.NewReader(Template))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := reSection.FindStringSubmatch(line); m != nil {
			name := strings.Trim(m[2], "[]")
			if strings.HasPrefix(m[2], "[[") {
				name = "[[" + name + "]]"
			}
			if i, ok := seen[name]; ok {
				cur = i // a second [[providers]] example adds nothing new
				continue
			}
			seen[name] = len(secs)
			cur = len(secs)
			secs = append(secs, docSection{name: name, comment: m[4], example: m[1] != ""})
			continue
		}
		m := reKey.FindStringSubmatch(line)
		if m == nil || cur < 0 {
			continue
		}
		s := &secs[cur]
		dup := false
		for _, k := range s.keys {
			dup = dup || k.key == m[2]
		}
		if !dup {
			s.keys = append(s.keys, docKey{key: m[2], value: m[3], comment: m[5]})
		}
	}
	if len(secs) < 8 {
		t.Fatalf("parsed only %d tables from Template; the parser no longer fits it", len(secs))
	}
	return secs
}

// structKeys lists every TOML key of Config as table.key ("providers.name", "pricing.input").
func structKeys() []string {
	var out []string
	ct := reflect.TypeOf(Config{})
	for i := 0; i < ct.NumField(); i++ {
		f := ct.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		et := f.Type
		for et.Kind() == reflect.Slice || et.Kind() == reflect.Map {
			et = et.Elem()
		}
		for j := 0; j < et.NumField(); j++ {
			sub := strings.Split(et.Field(j).Tag.Get("toml"), ",")[0]
			if sub != "" && sub != "-" {
				out = append(out, tag+"."+sub)
			}
		}
	}
	return out
}

func sectionTable(name string) string {
	name = strings.Trim(name, "[]")
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	return name
}

func envFor(key string) string {
	var names []string
	for _, e := range envDocs {
		if e.key == key {
			names = append(names, "`"+e.name+"`")
		}
	}
	return strings.Join(names, ", ")
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// generateDocs renders docs/configuration.md.
func generateDocs(t *testing.T) string {
	t.Helper()
	secs := parseTemplate(t)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w(`# Configuration reference

<!-- Generated from internal/config (Template, the Config struct and the environment overlay).
     Do not edit by hand: change internal/config, then run
     go test ./internal/config -run TestDocs -update -->

Runestone reads, from lowest to highest precedence: built-in defaults, then ` + "`config.toml`" + `,
then environment variables, then command-line flags (` + "`--addr`, `--log-format`" + `).

- The file is ` + "`<home>/config.toml`" + `, where home is ` + "`--home`" + `, else ` + "`$RUNESTONE_HOME`" + `, else
  ` + "`~/.runestone`" + `; ` + "`--config FILE`" + ` names another file (which must then exist).
  ` + "`runestone config path`" + ` prints the paths.
- ` + "`runestone config init`" + ` writes the commented template at the end of this page: every key
  with its default. ` + "`runestone config check`" + ` validates and prints the effective values with
  secrets masked (` + "`--json`" + ` for scripts).
- Unknown keys are errors that name the file, the key and the line. Durations are strings
  such as ` + "`\"30s\"`, `\"5m\"`, `\"168h\"`" + `. ` + "`${VAR}`" + ` in ` + "`api_key`, `base_url`" + `, header values,
  ` + "`auth.keys` and `auth.admin_key`" + ` expands from the environment.
- A limit of ` + "`0`" + ` means unlimited.

`)
	for _, s := range secs {
		title := s.name
		if !strings.HasPrefix(title, "[") {
			title = "[" + title + "]"
		}
		w("## `%s`\n\n", title)
		if s.comment != "" {
			w("%s.\n\n", strings.TrimSuffix(sentenceCase(s.comment), "."))
		} else if d, ok := tableDocs[sectionTable(s.name)]; ok {
			w("%s\n\n", d)
		}
		switch sectionTable(s.name) {
		case "providers":
			w("%s\n\n", providersIntro(t))
		case "routes":
			w("A client-facing model name served by several `provider:model` targets, tried in the\nrouter policy's order (failover). Every target's provider must be configured.\n\n" +
				"`model` may be a glob: `*` matches any run of characters (`claude-*`, `*haiku*`; `?` and\n`[` are literal). A name resolves to, in order: the route with exactly that name, the first\nglob route that matches it (in file order), the providers listing it in `models`, the\nexplicit `provider:model` form, the providers whose family (`claude-*`, `gpt-*`, …) or learned\nmodel list covers it, and the mock when it answers every name. Globs do not\napply to an explicit `provider:model` name, so that form still reaches a model a glob\nsends elsewhere. `runestone config check --model NAME` shows which rule a name hits.\n\n")
		case "pricing":
			w("Prices in USD per million tokens, by model name; they override the built-in table\n(an entry replaces the built-in one whole). A model with no price is counted as unpriced\n(its cost is unknown, not $0). Cached prompt tokens bill at their own rates: a request\nthat read or wrote a cache whose rate is not given has an unknown cost too.\n\n")
		}
		col := "default"
		if s.example {
			col = "example"
		}
		w("| key | %s | environment | description |\n|---|---|---|---|\n", col)
		for _, k := range s.keys {
			full := sectionTable(s.name) + "." + k.key
			desc := k.comment
			if strings.HasPrefix(desc, "RUNESTONE_") { // the env column says it already
				desc = ""
			}
			if d, ok := moreDocs[full]; ok && desc == "" {
				desc = d
			}
			w("| `%s` | `%s` | %s | %s |\n", k.key, cell(k.value), envFor(full), cell(sentenceCase(desc)))
		}
		for _, full := range structKeys() {
			key := strings.TrimPrefix(full, sectionTable(s.name)+".")
			if note, ok := notInTemplate[full]; ok && key != full {
				w("| `%s` | | | %s |\n", key, note)
			}
		}
		w("\n")
	}
	w("## Environment variables\n\n| variable | sets | notes |\n|---|---|---|\n")
	for _, e := range envDocs {
		sets := ""
		if e.key != "" {
			sets = "`" + e.key + "`"
		}
		w("| `%s` | %s | %s |\n", e.name, sets, e.note)
	}
	w("\nWith no `[[providers]]` in the file and neither `OPENAI_API_KEY` nor `ANTHROPIC_API_KEY` set,\nthe offline `mock` provider answers every model name; with either key set it answers only\n`mock` and `mock-*`. `CI=true` (or a non-terminal stdout, or `serve --no-tui`) turns the\ndashboard off.\n\n")
	w("## The template (`runestone config init`)\n\n```toml\n%s```\n", Template)
	return b.String()
}

// providersIntro states the defaults Load fills into every provider, read from Load
// itself so the page cannot disagree with it.
func providersIntro(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "c.toml")
	const src = "[[providers]]\nname = \"o\"\nkind = \"openai\"\n[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(Options{Home: dir, ConfigFile: file, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	o, a := cfg.Providers[0], cfg.Providers[1]
	return fmt.Sprintf("One entry per upstream. With any `[[providers]]` in the file, the list is the whole set\n"+
		"(the environment's built-in providers and the mock are not added; `serve` says so when\n"+
		"OPENAI_API_KEY or ANTHROPIC_API_KEY is set). `name` and `kind` are\n"+
		"required; `timeout` defaults to `%s`; `base_url` defaults to `%s` for kind `openai` and\n"+
		"`%s` for kind `anthropic`. Kind `openai` covers every OpenAI-compatible API (OpenAI,\n"+
		"Ollama, vLLM, Groq, …).", o.Timeout.Duration, o.BaseURL, a.BaseURL)
}

func sentenceCase(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "openai") || strings.HasPrefix(s, "default (") {
		return s // starts with a literal value
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// TestDocs fails when docs/configuration.md differs from what the code generates;
// -update rewrites it.
func TestDocs(t *testing.T) {
	want := generateDocs(t)
	if *update {
		if err := os.MkdirAll(filepath.Dir(docsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docsPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./internal/config -run TestDocs -update)", err)
	}
	if string(got) != want {
		t.Fatalf("docs/configuration.md is stale: run go test ./internal/config -run TestDocs -update")
	}
}

// TestDocsCoverEveryKey checks the committed page independently of the generator: every
// key `config init` writes has a table row with its default, and every key of the
// Config struct is documented.
func TestDocsCoverEveryKey(t *testing.T) {
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	table := ""
	n := 0
	for _, line := range strings.Split(Template, "\n") {
		if m := regexp.MustCompile(`^\[([a-z]+)\]`).FindStringSubmatch(line); m != nil {
			table = m[1]
			continue
		}
		m := regexp.MustCompile(`^([a-z_]+) = (.*?)(\s{2,}#.*)?$`).FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n++
		head := "## `[" + table + "]`"
		i := strings.Index(doc, head)
		if i < 0 {
			t.Errorf("docs have no section %s", head)
			continue
		}
		sec := doc[i+len(head):]
		if j := strings.Index(sec, "\n## "); j >= 0 {
			sec = sec[:j]
		}
		row := fmt.Sprintf("| `%s` | `%s` |", m[1], cell(m[2]))
		if !strings.Contains(sec, row) {
			t.Errorf("docs section %s has no row %q", head, row)
		}
	}
	if n < 20 {
		t.Fatalf("found only %d active keys in Template", n)
	}
	for _, full := range structKeys() {
		tbl, key, _ := strings.Cut(full, ".")
		re := regexp.MustCompile("## `\\[*" + tbl + `[^\n]*\n(?s:.*?)\| ` + "`" + key + "`" + ` \|`)
		if !re.MatchString(doc) {
			t.Errorf("docs do not document %s", full)
		}
	}
}

// TestDocsEnvVars proves each documented variable does what the page says, and that
// load.go reads no variable the page leaves out.
func TestDocsEnvVars(t *testing.T) {
	base, err := Load(Options{Home: t.TempDir(), Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	baseTOML, _ := base.TOML()
	documented := map[string]bool{}
	for _, e := range envDocs {
		documented[e.name] = true
		if e.key == "" || e.name == "RUNESTONE_HOME" {
			continue
		}
		cfg, err := Load(Options{Home: t.TempDir(), Getenv: env(map[string]string{e.name: e.sample})})
		if err != nil {
			t.Errorf("%s=%s: %v", e.name, e.sample, err)
			continue
		}
		got, _ := cfg.TOML()
		if got == baseTOML {
			t.Errorf("%s=%s changed nothing; the page says it sets %s", e.name, e.sample, e.key)
		}
		_, key, _ := strings.Cut(e.key, ".")
		// A map key renders as its own table ([telemetry.headers]).
		if !strings.Contains(got, key+" = ") && !strings.Contains(got, "."+key+"]") {
			t.Errorf("%s: the rendered config has no key %s", e.name, key)
		}
	}
	src, err := os.ReadFile("load.go")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, m := range regexp.MustCompile(`"((?:RUNESTONE|OPENAI|ANTHROPIC|OTEL)_[A-Z_]+|PORT)"`).FindAllStringSubmatch(string(src), -1) {
		if !documented[m[1]] {
			missing = append(missing, m[1])
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("load.go reads %v, which docs/configuration.md does not list (add them to envDocs)", missing)
	}
}
