// Package usage prices token usage and estimates token counts when an upstream
// reports none.
//
// Two rules shape it. A model without a known price is never silently free: Cost
// reports ok=false so the caller records cost as unknown (NULL), and the user is
// warned once per model. And prompt tokens read from or written to a cache are billed
// at their own rates: provider.Usage counts them inside PromptTokens (OpenAI's
// convention, which the Anthropic translation follows), so they are subtracted
// before the full input rate applies, never billed twice. A cache rate the table
// lacks makes the cost of a request that used the cache unknown, like a missing price.
package usage

// Price is a model's list price in USD per million tokens.
//
// A cache rate of zero means the rate is not known, unless the whole price is zero
// (a free model, the mock): then cache tokens are free too. Usage that touched a
// cache whose rate is unknown has an unknown cost; guessing the input rate would
// misstate it either way (writes bill above input, reads far below).
type Price struct {
	Input  float64 // uncached prompt tokens
	Output float64 // completion tokens (reasoning tokens included, as OpenAI bills them)
	// CachedInput is the rate for prompt tokens read from a cache (OpenAI's cached
	// input, Anthropic's cache_read_input_tokens).
	CachedInput float64
	// CacheWrite is the rate for prompt tokens written to a cache with the default
	// 5-minute lifetime (Anthropic's cache_creation_input_tokens).
	CacheWrite float64
	// CacheWrite1h is the rate for prompt tokens written to a 1-hour cache.
	CacheWrite1h float64
}

// free reports a zero price: everything about the model costs nothing.
func (p Price) free() bool { return p == Price{} }

// DefaultPrices returns a fresh copy of the built-in price table: public list prices
// (standard tier, no batch or flex discounts, no long-context surcharges) as of late
// 2025. Dated snapshots resolve to these names through Pricer.Lookup; snapshots whose
// price differs from their alias are listed on their own.
func DefaultPrices() map[string]Price {
	m := make(map[string]Price, len(defaultPrices))
	for k, v := range defaultPrices {
		m[k] = v
	}
	return m
}

// anthropic builds an Anthropic price: cache reads bill at 0.1x input, 5-minute
// cache writes at 1.25x input and 1-hour writes at 2x, uniformly across the models.
func anthropic(in, out float64) Price {
	return Price{Input: in, Output: out, CachedInput: in / 10, CacheWrite: in * 1.25, CacheWrite1h: in * 2}
}

var defaultPrices = map[string]Price{
	// OpenAI chat and reasoning models.
	"gpt-5":             {Input: 1.25, Output: 10, CachedInput: 0.125},
	"gpt-5-chat-latest": {Input: 1.25, Output: 10, CachedInput: 0.125},
	"gpt-5.1":           {Input: 1.25, Output: 10, CachedInput: 0.125},
	"gpt-5-codex":       {Input: 1.25, Output: 10, CachedInput: 0.125},
	"gpt-5-pro":         {Input: 15, Output: 120},
	"gpt-5-mini":        {Input: 0.25, Output: 2, CachedInput: 0.025},
	"gpt-5-nano":        {Input: 0.05, Output: 0.40, CachedInput: 0.005},
	"gpt-4.1":           {Input: 2, Output: 8, CachedInput: 0.50},
	"gpt-4.1-mini":      {Input: 0.40, Output: 1.60, CachedInput: 0.10},
	"gpt-4.1-nano":      {Input: 0.10, Output: 0.40, CachedInput: 0.025},
	"gpt-4o":            {Input: 2.50, Output: 10, CachedInput: 1.25},
	"gpt-4o-2024-05-13": {Input: 5, Output: 15}, // the first gpt-4o snapshot kept its launch price
	"chatgpt-4o-latest": {Input: 5, Output: 15},
	"gpt-4o-mini":       {Input: 0.15, Output: 0.60, CachedInput: 0.075},
	"o1":                {Input: 15, Output: 60, CachedInput: 7.50},
	"o1-pro":            {Input: 150, Output: 600},
	"o1-mini":           {Input: 1.10, Output: 4.40, CachedInput: 0.55},
	"o3":                {Input: 2, Output: 8, CachedInput: 0.50},
	"o3-pro":            {Input: 20, Output: 80},
	"o3-mini":           {Input: 1.10, Output: 4.40, CachedInput: 0.55},
	"o4-mini":           {Input: 1.10, Output: 4.40, CachedInput: 0.275},
	"gpt-4-turbo":       {Input: 10, Output: 30},
	"gpt-4":             {Input: 30, Output: 60},
	"gpt-3.5-turbo":     {Input: 0.50, Output: 1.50},
	// Legacy completions.
	"gpt-3.5-turbo-instruct": {Input: 1.50, Output: 2},
	"davinci-002":            {Input: 2, Output: 2},
	"babbage-002":            {Input: 0.40, Output: 0.40},
	// Embeddings bill input only.
	"text-embedding-3-small": {Input: 0.02},
	"text-embedding-3-large": {Input: 0.13},
	"text-embedding-ada-002": {Input: 0.10},

	// Anthropic. The "-0" names are Anthropic's own aliases for the 4.0 models.
	"claude-opus-4-5":   anthropic(5, 25),
	"claude-opus-4-1":   anthropic(15, 75),
	"claude-opus-4":     anthropic(15, 75),
	"claude-opus-4-0":   anthropic(15, 75),
	"claude-sonnet-4-5": anthropic(3, 15), // prompts over 200k tokens bill at 6/22.50, not modelled
	"claude-sonnet-4":   anthropic(3, 15),
	"claude-sonnet-4-0": anthropic(3, 15),
	"claude-3-7-sonnet": anthropic(3, 15),
	"claude-3-5-sonnet": anthropic(3, 15),
	"claude-haiku-4-5":  anthropic(1, 5),
	"claude-3-5-haiku":  anthropic(0.80, 4),
	"claude-3-opus":     anthropic(15, 75),
	"claude-3-haiku":    {Input: 0.25, Output: 1.25, CachedInput: 0.03, CacheWrite: 0.30, CacheWrite1h: 0.50},

	// The offline mock costs nothing; a known zero is an honest price. "mock-*" names
	// resolve here in Lookup.
	"mock": {},
}
