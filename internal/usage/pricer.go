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
	prices map[string]Price
	log    *slog.Logger

	mu     sync.Mutex
	warned map[string]struct{}
	capped bool // the warned set is full and that has been said once
}

// NewPricer returns a Pricer over DefaultPrices with overrides applied. An override
// replaces a built-in entry whole: merging a user's new input rate with a built-in
// cached rate would produce a price nobody published. A nil logger discards warnings.
func NewPricer(overrides map[string]Price, logger *slog.Logger) *Pricer {
	prices := DefaultPrices()
	for k, v := range overrides {
		prices[k] = v
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pricer{prices: prices, log: logger, warned: map[string]struct{}{}}
}

// Lookup finds a model's price: the exact name, then the name without a "-latest" or
// dated-snapshot suffix (gpt-4o-mini-2024-07-18, claude-sonnet-4-5-20250929), then
// the same for a "provider:model" name. Any "mock" or "mock-*" name is free.
// It does not allocate.
func (p *Pricer) Lookup(model string) (Price, bool) {
	if pr, ok := p.lookupBase(model); ok {
		return pr, true
	}
	// "ft:" names are fine-tuned models, billed above their base model: unknown.
	if i := strings.IndexByte(model, ':'); i > 0 && i < len(model)-1 && model[:i] != "ft" {
		return p.lookupBase(model[i+1:])
	}
	return Price{}, false
}

func (p *Pricer) lookupBase(model string) (Price, bool) {
	if pr, ok := p.prices[model]; ok {
		return pr, true
	}
	if base, ok := strings.CutSuffix(model, "-latest"); ok {
		if pr, ok := p.prices[base]; ok {
			return pr, true
		}
	}
	if base, ok := stripDate(model); ok {
		if pr, ok := p.prices[base]; ok {
			return pr, true
		}
	}
	if strings.HasPrefix(model, "mock-") {
		if pr, ok := p.prices["mock"]; ok {
			return pr, true
		}
	}
	return Price{}, false
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

// Cost returns the USD cost of u on model. ok is false when the model has no price,
// or when u read or wrote a cache whose rate the price lacks: the caller must record
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

// Cost returns the USD cost of u at this price; ok is false when u used a cache
// rate the price does not know. Cache reads and writes are part of PromptTokens,
// so only the remainder bills at the full input rate.
func (p Price) Cost(u provider.Usage) (usd float64, ok bool) {
	usd, missing := p.cost(u)
	return usd, missing == ""
}

// cost prices u and names the first unknown rate it needed ("" when none).
func (p Price) cost(u provider.Usage) (float64, string) {
	prompt := max(u.PromptTokens, 0)
	cached := max(u.CachedTokens, 0)
	written := max(u.CacheWriteTokens, 0)
	hour := min(max(u.CacheWrite1hTokens, 0), written)
	five := written - hour
	free := p.free()
	switch {
	case cached > 0 && p.CachedInput == 0 && !free:
		return 0, "cache_read"
	case five > 0 && p.CacheWrite == 0 && !free:
		return 0, "cache_write"
	case hour > 0 && p.CacheWrite1h == 0 && !free:
		return 0, "cache_write_1h"
	}
	// An upstream that reports more cache tokens than prompt tokens is inconsistent;
	// bill the cache counts as given rather than a negative remainder.
	uncached := max(prompt-cached-written, 0)
	return (float64(uncached)*p.Input +
		float64(cached)*p.CachedInput +
		float64(five)*p.CacheWrite +
		float64(hour)*p.CacheWrite1h +
		float64(max(u.CompletionTokens, 0))*p.Output) / 1e6, ""
}

// warnOnce says, once per model and missing rate, that a cost is unknown. rate is
// the missing cache rate's config key, "" when the model has no price at all.
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
		p.log.Warn("no cache price known for model; costs of requests using the cache are recorded as unknown",
			"model", model, "rate", rate,
			"fix", `add `+rate+` (USD per million tokens) to [pricing."`+model+`"] in config.toml`)
	case !seen && !full:
		p.log.Warn("no price known for model; its cost is recorded as unknown",
			"model", model,
			"fix", `add [pricing."`+model+`"] with input and output (USD per million tokens) to config.toml`)
	case sayCap:
		p.log.Warn("many models without a price; no further per-model warnings", "limit", maxWarned)
	}
}
