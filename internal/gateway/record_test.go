package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/store"
)

// A logged request comes back as the detail view with every field the live event had:
// row() and detailFromRow are the two directions of one conversion.
func TestDetailFromRowKeepsTheRow(t *testing.T) {
	ttft, cost := 12.5, 0.01
	row := store.RequestRow{ID: "req-1", Started: time.Unix(1700000000, 0), KeyID: "k1", KeyName: "dev",
		Project: "web", Endpoint: "/v1/messages", Model: "claude", Provider: "mock", UpstreamModel: "m",
		ProvidersTried: []string{"a", "mock"}, Status: 200, Stream: true, LatencyMS: 40, TTFTMS: &ttft,
		OverheadMS: 1, PromptTokens: 10, CompletionTokens: 20, CachedTokens: 3, CacheWriteTokens: 4,
		TokensEstimated: true, CostUSD: &cost, Attempts: 2, Error: "e", Dialect: "messages",
		UpstreamDialect: "chat", SessionID: "s1", Dropped: []string{"top_k", "metadata"},
		RequestBody: "in", ResponseBody: "out"}
	d := detailFromRow(row)
	e := d.Request
	if e.ID != row.ID || !e.Started.Equal(row.Started) || e.KeyID != row.KeyID || e.KeyName != row.KeyName ||
		e.Project != row.Project || e.Endpoint != "/v1/messages" || e.Model != row.Model || e.Provider != row.Provider ||
		e.UpstreamModel != row.UpstreamModel || len(e.Providers) != 2 || e.Status != 200 || !e.Stream ||
		e.LatencyMS != 40 || e.TTFTMS != ttft || e.OverheadMS != 1 || e.PromptTokens != 10 || e.CompletionTokens != 20 ||
		e.CachedTokens != 3 || e.CacheWriteTokens != 4 || !e.TokensEstimated || e.CostUSD == nil || *e.CostUSD != cost ||
		e.Attempts != 2 || e.Error != "e" || e.Dialect != "messages" || e.UpstreamDialect != "chat" ||
		e.Session != "s1" || len(e.Dropped) != 2 {
		t.Fatalf("detail lost fields:\n row %+v\n got %+v", row, e)
	}
	if d.RequestBody != "in" || d.ResponseBody != "out" {
		t.Fatalf("bodies: %q %q", d.RequestBody, d.ResponseBody)
	}
}

// countingBook is a SpendBook that counts reads.
type countingBook struct {
	Spend
	reads int
	keys  []budget.Account
}

func (b *countingBook) Spent(ctx context.Context, keys []budget.Account) []float64 {
	b.reads++
	b.keys = keys
	return b.Spend.Spent(ctx, keys)
}

// KeyLimits asks the budget book once for every key (one MGET when it is Redis), not
// once per key.
func TestKeyLimitsReadsSpendOnce(t *testing.T) {
	lim := limits.New(limits.Options{})
	defer lim.Close()
	for _, k := range []string{"k1", "k2", "k3"} {
		tk, err := lim.Acquire(context.Background(), k, k, limits.Limits{RPM: 10})
		if err != nil {
			t.Fatal(err)
		}
		tk.Release(0)
	}
	book := &countingBook{Spend: *NewSpend(map[budget.Account]float64{{Key: "k2"}: 1.5})}
	g := New(Options{Limiter: lim, Spend: book})
	ks := g.KeyLimits(context.Background())
	if book.reads != 1 || len(book.keys) != 3 || len(ks) != 3 {
		t.Fatalf("reads=%d keys=%v limits=%d, want one read of 3 keys", book.reads, book.keys, len(ks))
	}
	for _, k := range ks {
		if want := map[string]float64{"k2": 1.5}[k.KeyID]; k.SpentUSD != want {
			t.Errorf("%s spent %v, want %v", k.KeyID, k.SpentUSD, want)
		}
	}
}
