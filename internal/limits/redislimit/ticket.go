package redislimit

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/limits"
)

// ticket is an admitted request's lease.
type ticket struct {
	l        *Limiter
	ki       *keyInfo
	member   string
	lim      limits.Limits
	res      result
	waited   time.Duration
	released atomic.Bool
}

// SetHeaders writes the x-ratelimit-* headers from the counts the script returned.
func (t *ticket) SetHeaders(h http.Header) {
	switch {
	case t.lim.RPM > 0:
		h[limits.HeaderLimitRequests] = []string{strconv.Itoa(t.lim.RPM)}
		h[limits.HeaderRemainingRequests] = []string{strconv.Itoa(max(t.lim.RPM-t.res.rpmUsed, 0))}
		h[limits.HeaderResetRequests] = []string{"1m0s"}
	case t.lim.RPH > 0:
		h[limits.HeaderLimitRequests] = []string{strconv.Itoa(t.lim.RPH)}
		h[limits.HeaderRemainingRequests] = []string{strconv.Itoa(max(t.lim.RPH-t.res.rphUsed, 0))}
		h[limits.HeaderResetRequests] = []string{"1h0m0s"}
	}
	if t.lim.TPM > 0 {
		h[limits.HeaderLimitTokens] = []string{strconv.Itoa(t.lim.TPM)}
		h[limits.HeaderRemainingTokens] = []string{strconv.Itoa(max(t.lim.TPM-t.res.tpmUsed, 0))}
		h[limits.HeaderResetTokens] = []string{"1m0s"}
	}
}

// Waited is the time spent in this replica's overflow queue.
func (t *ticket) Waited() time.Duration { return t.waited }

// Release frees the lease and books tokens against TPM (idempotent), with any spend
// Spend.Add deferred for the key, in one script. When Redis is down the lease
// simply expires after the lease TTL.
func (t *ticket) Release(tokens int) {
	if t == nil || !t.released.CompareAndSwap(false, true) {
		return
	}
	l, ki := t.l, t.ki
	l.mu.Lock()
	delete(l.held, t)
	ki.held--
	if ki.waiting > 0 {
		close(ki.wake)
		ki.wake = make(chan struct{})
	}
	pending := ki.pending
	ki.pending = nil
	if l.skip() {
		l.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	keys, args := releaseArgs(l, ki, t.member, tokens, pending)
	// Submitted under the lock: a release that took another request's pending
	// spend is on the ordered stream before that request's own release, so no slot
	// frees before the spend of the request that held it is booked.
	cmd := releaseScript.EvalSha(ctx, l.hot, keys, args...)
	l.mu.Unlock()
	err := cmd.Err()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis lost its scripts (a restart): nothing of this call ran. The retry is
		// outside the lock, so only here may a later release overtake this one.
		err = releaseScript.Eval(ctx, l.hot, keys, args...).Err()
	}
	if err != nil {
		l.failed(err)
		return
	}
	l.ok()
}

// releaseArgs are the release script's keys and arguments: the lease, TPM and
// lifetime spend keys, then each pending item's period key when it has one; the
// member, tokens, then per item its USD, the KEYS index of its period key (0:
// none) and that key's expiry.
func releaseArgs(l *Limiter, ki *keyInfo, member string, tokens int, pending []spendItem) ([]string, []any) {
	keys := []string{ki.k.lease, ki.k.tpm, ki.k.spend}
	args := []any{member, max(tokens, 0)}
	for _, it := range pending {
		idx := 0
		if it.period != "" {
			idx = slices.Index(keys[3:], it.period) + 4 // 1-based, after the three fixed keys
			if idx == 3 {
				keys = append(keys, it.period)
				idx = len(keys)
			}
		}
		args = append(args, it.usd, idx, it.expireAt)
	}
	return keys, args
}

// noop is the admission handed out while Redis is down in fail-open mode.
type noop struct{}

func (noop) SetHeaders(http.Header) {}
func (noop) Waited() time.Duration  { return 0 }
func (noop) Release(int)            {}

// refresher extends held leases every TTL/3 (one pipelined round trip), and forgets
// keys this replica has not seen for ten minutes.
func (l *Limiter) refresher() {
	defer close(l.done)
	tk := time.NewTicker(max(l.o.LeaseTTL/3, 10*time.Millisecond))
	defer tk.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tk.C:
			l.refresh()
		}
	}
}

func (l *Limiter) refresh() {
	now := time.Now()
	type lease struct{ key, member string }
	var leases []lease
	l.mu.Lock()
	for t := range l.held {
		leases = append(leases, lease{t.ki.k.lease, t.member})
	}
	for id, ki := range l.keys {
		if ki.waiting == 0 && ki.held == 0 && now.Sub(ki.seen) > 10*time.Minute {
			delete(l.keys, id)
		}
	}
	l.mu.Unlock()
	if len(leases) == 0 || l.skip() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	p := l.rdb.Pipeline()
	for _, ls := range leases {
		// EVAL, not EVALSHA: a pipeline cannot fall back when the script is not cached.
		refreshScript.Eval(ctx, p, []string{ls.key}, l.o.LeaseTTL.Milliseconds(), ls.member)
	}
	if _, err := p.Exec(ctx); err != nil {
		l.failed(err)
		return
	}
	l.ok()
}

// Snapshot reads every key this replica served recently from Redis (one pipelined
// round trip); counts are global, Queued is this replica's.
func (l *Limiter) Snapshot() []events.KeyLimits {
	l.mu.Lock()
	kis := make([]keyInfo, 0, len(l.keys))
	for _, ki := range l.keys {
		kis = append(kis, keyInfo{id: ki.id, name: ki.name, lim: ki.lim, waiting: ki.waiting, k: ki.k})
	}
	l.mu.Unlock()
	out := make([]events.KeyLimits, len(kis))
	vals := make([][]int64, len(kis))
	if len(kis) > 0 && !l.skip() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		now := time.Now().UnixMilli()
		for attempt := 0; attempt < 2; attempt++ {
			p := l.rdb.Pipeline()
			cmds := make([]interface{ Int64Slice() ([]int64, error) }, len(kis))
			for i, ki := range kis {
				cmds[i] = peekScript.EvalSha(ctx, p, []string{ki.k.rpm, ki.k.rph, ki.k.tpm, ki.k.lease}, now)
			}
			_, err := p.Exec(ctx)
			for i, c := range cmds {
				if v, err := c.Int64Slice(); err == nil && len(v) == 4 {
					vals[i] = v
				}
			}
			if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
				break
			}
			// First snapshot, or Redis restarted: load the script and read again.
			_ = peekScript.Load(ctx, l.rdb).Err()
		}
	}
	for i, ki := range kis {
		o := events.KeyLimits{KeyID: ki.id, KeyName: ki.name, RPMLimit: ki.lim.RPM, RPHLimit: ki.lim.RPH,
			TPMLimit: ki.lim.TPM, Concurrent: ki.lim.Concurrent, Queued: ki.waiting}
		if v := vals[i]; v != nil {
			o.RPM, o.RPH, o.TPM, o.InFlight = int(v[0]), int(v[1]), int(v[2]), int(v[3])
		}
		out[i] = o
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].KeyName != out[j].KeyName {
			return out[i].KeyName < out[j].KeyName
		}
		return out[i].KeyID < out[j].KeyID
	})
	return out
}
