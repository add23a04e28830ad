package redislimit

import (
	"context"
	"strconv"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
)

// Spend is a budget book shared by every replica: one Redis float per account (a
// key's lifetime, or one of its budget periods), grown with INCRBYFLOAT when a request
// finishes and checked by the admission script itself (so a budgeted key costs no
// extra round trip). It shares the limiter's client and outage handling.
type Spend struct{ l *Limiter }

// Spend returns the limiter's shared budget book.
func (l *Limiter) Spend() *Spend { return &Spend{l: l} }

// periodGrace keeps a period's total a day past its end: a request that started in
// the period and finishes after it still books there, and then it expires.
const periodGrace = 24 * time.Hour

// spendName is an account's Redis key: <prefix>{id}:spend for a lifetime, and
// <prefix>{id}:spend:<period start ms> for a period (the same hash slot, so the
// admission script may read it).
func (l *Limiter) spendName(a budget.Account) string {
	n := l.names(a.Key).spend
	if a.Start != 0 {
		n += ":" + strconv.FormatInt(a.Start, 10)
	}
	return n
}

// Seed sets each account's spend from the ledger unless Redis already holds one (the
// first replica to start seeds; later ones keep the live totals). A period's total
// expires at the latest a period can end (the ledger does not say which period it
// is); the next booking sets the exact expiry.
func (s *Spend) Seed(ctx context.Context, totals map[budget.Account]float64) error {
	if len(totals) == 0 {
		return nil
	}
	p := s.l.rdb.Pipeline()
	for a, v := range totals {
		if a.Start == 0 {
			p.SetNX(ctx, s.l.spendName(a), v, 0)
			continue
		}
		end := budget.Month.End(time.UnixMilli(a.Start)).Add(periodGrace)
		if ttl := time.Until(end); ttl > 0 {
			p.SetNX(ctx, s.l.spendName(a), v, ttl)
		}
	}
	_, err := p.Exec(ctx)
	return err
}

// Spent returns each account's spend across replicas in one MGET (the dashboard asks
// for every key once a second). An account Redis does not hold, or any account while
// Redis is unreachable, reads as 0.
func (s *Spend) Spent(ctx context.Context, accts []budget.Account) []float64 {
	out := make([]float64, len(accts))
	if len(accts) == 0 || s.l.skip() {
		return out
	}
	names := make([]string, len(accts))
	for i, a := range accts {
		names[i] = s.l.spendName(a)
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

// spendItem is spend waiting to ride a release: USD, the period account's key
// ("" for none) and its expiry (unix ms).
type spendItem struct {
	usd      float64
	period   string
	expireAt int64
}

// Add books spend for a key's lifetime and, with a period, the period holding at,
// atomically. A period's total expires a day after the period ends.
//
// While this replica holds a lease of the key (the gateway books a request's cost
// just before releasing its slot), the spend is not sent on its own: the key's next
// release carries it in the same script, one command fewer per request. Spend thus
// reaches Redis no later than the release of the request that booked it; Spent may
// not show it until then.
func (s *Spend) Add(ctx context.Context, key string, p budget.Period, at time.Time, usd float64) {
	if usd == 0 {
		return
	}
	l := s.l
	it := spendItem{usd: usd}
	if p != budget.None {
		a := budget.For(key, p, at)
		it.period = l.spendName(a)
		it.expireAt = p.End(time.UnixMilli(a.Start)).Add(periodGrace).UnixMilli()
	}
	if l.ap != nil {
		l.mu.Lock()
		if ki := l.keys[key]; ki != nil && ki.held > 0 {
			ki.pending = append(ki.pending, it)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
	}
	if l.skip() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	keys := []string{l.spendName(budget.Account{Key: key})}
	if it.period != "" {
		keys = append(keys, it.period)
	}
	if err := spendScript.Run(ctx, l.hot, keys, usd, it.expireAt).Err(); err != nil {
		l.failed(err)
		return
	}
	l.ok()
}

// Exhausted is false: the limiter's admission script checks the budget
// (limits.Limits.Budget) in the same round trip as the windows.
func (s *Spend) Exhausted(budget.Account, float64) bool { return false }
