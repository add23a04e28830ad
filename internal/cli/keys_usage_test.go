package cli

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
)

func usageRows(now time.Time) []store.RequestRow {
	return []store.RequestRow{
		{ID: "1", Started: now, KeyID: "k1", KeyName: "alice", Project: "web", Model: "gpt-4o", PromptTokens: 100, CompletionTokens: 50, CostUSD: costPtr(0.25)},
		{ID: "2", Started: now, KeyID: "k1", KeyName: "alice", Project: "web", Model: "gpt-4o", PromptTokens: 10, CompletionTokens: 5, CostUSD: costPtr(0.5)},
		{ID: "3", Started: now, KeyID: "k1", KeyName: "alice", Project: "web", Model: "llama", PromptTokens: 7, CompletionTokens: 3}, // unpriced
		{ID: "4", Started: now, KeyID: "k2", KeyName: "bob", Project: "batch", Model: "gpt-4o", PromptTokens: 1000, CompletionTokens: 1, CostUSD: costPtr(2),
			CachedTokens: 600, CacheWriteTokens: 300},
		{ID: "5", Started: now, KeyID: "k3", KeyName: "carol", Project: "batch", Model: "llama", PromptTokens: 4, CompletionTokens: 4}, // unpriced only
		{ID: "6", Started: now.Add(-3 * 24 * time.Hour), KeyID: "k2", KeyName: "bob", Model: "gpt-4o", PromptTokens: 1, CostUSD: costPtr(100)},
	}
}

func runUsageJSON(t *testing.T, e *logsEnv, args ...string) usageReport {
	t.Helper()
	e.out.mu.Lock()
	e.out.b.Reset()
	e.out.mu.Unlock()
	if err := e.run(context.Background(), append([]string{"keys", "usage", "--json"}, args...)...); err != nil {
		t.Fatal(err)
	}
	var rep usageReport
	if err := json.Unmarshal([]byte(e.out.String()), &rep); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, e.out)
	}
	return rep
}

func TestKeysUsageTotalsEqualSumOfRows(t *testing.T) {
	e := newLogsEnv(t)
	e.seed(t, usageRows(time.Now())...)
	for _, by := range []string{"key", "project", "model"} {
		t.Run(by, func(t *testing.T) {
			rep := runUsageJSON(t, e, "--by", by)
			if rep.By != by || len(rep.Groups) == 0 {
				t.Fatalf("report = %+v", rep)
			}
			var sum store.UsageGroup
			for _, g := range rep.Groups {
				sum.Requests += g.Requests
				sum.PromptTokens += g.PromptTokens
				sum.CompletionTokens += g.CompletionTokens
				sum.CachedTokens += g.CachedTokens
				sum.CacheWriteTokens += g.CacheWriteTokens
				sum.CostUSD += g.CostUSD
				sum.UnpricedRequests += g.UnpricedRequests
			}
			tot := rep.Total
			if tot.Requests != sum.Requests || tot.PromptTokens != sum.PromptTokens ||
				tot.CompletionTokens != sum.CompletionTokens || tot.UnpricedRequests != sum.UnpricedRequests ||
				tot.CachedTokens != 600 || tot.CacheWriteTokens != 300 || tot.CachedTokens != sum.CachedTokens ||
				math.Abs(tot.CostUSD-sum.CostUSD) > 1e-9 {
				t.Fatalf("total %+v != sum %+v", tot, sum)
			}
			// The 24h window leaves out the 3-day-old row; the two llama rows are unpriced.
			if tot.Requests != 5 || tot.PromptTokens != 1121 || math.Abs(tot.CostUSD-2.75) > 1e-9 || tot.UnpricedRequests != 2 {
				t.Fatalf("total = %+v", tot)
			}
		})
	}
	rep := runUsageJSON(t, e, "--since", "7d")
	if rep.Total.Requests != 6 || math.Abs(rep.Total.CostUSD-102.75) > 1e-9 {
		t.Fatalf("--since 7d total = %+v", rep.Total)
	}
	rep = runUsageJSON(t, e, "k1", "--by", "model")
	if rep.KeyID != "k1" || len(rep.Groups) != 2 || rep.Total.Requests != 3 || rep.Total.UnpricedRequests != 1 {
		t.Fatalf("one key by model = %+v", rep)
	}
	for _, g := range rep.Groups {
		if g.Model == "" || g.Model != g.Key {
			t.Fatalf("--by model groups are not labelled by model: %+v", g)
		}
	}
	empty := runUsageJSON(t, e, "nobody")
	if empty.Groups == nil || len(empty.Groups) != 0 || empty.Total.Requests != 0 {
		t.Fatalf("empty report = %+v", empty)
	}
}

func TestKeysUsageTable(t *testing.T) {
	e := newLogsEnv(t)
	e.seed(t, usageRows(time.Now())...)
	if err := e.run(context.Background(), "keys", "usage"); err != nil {
		t.Fatal(err)
	}
	out := e.out.String()
	lines := strings.Split(out, "\n")
	find := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return l
			}
		}
		t.Fatalf("no line starting %q in:\n%s", prefix, out)
		return ""
	}
	if l := find("KEY"); !strings.Contains(l, "PROMPT  CACHED  CACHE WRITE  COMPLETION") {
		t.Errorf("header: %q", l)
	}
	if l := find("bob (k2)"); !strings.Contains(l, "$2.00") || !strings.Contains(l, " 1000     600          300 ") {
		t.Errorf("bob: %q", l)
	}
	// alice has priced and unpriced requests: the known part, marked incomplete.
	// The last column is ESTIMATED (none here), UNPRICED before it.
	if l := find("alice (k1)"); !strings.Contains(l, "$0.7500+?") || !strings.HasSuffix(strings.TrimSpace(l), "1          0") {
		t.Errorf("alice: %q", l)
	}
	// carol's only request is unpriced: unknown, not $0.
	if l := find("carol (k3)"); !strings.Contains(l, unknownMark) || strings.Contains(l, "$0") {
		t.Errorf("carol: %q", l)
	}
	if l := find("TOTAL"); !strings.Contains(l, "5") || !strings.Contains(l, "$2.75+?") || !strings.Contains(l, " 600 ") {
		t.Errorf("total: %q", l)
	}
	if !strings.Contains(out, "Total: $2.75 + 2 unpriced requests\n") {
		t.Errorf("no total line that adds up:\n%s", out)
	}
	if !strings.Contains(out, "2 request(s) used models with no price (or no cache price)") {
		t.Errorf("no unpriced note:\n%s", out)
	}
}
