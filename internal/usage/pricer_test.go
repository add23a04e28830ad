package usage

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/jmanhype/runestone/internal/provider"
)

func approx(t *testing.T, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-12 {
		t.Fatalf("cost = %.12f, want %.12f", got, want)
	}
}

func TestCostMath(t *testing.T) {
	p := NewPricer(nil, nil)
	// gpt-4o-mini: 0.15 in, 0.075 cached, 0.60 out.
	usd, ok := p.Cost("gpt-4o-mini", provider.Usage{PromptTokens: 1_000_000, CompletionTokens: 1_000_000})
	if !ok {
		t.Fatal("gpt-4o-mini unpriced")
	}
	approx(t, usd, 0.75)

	// 1000 prompt tokens of which 400 cached: 600*0.15 + 400*0.075 + 200*0.60, per 1e6.
	usd, _ = p.Cost("gpt-4o-mini", provider.Usage{PromptTokens: 1000, CachedTokens: 400, CompletionTokens: 200})
	approx(t, usd, (600*0.15+400*0.075+200*0.60)/1e6)

	// Anthropic: prompt includes cache reads and writes (wire-formats 5.3), so
	// 10k prompt = 2k uncached + 5k read + 3k written; sonnet 3/0.30/3.75, out 15.
	usd, _ = p.Cost("claude-sonnet-4-5", provider.Usage{PromptTokens: 10_000, CachedTokens: 5000, CacheWriteTokens: 3000, CompletionTokens: 100})
	approx(t, usd, (2000*3+5000*0.30+3000*3.75+100*15)/1e6)

	// Inconsistent counts never produce a negative remainder.
	usd, _ = p.Cost("claude-sonnet-4-5", provider.Usage{PromptTokens: 10, CachedTokens: 50})
	approx(t, usd, 50*0.30/1e6)
}

func TestUnknownCacheRateIsUnknownCost(t *testing.T) {
	var logs bytes.Buffer
	p := NewPricer(map[string]Price{"mine": {Input: 2, Output: 4}}, slog.New(slog.NewTextHandler(&logs, nil)))
	// No cache traffic: the known rates suffice.
	if usd, ok := p.Cost("mine", provider.Usage{PromptTokens: 100, CompletionTokens: 10}); !ok {
		t.Fatal("plain usage unpriced")
	} else {
		approx(t, usd, (100*2+10*4)/1e6)
	}
	for _, u := range []provider.Usage{
		{PromptTokens: 100, CachedTokens: 100},
		{PromptTokens: 100, CacheWriteTokens: 40},
		{PromptTokens: 100, CacheWriteTokens: 40, CacheWrite1hTokens: 40},
	} {
		if usd, ok := p.Cost("mine", u); ok || usd != 0 {
			t.Fatalf("%+v: cost %v ok %v, want unknown", u, usd, ok)
		}
	}
	// Claude has 5-minute and 1-hour write rates; a price with only the 5-minute one
	// cannot price 1-hour writes.
	p = NewPricer(map[string]Price{"half": {Input: 1, Output: 1, CachedInput: 0.1, CacheWrite: 1.25}}, slog.New(slog.NewTextHandler(&logs, nil)))
	if _, ok := p.Cost("half", provider.Usage{PromptTokens: 10, CacheWriteTokens: 5}); !ok {
		t.Fatal("5-minute writes unpriced")
	}
	if _, ok := p.Cost("half", provider.Usage{PromptTokens: 10, CacheWriteTokens: 5, CacheWrite1hTokens: 1}); ok {
		t.Fatal("1-hour writes priced without a rate")
	}
	for _, want := range []string{"rate=cache_read", "rate=cache_write ", "rate=cache_write_1h", `fix="add cache_write_1h (USD per million tokens) to [pricing.\"half\"]`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	// A free model is free all the way through.
	if usd, ok := NewPricer(nil, nil).Cost("mock-large", provider.Usage{PromptTokens: 10, CachedTokens: 5, CacheWriteTokens: 5, CacheWrite1hTokens: 2}); !ok || usd != 0 {
		t.Fatalf("mock: %v %v", usd, ok)
	}
}

func TestAnthropicCacheRates(t *testing.T) {
	p := NewPricer(nil, nil)
	for _, m := range []string{"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "claude-3-5-haiku"} {
		pr, ok := p.Lookup(m)
		if !ok {
			t.Fatalf("%s unpriced", m)
		}
		if math.Abs(pr.CachedInput-pr.Input*0.1) > 1e-9 || math.Abs(pr.CacheWrite-pr.Input*1.25) > 1e-9 || math.Abs(pr.CacheWrite1h-pr.Input*2) > 1e-9 {
			t.Errorf("%s: %+v, want read 0.1x, write 1.25x, 1h write 2x input", m, pr)
		}
	}
	// 1000 prompt = 100 uncached + 300 read + 400 written for 5 minutes + 200 for an hour.
	usd, ok := p.Cost("claude-sonnet-4-5", provider.Usage{PromptTokens: 1000, CachedTokens: 300, CacheWriteTokens: 600, CacheWrite1hTokens: 200, CompletionTokens: 50})
	if !ok {
		t.Fatal("unpriced")
	}
	approx(t, usd, (100*3+300*0.30+400*3.75+200*6+50*15)/1e6)
	// Every OpenAI model that reports cached tokens has a cached rate.
	for _, m := range []string{"gpt-5", "gpt-5-mini", "gpt-4.1", "gpt-4o", "gpt-4o-mini", "o3", "o4-mini"} {
		if pr, _ := p.Lookup(m); pr.CachedInput == 0 || pr.CachedInput >= pr.Input {
			t.Errorf("%s: cached rate %v", m, pr.CachedInput)
		}
	}
}

func TestOverrideReplacesWhole(t *testing.T) {
	p := NewPricer(map[string]Price{"gpt-4o": {Input: 1, Output: 1}}, nil)
	pr, _ := p.Lookup("gpt-4o")
	if pr != (Price{Input: 1, Output: 1}) {
		t.Fatalf("override = %+v", pr)
	}
	// The override also applies to the dated snapshots that normalise to it.
	if pr, _ := p.Lookup("gpt-4o-2024-08-06"); pr.Input != 1 {
		t.Fatalf("snapshot did not follow override: %+v", pr)
	}
	// DefaultRows hands out copies.
	DefaultRows()[0].Input = -1
	if pr, _ := NewPricer(nil, nil).Lookup("gpt-4o"); pr.Input != 2.5 || NewPricer(nil, nil).Rows()[0].Input < 0 {
		t.Fatalf("default table was mutated: %+v", pr)
	}
}

func TestLookupNormalisation(t *testing.T) {
	p := NewPricer(nil, nil)
	cases := map[string]string{
		"gpt-4o-mini-2024-07-18":            "gpt-4o-mini",
		"gpt-4.1-2025-04-14":                "gpt-4.1",
		"gpt-5-2025-08-07":                  "gpt-5",
		"o3-2025-04-16":                     "o3",
		"claude-sonnet-4-5-20250929":        "claude-sonnet-4-5",
		"claude-3-5-haiku-20241022":         "claude-3-5-haiku",
		"claude-3-5-haiku-latest":           "claude-3-5-haiku",
		"claude-3-7-sonnet-latest":          "claude-3-7-sonnet",
		"claude-opus-4-20250514":            "claude-opus-4",
		"openai:gpt-4o":                     "gpt-4o",
		"anthropic:claude-3-5-haiku-latest": "claude-3-5-haiku",
		"mock-fast":                         "mock",
	}
	for in, base := range cases {
		got, ok := p.Lookup(in)
		want, _ := p.Lookup(base)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %q's %+v", in, got, ok, base, want)
		}
	}
	// Distinctly priced snapshots win over normalisation.
	if pr, _ := p.Lookup("gpt-4o-2024-05-13"); pr.Input != 5 {
		t.Errorf("gpt-4o-2024-05-13 = %+v, want its own price", pr)
	}
	for _, unknown := range []string{"gpt-3.5-turbo-0613", "ft:gpt-4o-mini-2024-07-18:acme::abc", "llama3", "openai:", ":gpt-4o", "gpt-4o-mini-2024-07"} {
		if pr, ok := p.Lookup(unknown); ok {
			t.Errorf("Lookup(%q) = %+v, want unknown", unknown, pr)
		}
	}
	if pr, ok := p.Lookup("mock"); !ok || pr != (Price{}) {
		t.Errorf("mock = %+v, %v; want known zero", pr, ok)
	}
}

func TestUnknownWarnsOnce(t *testing.T) {
	var buf syncBuffer
	p := NewPricer(nil, slog.New(slog.NewTextHandler(&buf, nil)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if usd, ok := p.Cost("llama-9000", provider.Usage{PromptTokens: 10}); ok || usd != 0 {
					t.Errorf("unknown model: %v, %v", usd, ok)
				}
			}
		})
	}
	wg.Wait()
	if _, ok := p.Cost("gpt-4o", provider.Usage{PromptTokens: 10}); !ok {
		t.Fatal("gpt-4o unpriced")
	}
	out := buf.String()
	if n := strings.Count(out, "llama-9000"); n != 2 { // once as model=, once inside the fix hint
		t.Fatalf("want one warning naming the model, got log:\n%s", out)
	}
	if strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, `pricing.`) {
		t.Fatalf("want exactly one warning with the config hint, got:\n%s", out)
	}
}

func TestWarnedSetIsBounded(t *testing.T) {
	var buf syncBuffer
	p := NewPricer(nil, slog.New(slog.NewTextHandler(&buf, nil)))
	for i := range maxWarned + 50 {
		p.Cost("unknown-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i), provider.Usage{})
	}
	if len(p.warned) != maxWarned {
		t.Fatalf("warned set = %d, want %d", len(p.warned), maxWarned)
	}
	if got := strings.Count(buf.String(), "level=WARN"); got != maxWarned+1 {
		t.Fatalf("warnings = %d, want %d", got, maxWarned+1)
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCostAllocs(t *testing.T) {
	p := NewPricer(nil, nil)
	u := provider.Usage{PromptTokens: 1200, CachedTokens: 1000, CompletionTokens: 300}
	p.Cost("never-priced", u) // warn once outside the measurement
	for _, m := range []string{"gpt-4o-mini", "claude-sonnet-4-5-20250929", "openai:gpt-4o-mini-2024-07-18", "never-priced"} {
		if n := testing.AllocsPerRun(100, func() { p.Cost(m, u) }); n != 0 {
			t.Errorf("Cost(%q) allocates %v times", m, n)
		}
	}
}

func BenchmarkCost(b *testing.B) {
	p := NewPricer(nil, nil)
	u := provider.Usage{PromptTokens: 1200, CachedTokens: 1000, CompletionTokens: 300, Reported: true}
	for _, m := range []string{"gpt-4o-mini", "claude-sonnet-4-5-20250929", "openai:gpt-4o-mini-2024-07-18", "never-priced"} {
		b.Run(m, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Cost(m, u)
			}
		})
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
