package server

import (
	"testing"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
)

// TestConfigCachePricesReachThePricer checks every [pricing] key feeds the pricer.
func TestConfigCachePricesReachThePricer(t *testing.T) {
	cfg := config.Default()
	cfg.Pricing["mine"] = config.Price{Input: 1, Output: 2, CacheRead: 0.1, CacheWrite: 1.25, CacheWrite1h: 2}
	got := Prices(cfg)["mine"]
	if got != (usage.Price{Input: 1, Output: 2, CachedInput: 0.1, CacheWrite: 1.25, CacheWrite1h: 2}) {
		t.Fatalf("price %+v", got)
	}
	usd, ok := usage.NewPricer(Prices(cfg), nil).Cost("mine", provider.Usage{PromptTokens: 100, CachedTokens: 10, CacheWriteTokens: 20, CacheWrite1hTokens: 5})
	if !ok || usd <= 0 {
		t.Fatalf("cost %v %v", usd, ok)
	}
}
