package usage

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/jmanhype/runestone/internal/provider"
)

// readBlocks loads testdata/usage-blocks.txt: name, tab, answer JSON.
func readBlocks(t *testing.T) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/usage-blocks.txt")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, js, ok := strings.Cut(line, "\t")
		if !ok || !gjson.Valid(js) {
			t.Fatalf("bad line %q", line)
		}
		out[name] = []byte(js)
	}
	return out
}

// read picks the reader of the block's wire format.
func read(name string, body []byte) provider.Usage {
	switch {
	case strings.HasPrefix(name, "anthropic"):
		return MessagesAnswer(body)
	case strings.HasPrefix(name, "chat"):
		return ChatAnswer(body)
	case strings.HasPrefix(name, "responses"):
		return ResponsesAnswer(gjson.ParseBytes(body))
	case strings.HasPrefix(name, "gemini"):
		return GeminiAnswer(body)
	}
	panic(name)
}

// TestGoldenCosts prices recorded usage blocks at the table's rates. Each want is
// worked out by hand from the provider's published rule (USD per million tokens),
// so a reader or a rate that drifts fails here to the micro-dollar.
func TestGoldenCosts(t *testing.T) {
	blocks := readBlocks(t)
	p := NewPricer(nil, nil)
	cases := []struct {
		name  string
		want  float64
		check func(t *testing.T, u provider.Usage)
	}{
		// Opus 5.5: 2 uncached x $4 + 7,276 read x $0.20 + 11,420 1h-written x $8 + 16 out x $20.
		{"anthropic-1h", (2*4 + 7276*0.20 + 11420*8 + 16*20) / 1e6, func(t *testing.T, u provider.Usage) {
			eq(t, "1h writes", u.CacheWrite1hTokens, 11420)
			eq(t, "prompt", u.PromptTokens, 2+7276+11420)
		}},
		// Sonnet 4.5: 80 x $3 + 5,000 read x $0.30 + 1,000 5m x $3.75 + 2,000 1h x $6 + 638 out x $15;
		// the 353 thinking tokens are inside the 638 and bill as output.
		{"anthropic-5m1h", (80*3 + 5000*0.30 + 1000*3.75 + 2000*6 + 638*15) / 1e6, func(t *testing.T, u provider.Usage) {
			eq(t, "reasoning", u.ReasoningTokens, 353)
			eq(t, "writes", u.CacheWriteTokens, 3000)
		}},
		// Opus 5: 51 x $5 + 2,025,234 read x $0.50 + 106,624 1h x $10 + 33,245 out x $25 = $2.910237,
		// which is the total_cost_usd Claude Code itself logged for this session.
		{"anthropic-iter", (51*5 + 2025234*0.50 + 106624*10 + 33245*25) / 1e6, func(t *testing.T, u provider.Usage) {
			eq(t, "compaction in", u.CompactionInputTokens, 0) // a "message" iteration is the top level
			eq(t, "tier", len(u.ServiceTier), len("standard"))
		}},
		// Opus 5.5 with a compaction iteration: top level 23,000 in + 1,000 out, and the
		// compaction's 180,000 in + 3,500 out on top, all at $4 / $20.
		{"anthropic-compaction", (23000*4 + 1000*20 + 180000*4 + 3500*20) / 1e6, func(t *testing.T, u provider.Usage) {
			eq(t, "compaction in", u.CompactionInputTokens, 180000)
			eq(t, "compaction out", u.CompactionOutputTokens, 3500)
		}},
		// Haiku 4.5: 105 x $1 + 7,123 read x $0.10 + 7,345 5m x $1.25 + 6,039 out x $5, plus one
		// web search at $10 per 1,000.
		{"anthropic-websearch", (105*1+7123*0.10+7345*1.25+6039*5)/1e6 + 0.01, func(t *testing.T, u provider.Usage) {
			eq(t, "searches", u.WebSearchCalls, 1)
		}},
		// o4-mini: 20,815 in x $1.10 + 713 out x $4.40 (640 of them reasoning).
		{"chat-reasoning", (20815*1.10 + 713*4.40) / 1e6, func(t *testing.T, u provider.Usage) {
			eq(t, "reasoning", u.ReasoningTokens, 640)
		}},
		// gpt-5.4 on the priority tier (2x): (86 x $2.50 + 1,920 cached x $0.25 + 300 out x $15) x 2.
		{"chat-cached", (86*2.50 + 1920*0.25 + 300*15) * 2 / 1e6, func(t *testing.T, u provider.Usage) {
			eq(t, "cached", u.CachedTokens, 1920)
			eq(t, "reasoning", u.ReasoningTokens, 192)
		}},
		// gpt-5.1-codex: 904 x $1.25 + 4,096 cached x $0.125 + 900 out x $10, plus one
		// web_search_call at $10 per 1,000.
		{"responses-cached-reasoning", (904*1.25+4096*0.125+900*10)/1e6 + 0.01, func(t *testing.T, u provider.Usage) {
			eq(t, "reasoning", u.ReasoningTokens, 640)
			eq(t, "cached", u.CachedTokens, 4096)
		}},
		// gemini-3-flash-preview: 34 in x $0.50 + (418 candidates + 438 thoughts) x $3.
		{"gemini-thinking", (34*0.50 + (418+438)*3) / 1e6, func(t *testing.T, u provider.Usage) {
			eq(t, "reasoning", u.ReasoningTokens, 438)
			eq(t, "completion", u.CompletionTokens, 856)
		}},
		// gemini-2.5-pro above 200k prompt tokens: every token at the long rates:
		// 50,000 x $2.50 + 200,000 cached x $0.25 + 3,000 out x $15.
		{"gemini-cached", (50000*2.50 + 200000*0.25 + 3000*15) / 1e6, func(t *testing.T, u provider.Usage) {
			eq(t, "cached", u.CachedTokens, 200000)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, ok := blocks[c.name]
			if !ok {
				t.Fatal("no such block")
			}
			u := read(c.name, body)
			if !u.Reported || u.Model == "" {
				t.Fatalf("usage %+v: not reported or no model", u)
			}
			usd, ok := p.Cost(u.Model, u)
			if !ok {
				t.Fatalf("%s unpriced (usage %+v)", u.Model, u)
			}
			if got, want := int64(usd*1e6+0.5), int64(c.want*1e6+0.5); got != want {
				t.Fatalf("cost = %d µ$, want %d µ$ (usage %+v)", got, want, u)
			}
			c.check(t, u)
		})
	}
}

func eq(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %d, want %d", what, got, want)
	}
}

// AgentDefaults are the models today's coding agents ask for without configuration
// (research/peers-2026-12.md and the agents' docs): each must have a price.
var agentDefaults = map[string][]string{
	"claude-code": {"claude-opus-5-5", "claude-haiku-5-5", "claude-sonnet-5-5", "claude-sonnet-4-5",
		"claude-opus-5-5-20260922", "anthropic:claude-opus-5-5", "claude-fable-5-1", "claude-opus-4-7"},
	"codex":      {"gpt-5-codex", "gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5.2-codex", "gpt-5.3-codex", "gpt-5.5", "gpt-5.6", "gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna"},
	"gemini-cli": {"gemini-3-pro-preview", "gemini-3.1-pro-preview", "gemini-3-flash-preview", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"},
	"opencode":   {"claude-sonnet-4-5", "claude-sonnet-4-6", "gpt-5.1", "gpt-5.4", "gpt-5.4-mini", "gpt-5-mini", "gemini-3.5-flash"},
}

func TestAgentDefaultsArePriced(t *testing.T) {
	p := NewPricer(nil, nil)
	for agent, models := range agentDefaults {
		for _, m := range models {
			r, ok := p.Resolve(m)
			if !ok {
				t.Errorf("%s default %q has no price", agent, m)
				continue
			}
			if r.Row.Input == 0 || r.Row.Output == 0 || r.Row.Checked == "" || r.Row.Source == "" {
				t.Errorf("%s default %q resolves to row %q without rates or provenance", agent, m, r.Row.Name)
			}
		}
	}
}

func TestResolveSaysWhy(t *testing.T) {
	p := NewPricer(map[string]Price{"mine": {Input: 1, Output: 2}}, nil)
	for _, c := range []struct{ in, row, steps string }{
		{"claude-opus-5-5", "claude-opus-5-5", ""},
		{"claude-opus-4-7-20260301", "claude-opus-5", "dated snapshot,alias"},
		{"anthropic:claude-haiku-5-5", "claude-haiku-5-5", "provider prefix"},
		{"gpt-5-chat-latest", "gpt-5.1", "alias"},
		{"gpt-4o-latest", "gpt-4o", "-latest"},
		{"mock-fast", "mock", "mock"},
		{"mine", "mine", ""},
	} {
		r, ok := p.Resolve(c.in)
		if !ok || r.Row.Name != c.row || strings.Join(r.Steps, ",") != c.steps {
			t.Errorf("Resolve(%q) = %q %v %v, want %q [%s]", c.in, r.Row.Name, r.Steps, ok, c.row, c.steps)
		}
	}
	if _, ok := p.Resolve("ft:gpt-4o:me"); ok {
		t.Error("a fine-tune resolved to its base price")
	}
}

func TestTierWithoutRateIsUnknown(t *testing.T) {
	p := NewPricer(nil, nil)
	if _, ok := p.Cost("claude-opus-5", provider.Usage{PromptTokens: 10, ServiceTier: "priority", Reported: true}); ok {
		t.Error("Anthropic priority tier priced without a published rate")
	}
	usd, ok := p.Cost("gpt-5", provider.Usage{PromptTokens: 1000, CompletionTokens: 100, ServiceTier: "flex", Reported: true})
	if !ok || int64(usd*1e6+0.5) != 1125 {
		t.Errorf("flex gpt-5 = %v %v", usd, ok)
	}
}
