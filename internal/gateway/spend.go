package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
)

// SpendBook records and reports USD spent per key and budget period, for budgets:
// *Spend in one process, or a shared book (Redis) across replicas. A budget is
// checked before admission and spend is added when a request finishes, so concurrent
// requests of one key can overshoot its budget by at most the cost of those already in
// flight. An account (budget.Account) is one key's lifetime (Start 0) or one of its
// periods; a period's account starts at 0, which is what resets a periodic budget.
type SpendBook interface {
	// Spent returns each account's spend, in the order given (one round trip for a
	// shared book; 0 for an account it cannot read).
	Spent(ctx context.Context, accts []budget.Account) []float64
	// Add books spend for a key at time at: to its lifetime account and, when p is not
	// budget.None, to the account of the period holding at.
	Add(ctx context.Context, key string, p budget.Period, at time.Time, usd float64)
	// Exhausted reports, before admission, that an account has spent budget. A shared
	// book may answer false and leave the check to the limiter (limits.Limits.Budget).
	Exhausted(a budget.Account, budget float64) bool
}

// Spend tracks USD spent per account, for budgets. It starts from the spend ledger's
// totals and grows as requests finish, so a budget check never reads the database.
type Spend struct {
	mu sync.RWMutex
	by map[budget.Account]float64
}

// NewSpend starts from initial totals (may be nil).
func NewSpend(initial map[budget.Account]float64) *Spend {
	s := &Spend{by: make(map[budget.Account]float64, len(initial))}
	for k, v := range initial {
		s.by[k] = v
	}
	return s
}

// Spent returns each account's spend.
func (s *Spend) Spent(_ context.Context, accts []budget.Account) []float64 {
	out := make([]float64, len(accts))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i, a := range accts {
		out[i] = s.by[a]
	}
	return out
}

// Add records spend for a key's lifetime and current period.
func (s *Spend) Add(_ context.Context, key string, p budget.Period, at time.Time, usd float64) {
	if usd == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.by[budget.Account{Key: key}] += usd
	if p == budget.None {
		return
	}
	a := budget.For(key, p, at)
	if _, ok := s.by[a]; !ok {
		// A new period: forget the key's periods that ended, so a long-running
		// process holds one period per key, not one per day it has run.
		for old := range s.by {
			if old.Key == key && old.Start != 0 && old.Start < a.Start {
				delete(s.by, old)
			}
		}
	}
	s.by[a] += usd
}

// Exhausted reports whether an account has spent at least budget.
func (s *Spend) Exhausted(a budget.Account, budget float64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.by[a] >= budget
}
