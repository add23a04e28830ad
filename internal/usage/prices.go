// Package usage prices token usage and estimates token counts when an upstream
// reports none, and holds the one usage reader per wire format (read.go).
//
// Two rules shape it. A model without a known price is never silently free: Cost
// reports ok=false so the caller records cost as unknown (NULL), and the user is
// warned once per model. And every token class bills at its own rate: prompt tokens
// read from or written to a cache are counted inside provider.Usage.PromptTokens
// (OpenAI's convention, which the Anthropic readers follow), so they are subtracted
// before the full input rate applies, never billed twice. A rate the table lacks for
// a class the request used (a cache, a service tier, a long prompt) makes the cost
// unknown, like a missing price.
//
// The table is data: prices.toml, embedded, one row per model with the day it was
// checked and the page it came from; config.toml's [pricing] overrides rows.
package usage

import (
	"bytes"
	_ "embed"
	"fmt"
	"sort"

	"github.com/pelletier/go-toml/v2"
)

// Price is a model's list price in USD per million tokens (WebSearch: USD per call).
//
// A rate of zero means the rate is not known, unless the whole price is zero (a free
// model, the mock): then everything is free. Usage that needs a rate the price does
// not know has an unknown cost; guessing the input rate would misstate it either way
// (writes bill above input, reads far below).
type Price struct {
	Input  float64 // uncached prompt tokens
	Output float64 // completion tokens (reasoning tokens included, as every provider bills them)
	// CachedInput is the rate for prompt tokens read from a cache (OpenAI's cached
	// input, Anthropic's cache_read_input_tokens, Gemini's cachedContentTokenCount).
	CachedInput float64
	// CacheWrite is the rate for prompt tokens written to a cache with the default
	// 5-minute lifetime (Anthropic's cache_creation_input_tokens; OpenAI GPT-5.6+).
	CacheWrite float64
	// CacheWrite1h is the rate for prompt tokens written to a 1-hour cache.
	CacheWrite1h float64
	// LongAbove is the prompt size (cache included) above which every token of the
	// request bills at the Long* rates; 0 when the model has no long-context tier.
	LongAbove                                                                int
	LongInput, LongOutput, LongCachedInput, LongCacheWrite, LongCacheWrite1h float64
	// Priority and Flex multiply every rate for a request that ran on that service
	// tier; 0 means the tier's price is unknown.
	Priority, Flex float64
	// WebSearch is the fee per server-side web search call.
	WebSearch float64
}

// free reports a zero price: everything about the model costs nothing.
func (p Price) free() bool { return p == Price{} }

// Row is one line of the price table: a price and where it came from.
type Row struct {
	Name    string
	Aliases []string
	Price
	Checked  string // YYYY-MM-DD
	Source   string // the public page
	Verified bool   // false: some rate is from a secondary source or derived
	Note     string
	// Override is true for a row from config.toml.
	Override bool
}

//go:embed prices.toml
var pricesTOML []byte

type fileRow struct {
	Name             string   `toml:"name"`
	Aliases          []string `toml:"aliases"`
	Input            float64  `toml:"input"`
	Output           float64  `toml:"output"`
	CacheRead        float64  `toml:"cache_read"`
	CacheWrite       float64  `toml:"cache_write"`
	CacheWrite1h     float64  `toml:"cache_write_1h"`
	LongAbove        int      `toml:"long_above"`
	LongInput        float64  `toml:"long_input"`
	LongOutput       float64  `toml:"long_output"`
	LongCacheRead    float64  `toml:"long_cache_read"`
	LongCacheWrite   float64  `toml:"long_cache_write"`
	LongCacheWrite1h float64  `toml:"long_cache_write_1h"`
	Priority         float64  `toml:"priority"`
	Flex             float64  `toml:"flex"`
	WebSearch        float64  `toml:"web_search"`
	Checked          string   `toml:"checked"`
	Source           string   `toml:"source"`
	Verified         bool     `toml:"verified"`
	Note             string   `toml:"note"`
}

// builtin is the parsed table; the file is part of the binary, so a parse error is
// a build defect that the package's tests catch.
var builtin = func() []Row {
	rows, err := parseTable(pricesTOML)
	if err != nil {
		panic(err)
	}
	return rows
}()

func parseTable(b []byte) ([]Row, error) {
	var f struct {
		Model []fileRow `toml:"model"`
	}
	d := toml.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("usage: prices.toml: %w", err)
	}
	rows := make([]Row, 0, len(f.Model))
	seen := map[string]bool{}
	for _, r := range f.Model {
		for _, n := range append([]string{r.Name}, r.Aliases...) {
			if n == "" || seen[n] {
				return nil, fmt.Errorf("usage: prices.toml: model %q empty or listed twice", n)
			}
			seen[n] = true
		}
		rows = append(rows, Row{Name: r.Name, Aliases: r.Aliases, Checked: r.Checked, Source: r.Source,
			Verified: r.Verified, Note: r.Note, Price: Price{
				Input: r.Input, Output: r.Output, CachedInput: r.CacheRead, CacheWrite: r.CacheWrite,
				CacheWrite1h: r.CacheWrite1h, LongAbove: r.LongAbove, LongInput: r.LongInput,
				LongOutput: r.LongOutput, LongCachedInput: r.LongCacheRead, LongCacheWrite: r.LongCacheWrite,
				LongCacheWrite1h: r.LongCacheWrite1h, Priority: r.Priority, Flex: r.Flex, WebSearch: r.WebSearch,
			}})
	}
	return rows, nil
}

// DefaultRows returns a copy of the built-in price table, in file order.
func DefaultRows() []Row {
	out := make([]Row, len(builtin))
	copy(out, builtin)
	return out
}

// sortRows orders rows by name, for listings.
func sortRows(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
}

func sortStrings(s []string) { sort.Strings(s) }
