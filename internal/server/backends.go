package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/gateway"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/limits/redislimit"
	"github.com/jmanhype/runestone/internal/store"
)

// newLimiter builds the configured limits backend and its budget book: in-process
// (the default) or shared through Redis. Both start from the spend ledger; the
// shared book keeps Redis's totals when another replica seeded them first.
func newLimiter(ctx context.Context, cfg *config.Config, log *slog.Logger, st *store.Store, clock func() time.Time) (limits.Admitter, gateway.SpendBook, error) {
	// Lifetime totals, and the periods still running: the earliest a running period
	// can have started is this week's Monday or the 1st of this month.
	now := time.Now()
	if clock != nil {
		now = clock()
	}
	since := budget.Month.Start(now)
	if w := budget.Week.Start(now); w.Before(since) {
		since = w
	}
	spent, err := st.SpendSince(ctx, since)
	if err != nil {
		return nil, nil, fmt.Errorf("load spend: %w", err)
	}
	if cfg.Limits.Backend != config.LimitsRedis {
		l := limits.New(limits.Options{Queue: cfg.Limits.Queue, QueueTimeout: cfg.Limits.QueueTimeout.Duration,
			IdleEvict: 10 * time.Minute})
		return l, gateway.NewSpend(spent), nil
	}
	if cfg.Limits.RedisURL == "" {
		return nil, nil, errors.New("limits.backend is redis but limits.redis_url (RUNESTONE_REDIS_URL) is empty")
	}
	l, err := redislimit.New(redislimit.Options{URL: cfg.Limits.RedisURL, LeaseTTL: cfg.Limits.LeaseTTL.Duration,
		Queue: cfg.Limits.Queue, QueueTimeout: cfg.Limits.QueueTimeout.Duration, OnError: cfg.Limits.OnRedisError,
		Prefix: cfg.Limits.RedisPrefix, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	sp := l.Spend()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Dial and load the scripts now, not on the first request.
	if err := l.Warm(sctx); err != nil {
		log.Warn("could not warm the redis limiter; the first requests pay the dial", "err", err)
	}
	if err := sp.Seed(sctx, spent); err != nil {
		log.Warn("could not seed shared budgets in redis; they start from what redis holds", "err", err)
	}
	return l, sp, nil
}
