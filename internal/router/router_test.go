package router

import (
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/provider/anthropic"
	"github.com/jmanhype/runestone/internal/provider/mock"
	"github.com/jmanhype/runestone/internal/provider/openai"
)

func names(ts []provider.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Provider.Name()+":"+t.Model)
	}
	return out
}

func TestResolveOrder(t *testing.T) {
	a := openai.New(openai.Options{Name: "openai", BaseURL: "http://a", Models: []string{"gpt-4o", "llama3:8b"}})
	b := openai.New(openai.Options{Name: "backup", BaseURL: "http://b", Models: []string{"gpt-4o"}})
	m := mock.New(mock.Options{Name: "mock"})
	r := New([]provider.Provider{a, b, m}, []Route{{Model: "smart", Targets: []string{"backup:gpt-4.1", "openai:gpt-4o"}}})
	tests := []struct {
		model string
		want  []string
	}{
		{"smart", []string{"backup:gpt-4.1", "openai:gpt-4o"}},
		{"gpt-4o", []string{"openai:gpt-4o", "backup:gpt-4o"}},
		{"llama3:8b", []string{"openai:llama3:8b"}}, // a listed name with ':' wins over provider:model
		{"backup:o3", []string{"backup:o3"}},
		{"mock-fast", []string{"mock:mock-fast"}},
		{"nope", nil},
		{"nobody:x", nil},
	}
	for _, tt := range tests {
		got := names(r.Resolve(tt.model))
		if len(got) != len(tt.want) {
			t.Fatalf("%s: got %v want %v", tt.model, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("%s: got %v want %v", tt.model, got, tt.want)
			}
		}
	}
	ms := r.Models()
	seen := map[string]string{}
	for _, m := range ms {
		seen[m.ID] = m.OwnedBy
	}
	if seen["smart"] != "backup" || seen["gpt-4o"] != "openai" || seen["mock"] != "mock" {
		t.Fatalf("models %v", ms)
	}
}

func TestCatchAllCacheIsBounded(t *testing.T) {
	r := New([]provider.Provider{mock.New(mock.Options{CatchAll: true})}, nil)
	for i := 0; i < maxCached+100; i++ {
		if len(r.Resolve("m"+string(rune('a'+i%26))+itoa(i))) != 1 {
			t.Fatal("catch-all did not resolve")
		}
	}
	if r.cached.Load() > maxCached {
		t.Fatalf("cache grew to %d", r.cached.Load())
	}
}

func itoa(i int) string {
	b := []byte{}
	for i > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func BenchmarkResolveStatic(b *testing.B) {
	r := New([]provider.Provider{openai.New(openai.Options{Name: "o", BaseURL: "http://a", Models: []string{"gpt-4o"}})}, nil)
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve("gpt-4o")
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"claude-*", "claude-sonnet-4-5", true},
		{"claude-*", "claude-", true},
		{"claude-*", "anthropic/claude-x", false},
		{"*haiku*", "claude-haiku-4-5-20251001", true},
		{"*haiku*", "haiku", true},
		{"*haiku*", "claude-sonnet", false},
		{"*", "", true},
		{"a*a", "a", false}, // prefix and suffix may not overlap
		{"a*a", "aa", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false},
		{"a*b*b*c", "abbc", true},
		{"a*b*b*c", "abc", false},
		{"org/*", "org/llama-3", true},        // '*' crosses '/': names are not paths
		{"gpt-4?", "gpt-4?", true},            // '?' is literal
		{"gpt-4?", "gpt-4o", false},           //
		{"[ab]*", "a-model", false},           // no character classes
		{"exact", "exact", true},              // no '*': whole-string equality
		{"exact", "exactly", false},           //
		{"**mini**", "gpt-4o-mini", true},     // repeated stars collapse
		{"*-mini", "gpt-4o-mini-2024", false}, // the suffix anchors
	}
	for _, c := range cases {
		g := compileGlob(c.pattern)
		if got := g.match(c.name); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestGlobRoutes(t *testing.T) {
	anth := openai.New(openai.Options{Name: "anthropic", BaseURL: "http://a", Models: []string{"claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1"}})
	oai := openai.New(openai.Options{Name: "openai", BaseURL: "http://o", Models: []string{"gpt-4o"}})
	local := openai.New(openai.Options{Name: "local", BaseURL: "http://l", Models: []string{"qwen3"}})
	m := mock.New(mock.Options{Name: "mock", CatchAll: true})
	routes := []Route{
		{Model: "claude-opus-4-1", Targets: []string{"anthropic:claude-opus-4-1", "openai:gpt-4o"}}, // #1 exact
		{Model: "*haiku*", Targets: []string{"local:qwen3"}},                                        // #2
		{Model: "claude-*", Targets: []string{"openai:gpt-4o"}},                                     // #3
		{Model: "*", Targets: []string{"nobody:x"}},                                                 // #4: no usable target, ignored
		{Model: "*-mini", Targets: []string{"openai:gpt-4o"}},                                       // #5
	}
	r := New([]provider.Provider{anth, oai, local, m}, routes)
	tests := []struct {
		model string
		kind  MatchKind
		rule  int
		want  []string
	}{
		{"claude-opus-4-1", MatchRoute, 1, []string{"anthropic:claude-opus-4-1", "openai:gpt-4o"}}, // exact beats globs
		{"claude-haiku-4-5", MatchGlob, 2, []string{"local:qwen3"}},                                // first glob wins; glob beats the listed model
		{"claude-haiku-9", MatchGlob, 2, []string{"local:qwen3"}},                                  // unlisted name, same glob
		{"claude-sonnet-4-5", MatchGlob, 3, []string{"openai:gpt-4o"}},
		{"claude-sonnet-4-5-20250929", MatchGlob, 3, []string{"openai:gpt-4o"}},
		{"gpt-4o", MatchModel, 0, []string{"openai:gpt-4o"}},
		{"o4-mini", MatchGlob, 5, []string{"openai:gpt-4o"}},
		{"anthropic:claude-haiku-4-5", MatchProvider, 0, []string{"anthropic:claude-haiku-4-5"}}, // explicit form escapes globs
		{"unknown:claude-haiku", MatchGlob, 2, []string{"local:qwen3"}},                          // not a provider: a plain name
		{"llama", MatchAny, 0, []string{"mock:llama"}},
	}
	for _, tt := range tests {
		for pass := 0; pass < 2; pass++ { // the second pass reads the dynamic cache
			got := names(r.Resolve(tt.model))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("Resolve(%s) pass %d = %v, want %v", tt.model, pass, got, tt.want)
			}
		}
		ex := r.Explain(tt.model)
		if ex.Kind != tt.kind || ex.Rule != tt.rule || strings.Join(names(ex.Targets), ",") != strings.Join(tt.want, ",") {
			t.Fatalf("Explain(%s) = %v rule %d %v, want %v rule %d", tt.model, ex.Kind, ex.Rule, names(ex.Targets), tt.kind, tt.rule)
		}
	}
	// Globs are not model names: /v1/models lists none of them.
	for _, md := range r.Models() {
		if strings.Contains(md.ID, "*") {
			t.Fatalf("Models lists a pattern: %v", md)
		}
	}
	if ex := New([]provider.Provider{oai}, nil).Explain("nope"); ex.Kind != MatchNone || ex.Targets != nil || ex.Kind.String() != "no match" {
		t.Fatalf("no match: %+v", ex)
	}
}

// TestGlobDoesNotShareListedSlices guards the precomputation: a name listed by two
// providers must not append to a slice a glob route owns.
func TestGlobDoesNotShareListedSlices(t *testing.T) {
	a := openai.New(openai.Options{Name: "a", BaseURL: "http://a", Models: []string{"x-1", "y"}})
	b := openai.New(openai.Options{Name: "b", BaseURL: "http://b", Models: []string{"y", "x-2"}})
	r := New([]provider.Provider{a, b}, []Route{{Model: "x-*", Targets: []string{"a:z"}}})
	if got := names(r.Resolve("x-2")); len(got) != 1 || got[0] != "a:z" {
		t.Fatalf("x-2 = %v", got)
	}
	if got := names(r.Resolve("y")); strings.Join(got, ",") != "a:y,b:y" {
		t.Fatalf("y = %v", got)
	}
}

func benchRouter(globs int) *Router {
	var routes []Route
	for i := range globs {
		routes = append(routes, Route{Model: "family" + itoa(i) + "-*", Targets: []string{"o:gpt-4o"}})
	}
	return New([]provider.Provider{openai.New(openai.Options{Name: "o", BaseURL: "http://a", Models: []string{"gpt-4o"}})}, routes)
}

// BenchmarkResolveStaticWithGlobs shows exact names do not pay for glob routes.
func BenchmarkResolveStaticWithGlobs(b *testing.B) {
	r := benchRouter(20)
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve("gpt-4o")
	}
}

// BenchmarkResolveGlobCached is a repeat glob hit: the dynamic cache answers.
func BenchmarkResolveGlobCached(b *testing.B) {
	r := benchRouter(20)
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve("family19-large")
	}
}

// BenchmarkGlobScan is a first sight: twenty patterns tried.
func BenchmarkGlobScan(b *testing.B) {
	r := benchRouter(20)
	b.ReportAllocs()
	for b.Loop() {
		r.glob("family19-large")
	}
}

// A vendor family serves names no list has (new defaults, dated snapshots) after
// listed names and routes, and a name nothing serves gets a 404 that says how to
// reach it anyway.
func TestFamiliesAndNotFound(t *testing.T) {
	oai := openai.New(openai.Options{Name: "openai", BaseURL: "http://a", Models: []string{"gpt-4o"},
		Catalog: provider.NewCatalog(provider.Families["openai"])})
	anth := anthropic.New(anthropic.Options{Name: "anthropic", BaseURL: "http://b",
		Catalog: provider.NewCatalog(provider.Families["anthropic"])})
	m := mock.New(mock.Options{Name: "mock"})
	r := New([]provider.Provider{oai, anth, m}, []Route{{Model: "claude-haiku-*", Targets: []string{"openai:gpt-4o"}}})
	for model, want := range map[string]string{
		"claude-opus-5-5":            "anthropic:claude-opus-5-5",
		"claude-sonnet-4-5-20250929": "anthropic:claude-sonnet-4-5-20250929",
		"claude-haiku-5-5":           "openai:gpt-4o", // a route beats the family
		"gpt-5-codex":                "openai:gpt-5-codex",
		"o3-pro":                     "openai:o3-pro",
	} {
		if got := strings.Join(names(r.Resolve(model)), ","); got != want {
			t.Errorf("Resolve(%s) = %s, want %s", model, got, want)
		}
	}
	if k := r.Explain("claude-opus-5-5").Kind; k != MatchFamily {
		t.Errorf("claude-opus-5-5 resolves by %v, want provider family", k)
	}
	if r.Resolve("llama-9") != nil {
		t.Fatal("llama-9 resolved")
	}
	e := r.NotFound("llama-9")
	for _, want := range []string{"tried: openai, anthropic, mock", "`openai:llama-9`", "[[routes]]"} {
		if e.Status != 404 || !strings.Contains(e.Message, want) {
			t.Errorf("404 message %q lacks %q", e.Message, want)
		}
	}
}
