package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/store"
)

// TestKeysBudgetPeriod: create and update set a key's budget period; show and list
// print the current period, when it resets and what was spent in it (from the ledger).
func TestKeysBudgetPeriod(t *testing.T) {
	e := newKeysEnv(t, false)
	now := time.Now().UTC()
	month := budget.Month.Start(now)
	if code := e.run("create", "--name", "team", "--budget", "5", "--budget-period", "month", "--json"); code != 0 {
		t.Fatalf("create: %d %s", code, e.err)
	}
	var created struct {
		ID     string `json:"id"`
		Period string `json:"budget_period"`
	}
	if err := json.Unmarshal(e.out.Bytes(), &created); err != nil || created.Period != "month" {
		t.Fatalf("create --json: %v %s", err, e.out)
	}
	st := e.store(t)
	cost := func(v float64) *float64 { return &v }
	if err := st.InsertRequests(context.Background(), []store.RequestRow{
		{ID: "last", Started: month.Add(-time.Hour), KeyID: created.ID, Status: 200, CostUSD: cost(3)},
		{ID: "this", Started: month.Add(time.Minute), KeyID: created.ID, Status: 200, CostUSD: cost(1.25)},
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if budget.Month.Start(time.Now()) != month {
		t.Skip("the month changed while the test ran")
	}
	type view struct {
		Period string     `json:"budget_period"`
		Start  *time.Time `json:"budget_period_start"`
		Resets *time.Time `json:"budget_resets_at"`
		Spent  float64    `json:"spent_usd"`
	}
	var v view
	if code := e.run("show", created.ID, "--json"); code != 0 || json.Unmarshal(e.out.Bytes(), &v) != nil {
		t.Fatalf("show --json: %d %s %s", code, e.out, e.err)
	}
	if v.Period != "month" || v.Start == nil || !v.Start.Equal(month) || v.Resets == nil ||
		!v.Resets.Equal(budget.Month.End(month)) || v.Spent != 1.25 {
		t.Fatalf("show --json: %s", e.out)
	}
	if code := e.run("show", created.ID); code != 0 || !strings.Contains(e.out.String(),
		"$5.00 per month (spent $1.25 in "+month.Format("January 2006")+"; resets "+
			budget.Month.End(month).Format("2006-01-02")+" 00:00 UTC)") {
		t.Fatalf("show: %d %s", code, e.out)
	}
	var list []view
	if code := e.run("list", "--json"); code != 0 || json.Unmarshal(e.out.Bytes(), &list) != nil || len(list) != 1 || list[0].Spent != 1.25 {
		t.Fatalf("list --json: %d %s", code, e.out)
	}
	// Back to a lifetime budget: spend is the lifetime total, no period.
	if code := e.run("update", created.ID, "--budget-period", "none", "--json"); code != 0 || json.Unmarshal(e.out.Bytes(), &v) != nil {
		t.Fatalf("update: %d %s %s", code, e.out, e.err)
	}
	if v.Period != "none" || v.Start != nil || v.Resets != nil || v.Spent != 4.25 {
		t.Fatalf("update --budget-period none: %s", e.out)
	}
	if code := e.run("update", created.ID, "--budget-period", "week"); code != 0 || !strings.Contains(e.out.String(), "per week") {
		t.Fatalf("update --budget-period week: %d %s %s", code, e.out, e.err)
	}
	if code := e.run("update", created.ID, "--budget-period", "year"); code != 2 || !strings.Contains(e.err.String(), "none, day, week or month") {
		t.Fatalf("update --budget-period year: %d %s", code, e.err)
	}
	if code := e.run("create", "--name", "x", "--budget-period", "fortnight"); code != 2 {
		t.Fatalf("create --budget-period fortnight: %d %s", code, e.err)
	}
}
