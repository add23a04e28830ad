package usage

import (
	"log/slog"
	"strings"
	"sync"

	"github.com/jmanhype/runestone/internal/provider"
)

// maxWarned bounds the warned-once set: model names can come from clients (the
// zero-config mock answers any name), and a set that only grows is a slow leak.
const maxWarned = 1024

// Pricer prices usage from the built-in table and the user's overrides. It is safe
// for concurrent use; the table is read-only after NewPricer, so lookups take no lock.
type Pricer struct {
	prices map[string]entry
	rows   []Row
	log    *slog.Logger

	mu     sync.Mutex
	warned map[string]struct{}
	capped bool // the warned set is full and that has been said once
}

// entry is one name of the table: the row it belongs to and whether the name is an
// alias of the row.
type entry struct {
	row   int
	alias bool
}

// NewPricer returns a Pricer over the built-in table with overrides applied. An
// override replaces a built-in entry whole: merging a user's new input rate with a
// built-in cached rate would produce a price nobody published. A nil logger discards
// warnings.
func NewPricer(overrides map[string]Price, logger *slog.Logger) *Pricer {
	rows := DefaultRows()
	prices := make(map[string]entry, 2*len(rows)+len(overrides))
	for i, r := range rows {
		prices[r.Name] = entry{row: i}
		for _, a := range r.Aliases {
			prices[a] = entry{row: i, alias: true}
		}
	}
	names := make([]string, 0, len(overrides))
	for k := range overrides {
		names = append(names, k)
	}
	sortStrings(names)
	for _, k := range names {
		rows = append(rows, Row{Name: k, Price: overrides[k], Override: true, Source: "config.toml [pricing]", Verified: true})
		prices[k] = entry{row: len(rows) - 1}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pricer{prices: prices, rows: rows, log: logger, warned: map[string]struct{}{}}
}

// Rows lists the table the Pricer uses (built-in rows, then overrides), by name;
// a built-in row an override replaced for every one of its names is left out.
func (p *Pricer) Rows() []Row {
	out := make([]Row, 0, len(p.rows))
	for i, r := range p.rows {
		if e, ok := p.prices[r.Name]; ok && e.row == i {
			out = append(out, r)
			continue
		}
		for _, a := range r.Aliases {
			if e, ok := p.prices[a]; ok && e.row == i {
				out = append(out, r)
				break
			}
		}
	}
	sortRows(out)
	return out
}

// Resolution says which row a model name resolved to and why.
type Resolution struct {
	Row Row
	// Name is the table name that matched (the row's name or one of its aliases).
	Name string
	// How the name was reduced before it matched, in order: "provider prefix",
	// "-latest", "dated snapshot", "mock", "alias"; empty for an exact row name.
	Steps []string
}

// Resolve finds the row a model name bills at, saying how: the exact name, then the
// name without a "-latest" or dated-snapshot suffix (gpt-4o-mini-2024-07-18,
// claude-sonnet-4-5-20250929), then the same for a "provider:model" name. Any "mock"
// or "mock-*" name is free.
func (p *Pricer) Resolve(model string) (Resolution, bool) {
	var steps []string
	name, e, ok := p.lookupBase(model, &steps)
	// "ft:" names are fine-tuned models, billed above their base model: unknown.
	if i := strings.IndexByte(model, ':'); !ok && i > 0 && i < len(model)-1 && model[:i] != "ft" {
		steps = append(steps[:0], "provider prefix")
		name, e, ok = p.lookupBase(model[i+1:], &steps)
	}
	if !ok {
		return Resolution{}, false
	}
	if e.alias {
		steps = append(steps, "alias")
	}
	return Resolution{Row: p.rows[e.row], Name: name, Steps: steps}, true
}

// Lookup finds a model's price as Resolve does. It does not allocate.
func (p *Pricer) Lookup(model string) (Price, bool) {
	_, e, ok := p.lookupBase(model, nil)
	if !ok {
		if i := strings.IndexByte(model, ':'); i > 0 && i < len(model)-1 && model[:i] != "ft" {
			_, e, ok = p.lookupBase(model[i+1:], nil)
		}
	}
	if !ok {
		return Price{}, false
	}
	return p.rows[e.row].Price, true
}

func (p *Pricer) lookupBase(model string, steps *[]string) (string, entry, bool) {
	note := func(s string) {
		if steps != nil {
			*steps = append(*steps, s)
		}
	}
	if e, ok := p.prices[model]; ok {
		return model, e, true
	}
	if base, ok := strings.CutSuffix(model, "-latest"); ok {
		if e, ok := p.prices[base]; ok {
			note("-latest")
			return base, e, true
		}
	}
	if base, ok := stripDate(model); ok {
		if e, ok := p.prices[base]; ok {
			note("dated snapshot")
			return base, e, true
		}
	}
	if strings.HasPrefix(model, "mock-") {
		if e, ok := p.prices["mock"]; ok {
			note("mock")
			return "mock", e, true
		}
	}
	return "", entry{}, false
}

// stripDate removes a snapshot date suffix: OpenAI's "-2024-07-18" or Anthropic's
// "-20250929". Four-digit suffixes (gpt-3.5-turbo-0613) are left alone on purpose:
// those old snapshots were priced differently from today's alias.
func stripDate(s string) (string, bool) {
	if n := len(s); n > 11 && s[n-11] == '-' && s[n-6] == '-' && s[n-3] == '-' &&
		digits(s[n-10:n-6]) && digits(s[n-5:n-3]) && digits(s[n-2:]) {
		return s[:n-11], true
	}
	if n := len(s); n > 9 && s[n-9] == '-' && digits(s[n-8:]) && (s[n-8] == '2') {
		return s[:n-9], true
	}
	return s, false
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// PricedName is the name a request's cost is looked up under: the model the answer
// names, which is the one the provider bills (an alias resolves to a snapshot, a
// fallback answers a refusal), unless the table cannot price that name and can price
// the routed one (an OpenAI-compatible server answering with a file path, say).
func (p *Pricer) PricedName(answered, routed string) string {
	if answered == "" || answered == routed {
		return routed
	}
	if _, ok := p.Lookup(answered); ok {
		return answered
	}
	if _, ok := p.Lookup(routed); ok {
		return routed
	}
	return answered
}

// Cost returns the USD cost of u on model. ok is false when the model has no price,
// or when u used a token class whose rate the price lacks: the caller must record
// the cost as unknown, never as 0. The first miss for each model logs a warning
// naming the config key that would fix it.
func (p *Pricer) Cost(model string, u provider.Usage) (usd float64, ok bool) {
	pr, ok := p.Lookup(model)
	if !ok {
		p.warnOnce(model, "")
		return 0, false
	}
	usd, missing := pr.cost(u)
	if missing != "" {
		p.warnOnce(model, missing)
		return 0, false
	}
	return usd, true
}

// Cost returns the USD cost of u at this price; ok is false when u used a rate the
// price does not know.
func (p Price) Cost(u provider.Usage) (usd float64, ok bool) {
	usd, missing := p.cost(u)
	return usd, missing == ""
}

// cost prices u and names the first unknown rate it needed ("" when none).
//
// The rules, in the providers' words:
//   - cache reads and writes are part of the prompt; the rest bills at input;
//   - a prompt above the long-context threshold bills every token at the long rates;
//   - compaction iterations bill as input and output on top of the top-level counts
//     (at the same tier as the request);
//   - reasoning tokens are inside the output count and bill as output;
//   - a flex or priority tier multiplies every token rate;
//   - each web search call adds its fee.
func (p Price) cost(u provider.Usage) (float64, string) {
	if p.free() {
		return 0, ""
	}
	prompt := max(u.PromptTokens, 0)
	cached := max(u.CachedTokens, 0)
	written := max(u.CacheWriteTokens, 0)
	hour := min(max(u.CacheWrite1hTokens, 0), written)
	five := written - hour

	in, out, read, w5, w1 := p.Input, p.Output, p.CachedInput, p.CacheWrite, p.CacheWrite1h
	if p.LongAbove > 0 && prompt > p.LongAbove {
		if p.LongInput == 0 || (p.Output > 0 && p.LongOutput == 0) {
			return 0, "long_input"
		}
		in, out, read, w5, w1 = p.LongInput, p.LongOutput, p.LongCachedInput, p.LongCacheWrite, p.LongCacheWrite1h
	}
	switch {
	case cached > 0 && read == 0:
		return 0, "cache_read"
	case five > 0 && w5 == 0:
		return 0, "cache_write"
	case hour > 0 && w1 == 0:
		return 0, "cache_write_1h"
	case u.WebSearchCalls > 0 && p.WebSearch == 0:
		return 0, "web_search"
	}
	factor := 1.0
	switch u.ServiceTier {
	case "priority":
		if p.Priority == 0 {
			return 0, "priority"
		}
		factor = p.Priority
	case "flex":
		if p.Flex == 0 {
			return 0, "flex"
		}
		factor = p.Flex
	}
	// An upstream that reports more cache tokens than prompt tokens is inconsistent;
	// bill the cache counts as given rather than a negative remainder.
	uncached := max(prompt-cached-written, 0)
	tokens := float64(uncached)*in + float64(cached)*read + float64(five)*w5 + float64(hour)*w1 +
		float64(max(u.CompletionTokens, 0))*out +
		float64(max(u.CompactionInputTokens, 0))*in + float64(max(u.CompactionOutputTokens, 0))*out
	return tokens*factor/1e6 + float64(max(u.WebSearchCalls, 0))*p.WebSearch, ""
}

// warnOnce says, once per model and missing rate, that a cost is unknown. rate is
// the missing rate's config key, "" when the model has no price at all.
func (p *Pricer) warnOnce(model, rate string) {
	key := model
	if rate != "" {
		key = rate + "\x00" + model
	}
	p.mu.Lock()
	_, seen := p.warned[key]
	full := len(p.warned) >= maxWarned
	sayCap := false
	if !seen && !full {
		p.warned[key] = struct{}{}
	} else if !seen && full && !p.capped {
		p.capped, sayCap = true, true
	}
	p.mu.Unlock()

	switch {
	case !seen && !full && rate != "":
		p.log.Warn("a rate this request needs is unknown for the model; its cost is recorded as unknown",
			"model", model, "rate", rate,
			"fix", `add `+rate+` (`+unit(rate)+`) to [pricing."`+model+`"] in config.toml`)
	case !seen && !full:
		p.log.Warn("no price known for model; its cost is recorded as unknown",
			"model", model,
			"fix", `add [pricing."`+model+`"] with input and output (USD per million tokens) to config.toml`)
	case sayCap:
		p.log.Warn("many models without a price; no further per-model warnings", "limit", maxWarned)
	}
}

// unit is what a config key's number means.
func unit(rate string) string {
	switch rate {
	case "priority", "flex":
		return "a multiplier of the standard rates"
	case "web_search":
		return "USD per call"
	}
	return "USD per million tokens"
}
