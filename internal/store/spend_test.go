package store

import (
	"context"
	"math"
	"testing"
	"time"
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
