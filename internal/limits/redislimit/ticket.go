package redislimit

import (
	"context"
	"net/http"
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

// Release frees the lease and books tokens against TPM (idempotent). When Redis is
// down the lease simply expires after the lease TTL.
func (t *ticket) Release(tokens int) {
	if t == nil || !t.released.CompareAndSwap(false, true) {
		return
	}
	l := t.l
	l.mu.Lock()
	delete(l.held, t)
	close(t.ki.wake)
	t.ki.wake = make(chan struct{})
	l.mu.Unlock()
	if l.skip() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	err := releaseScript.Run(ctx, l.hot, []string{t.ki.k.lease, t.ki.k.tpm}, t.member, max(tokens, 0)).Err()
	if err != nil {
		l.failed(err)
		return
	}
	l.ok()
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
		if ki.waiting == 0 && now.Sub(ki.seen) > 10*time.Minute {
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
