package store

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestSessionSumsAreTheRows: every figure of a session is the sum of its rows, as
// the rows themselves add up, on each driver; rows without a session make none.
func TestSessionSumsAreTheRows(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		price := func(v float64) *float64 { return &v }
		var rows []RequestRow
		for i := range 9 {
			r := RequestRow{ID: "r", Started: t0.Add(time.Duration(i) * time.Second), Endpoint: "/v1/messages",
				Model: []string{"claude-sonnet-4-5", "claude-haiku-4-5"}[i%2], Status: 200, LatencyMS: 250,
				PromptTokens: 1000 + i, CompletionTokens: 10 * i, CachedTokens: 100 * i, CacheWriteTokens: 7 * i,
				CostUSD: price(0.001 * float64(i+1)), SessionID: []string{"s-a", "s-b", ""}[i%3],
				Agent: "claude-code", AgentVersion: "2.0.76"}
			if i == 3 {
				r.Status, r.CostUSD, r.Error = 429, nil, "rate limited"
			}
			rows = append(rows, r)
		}
		if err := s.InsertRequests(ctx, rows); err != nil {
			t.Fatal(err)
		}
		got, err := s.Sessions(ctx, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "s-b" || got[1].ID != "s-a" {
			t.Fatalf("sessions %+v, want s-b then s-a (newest first)", got)
		}
		for _, ss := range got {
			rs, err := s.SessionRequests(ctx, ss.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := SessionSummary{ID: ss.ID, Agent: "claude-code", AgentVersion: "2.0.76", Started: rs[0].Started,
				Turns: len(rs), Models: []string{"claude-haiku-4-5", "claude-sonnet-4-5"}}
			var cost float64
			for _, r := range rs {
				want.PromptTokens += int64(r.PromptTokens)
				want.CompletionTokens += int64(r.CompletionTokens)
				want.CachedTokens += int64(r.CachedTokens)
				want.CacheWriteTokens += int64(r.CacheWriteTokens)
				if r.CostUSD != nil {
					cost += *r.CostUSD
				} else {
					want.UnpricedRequests++
				}
				if r.Status >= 400 {
					want.Errors++
				}
			}
			last := rs[len(rs)-1]
			want.DurationMS = float64(last.Started.Sub(rs[0].Started).Milliseconds()) + last.LatencyMS
			if math.Abs(ss.CostUSD-cost) > 1e-12 {
				t.Errorf("%s: cost %v, rows sum to %v", ss.ID, ss.CostUSD, cost)
			}
			want.CostUSD = ss.CostUSD
			if !reflect.DeepEqual(ss, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", ss.ID, ss, want)
			}
		}
		if got[1].Errors != 1 || got[1].UnpricedRequests != 1 {
			t.Errorf("s-a has the 429: %+v", got[1])
		}
		if _, err := s.SessionRequests(ctx, "nope"); err != ErrNotFound {
			t.Errorf("unknown session: %v", err)
		}
	})
}
