package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/store"
)

// keyView is a key as `keys show/list/update --json` print it: the stored key plus its
// budget's current period and what was spent in it (from the spend ledger, so it
// survives log retention). For a lifetime budget the period fields are null and
// spent_usd is the lifetime total.
type keyView struct {
	store.Key
	BudgetPeriodStart *time.Time `json:"budget_period_start"`
	BudgetResetsAt    *time.Time `json:"budget_resets_at"`
	SpentUSD          float64    `json:"spent_usd"`
}

// keysSpendSince is the earliest start of a budget period running at now.
func keysSpendSince(now time.Time) time.Time {
	since := budget.Month.Start(now)
	if w := budget.Week.Start(now); w.Before(since) {
		since = w
	}
	return since
}

// keyViews reads the current period's spend of each key in one query.
func keyViews(ctx context.Context, s *store.Store, keys []store.Key, now time.Time) ([]keyView, error) {
	spent, err := s.SpendSince(ctx, keysSpendSince(now))
	if err != nil {
		return nil, err
	}
	out := make([]keyView, len(keys))
	for i, k := range keys {
		out[i] = keyView{Key: k, SpentUSD: spent[budget.For(k.ID, k.BudgetPeriod, now)]}
		if k.BudgetPeriod != budget.None {
			start := k.BudgetPeriod.Start(now)
			end := k.BudgetPeriod.End(start)
			out[i].BudgetPeriodStart, out[i].BudgetResetsAt = &start, &end
		}
	}
	return out, nil
}

// keysBudgetLine is the Budget row of `keys show`: "$5.00 per month (spent $1.20 in
// November 2026; resets 2026-12-01 00:00 UTC)", "$5.00 (spent $1.20)" or "none".
func keysBudgetLine(v keyView) string {
	if v.BudgetUSD == nil {
		return "none"
	}
	spent := fmt.Sprintf("spent $%.2f", v.SpentUSD)
	if v.BudgetPeriodStart == nil {
		return fmt.Sprintf("$%.2f (%s)", *v.BudgetUSD, spent)
	}
	p := v.BudgetPeriod
	return fmt.Sprintf("$%.2f per %s (%s in %s; resets %s UTC)", *v.BudgetUSD, p, spent,
		p.Label(*v.BudgetPeriodStart), v.BudgetResetsAt.Format("2006-01-02 15:04"))
}
