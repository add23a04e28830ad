package redislimit

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
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

// Spent returns a key's spend across replicas.
func (s *Spend) Spent(key string) float64 {
	if s.l.skip() {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	v, err := s.l.rdb.Get(ctx, s.l.names(key).spend).Float64()
	if errors.Is(err, redis.Nil) {
		s.l.ok()
		return 0
	}
	if err != nil {
		s.l.failed(err)
		return 0
	}
	s.l.ok()
	return v
}

// Add books spend for a key atomically.
func (s *Spend) Add(key string, usd float64) {
	if usd == 0 || s.l.skip() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
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
