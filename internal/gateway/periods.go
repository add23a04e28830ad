package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/budget"
)

// periods remembers the budget period each key was last admitted in, so the first
// request of a new period is noticed: its spend starts from 0 (a new account) and the
// reset is logged once per key, never silently.
type periods struct {
	mu   sync.Mutex
	last map[string]int64 // key id -> period start (unix ms) of its last request
}

// periodStarted notes that p is spending from acct and logs "budget period reset"
// when that is a later period than the key's previous request was in.
func (g *Gateway) periodStarted(ctx context.Context, p *auth.Principal, acct budget.Account) {
	if acct.Start == 0 {
		return
	}
	g.periods.mu.Lock()
	if g.periods.last == nil {
		g.periods.last = map[string]int64{}
	}
	prev, seen := g.periods.last[p.KeyID]
	if !seen || prev < acct.Start {
		g.periods.last[p.KeyID] = acct.Start
	}
	g.periods.mu.Unlock()
	if !seen || prev >= acct.Start {
		return // the process's first look at this key, or the same period
	}
	old := budget.Account{Key: p.KeyID, Start: prev}
	start := time.UnixMilli(acct.Start).UTC()
	g.o.Logger.InfoContext(ctx, "budget period reset", "key_id", p.KeyID, "key", p.Name,
		"period", p.BudgetPeriod.String(), "label", p.BudgetPeriod.Label(start),
		"start", start.Format(time.RFC3339), "resets", p.BudgetPeriod.End(start).Format(time.RFC3339),
		"previous_spent_usd", g.o.Spend.Spent(ctx, []budget.Account{old})[0],
		"spent_usd", g.o.Spend.Spent(ctx, []budget.Account{acct})[0])
}
