package store

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
)

// TestSpendLedgerSurvivesRetention: before, spend was summed from log rows, so rows
// pruned by log.retention gave a key its budget back. The ledger keeps it.
func TestSpendLedgerSurvivesRetention(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		cost := func(v float64) *float64 { return &v }
		old := time.Now().Add(-30 * 24 * time.Hour)
		rows := []RequestRow{
			{ID: "a", Started: old, KeyID: "k1", Status: 200, CostUSD: cost(1.25)},
			{ID: "b", Started: old, KeyID: "k1", Status: 200, CostUSD: cost(0.75)},
			{ID: "c", Started: old, KeyID: "k2", Status: 200, CostUSD: cost(3)},
			{ID: "d", Started: old, KeyID: "k2", Status: 200}, // unpriced
			{ID: "e", Started: old, KeyID: "", Status: 200, CostUSD: cost(9)},
		}
		if err := s.InsertRequests(ctx, rows); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertRequests(ctx, []RequestRow{{ID: "f", Started: time.Now(), KeyID: "k1", Status: 200, CostUSD: cost(0.5)}}); err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"k1": 2.5, "k2": 3}
		check := func(when string) {
			got, err := s.SpendByKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %v, want %v", when, got, want)
			}
			for k, v := range want {
				if math.Abs(got[k]-v) > 1e-9 {
					t.Fatalf("%s: %v, want %v", when, got, want)
				}
			}
		}
		check("before pruning")
		n, err := s.PruneRequests(ctx, time.Now().Add(-7*24*time.Hour))
		if err != nil || n != 5 {
			t.Fatalf("pruned %d, %v", n, err)
		}
		check("after pruning")
	})
}

// TestSpendLedgerPerPeriod: a key with a monthly budget books each row to its
// lifetime account and to the month the request started in; both survive retention,
// and a period change is picked up by the next booking.
func TestSpendLedgerPerPeriod(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		cost := func(v float64) *float64 { return &v }
		k, _, err := s.CreateKey(ctx, NewKey{Name: "monthly", BudgetUSD: cost(5), BudgetPeriod: budget.Month})
		if err != nil {
			t.Fatal(err)
		}
		if k.BudgetPeriod != budget.Month {
			t.Fatalf("created with period %q", k.BudgetPeriod)
		}
		oct := time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC)
		nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		if err := s.InsertRequests(ctx, []RequestRow{
			{ID: "a", Started: oct, KeyID: k.ID, Status: 200, CostUSD: cost(2)},
			{ID: "b", Started: nov, KeyID: k.ID, Status: 200, CostUSD: cost(1.5)},
			{ID: "c", Started: nov.Add(time.Hour), KeyID: k.ID, Status: 200, CostUSD: cost(0.25)},
		}); err != nil {
			t.Fatal(err)
		}
		want := map[budget.Account]float64{
			{Key: k.ID}: 3.75,
			{Key: k.ID, Start: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}: 2,
			{Key: k.ID, Start: nov.UnixMilli()}:                                          1.75,
		}
		check := func(when string) {
			t.Helper()
			got, err := s.SpendSince(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %v, want %v", when, got, want)
			}
			for a, v := range want {
				if math.Abs(got[a]-v) > 1e-9 {
					t.Fatalf("%s: %v = %v, want %v", when, a, got[a], v)
				}
				if one, err := s.SpendOf(ctx, a); err != nil || math.Abs(one-v) > 1e-9 {
					t.Fatalf("%s: SpendOf(%v) = %v, %v", when, a, one, err)
				}
			}
		}
		check("before pruning")
		if n, err := s.PruneRequests(ctx, time.Now()); err != nil || n != 3 {
			t.Fatalf("pruned %d, %v", n, err)
		}
		check("after pruning")
		// Only periods still running (and lifetimes) when asked from November on.
		got, err := s.SpendSince(ctx, nov)
		if err != nil || len(got) != 2 || got[budget.Account{Key: k.ID, Start: nov.UnixMilli()}] != 1.75 {
			t.Fatalf("SpendSince(nov) = %v, %v", got, err)
		}
		if life, err := s.SpendByKey(ctx); err != nil || life[k.ID] != 3.75 {
			t.Fatalf("lifetime %v, %v", life, err)
		}
		// Back to a lifetime budget: later spend books period 0 only. Running gateways
		// see the change (the keys_version trigger covers the new column).
		v0, err := s.KeysVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		none := budget.None
		if u, err := s.UpdateKey(ctx, k.ID, KeyUpdate{BudgetPeriod: &none}); err != nil || u.BudgetPeriod != budget.None {
			t.Fatalf("update: %v %v", u.BudgetPeriod, err)
		}
		if v1, err := s.KeysVersion(ctx); err != nil || v1 == v0 {
			t.Fatalf("keys_version %d -> %d (%v): a period change would not reach running gateways", v0, v1, err)
		}
		if err := s.InsertRequests(ctx, []RequestRow{{ID: "d", Started: nov, KeyID: k.ID, Status: 200, CostUSD: cost(1)}}); err != nil {
			t.Fatal(err)
		}
		want[budget.Account{Key: k.ID}] = 4.75
		check("after switching to none")
		bad := budget.Period("year")
		if _, err := s.UpdateKey(ctx, k.ID, KeyUpdate{BudgetPeriod: &bad}); err == nil {
			t.Fatal("a year period was accepted")
		}
		if _, _, err := s.CreateKey(ctx, NewKey{Name: "x", BudgetPeriod: "fortnight"}); err == nil {
			t.Fatal("a fortnight period was accepted")
		}
	})
}

// TestMigrateSpendToPeriods: a database at migration 0005 (the ledger keyed by key
// alone) keeps its lifetime totals through 0006, as period_start 0.
func TestMigrateSpendToPeriods(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		// Put the schema back to 0005's shape, with one key's lifetime spend in it.
		down := []string{
			"DROP TRIGGER keys_version_update",
			"ALTER TABLE keys DROP COLUMN budget_period",
			"DROP TABLE spend",
			"CREATE TABLE spend (key_id TEXT PRIMARY KEY, usd REAL NOT NULL DEFAULT 0, updated BIGINT NOT NULL DEFAULT 0)",
			"INSERT INTO spend (key_id, usd, updated) VALUES ('k1', 2.5, 1)",
			"DELETE FROM schema_migrations WHERE version = 6",
		}
		if s.db.pg {
			down[0] += " ON keys"
		}
		for _, q := range down {
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := s.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := s.SpendByKey(ctx)
		if err != nil || len(got) != 1 || got["k1"] != 2.5 {
			t.Fatalf("after 0006: %v, %v", got, err)
		}
		cost := 1.0
		if err := s.InsertRequests(ctx, []RequestRow{{ID: "a", Started: time.Now(), KeyID: "k1", Status: 200, CostUSD: &cost}}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SpendByKey(ctx); err != nil || got["k1"] != 3.5 {
			t.Fatalf("booked after 0006: %v, %v", got, err)
		}
	})
}
