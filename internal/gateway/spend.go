package gateway

import (
	"context"
	"sync"
)

// SpendBook records and reports USD spent per key, for budgets: *Spend in one process,
// or a shared book (Redis) across replicas. A budget is checked before admission and
// spend is added when a request finishes, so concurrent requests of one key can
// overshoot its budget by at most the cost of those already in flight.
type SpendBook interface {
	// Spent returns each key's spend, in the order given (one round trip for a
	// shared book; 0 for a key it cannot read).
	Spent(ctx context.Context, keys []string) []float64
	// Add books spend for a key.
	Add(ctx context.Context, key string, usd float64)
	// Exhausted reports, before admission, that a key has spent its budget. A shared
	// book may answer false and leave the check to the limiter (limits.Limits.Budget).
	Exhausted(key string, budget float64) bool
}

// Spend tracks USD spent per key, for budgets. It starts from the request log's
// totals and grows as requests finish, so a budget check never reads SQLite.
type Spend struct {
	mu sync.RWMutex
	by map[string]float64
}

// NewSpend starts from initial totals (may be nil).
func NewSpend(initial map[string]float64) *Spend {
	s := &Spend{by: make(map[string]float64, len(initial))}
	for k, v := range initial {
		s.by[k] = v
	}
	return s
}

// Spent returns each key's spend.
func (s *Spend) Spent(_ context.Context, keys []string) []float64 {
	out := make([]float64, len(keys))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i, k := range keys {
		out[i] = s.by[k]
	}
	return out
}

// Add records spend for a key.
func (s *Spend) Add(_ context.Context, key string, usd float64) {
	if usd == 0 {
		return
	}
	s.mu.Lock()
	s.by[key] += usd
	s.mu.Unlock()
}

// Exhausted reports whether key has spent at least budget.
func (s *Spend) Exhausted(key string, budget float64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.by[key] >= budget
}
