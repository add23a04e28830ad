package redislimit

import (
	"context"
	"strconv"
)

// Spend is a budget book shared by every replica: one Redis float per key, grown with
// INCRBYFLOAT when a request finishes and checked by the admission script itself (so a
// budgeted key costs no extra round trip). It shares the limiter's client and outage
// handling.
type Spend struct{ l *Limiter }

// Spend returns the limiter's shared budget book.
func (l *Limiter) Spend() *Spend { return &Spend{l: l} }

// Seed sets each key's spend from the request log unless Redis already holds one (the
// first replica to start seeds; later ones keep the live totals).
func (s *Spend) Seed(ctx context.Context, totals map[string]float64) error {
	if len(totals) == 0 {
		return nil
	}
	p := s.l.rdb.Pipeline()
	for id, v := range totals {
		p.SetNX(ctx, s.l.names(id).spend, v, 0)
	}
	_, err := p.Exec(ctx)
	return err
}

// Spent returns each key's spend across replicas in one MGET (the dashboard asks for
// every key once a second). A key Redis does not hold, or any key while Redis is
// unreachable, reads as 0.
func (s *Spend) Spent(ctx context.Context, keys []string) []float64 {
	out := make([]float64, len(keys))
	if len(keys) == 0 || s.l.skip() {
		return out
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = s.l.names(k).spend
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	vals, err := s.l.rdb.MGet(ctx, names...).Result()
	if err != nil {
		s.l.failed(err)
		return out
	}
	s.l.ok()
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[i], _ = strconv.ParseFloat(str, 64)
		}
	}
	return out
}

// Add books spend for a key atomically.
func (s *Spend) Add(ctx context.Context, key string, usd float64) {
	if usd == 0 || s.l.skip() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.l.rdb.IncrByFloat(ctx, s.l.names(key).spend, usd).Err(); err != nil {
		s.l.failed(err)
		return
	}
	s.l.ok()
}

// Exhausted is false: the limiter's admission script checks the budget
// (limits.Limits.Budget) in the same round trip as the windows.
func (s *Spend) Exhausted(string, float64) bool { return false }
