package resilience

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

// defaultRateLimitPause is how long a target that answered 429 without any hint of
// when to come back is tried last: long enough not to send it the very next request,
// short enough that a missing header cannot sideline a provider.
const defaultRateLimitPause = time.Second

// A pause is the upstream's own "not before T" (Retry-After on a 429, or on a 5xx such
// as Anthropic's 529): this request never calls the target again before T, and other
// requests try it after every target that is not paused. It is a preference, not a
// block: when nothing else can serve, the target is still called, because the upstream
// decides (its limits may be per model or per token count, and another client's small
// request may well pass where a large one was refused).
//
// Pauses are kept per target (provider + upstream model), since upstreams limit per
// model. The request path pays one atomic load while no pause is pending.
type pauses struct {
	latest  atomic.Int64 // unix nanos: the end of the latest pause set; 0 = never
	limited atomic.Int64 // unix nanos: the end of the latest 429 pause, for Health

	mu sync.Mutex
	by map[string]int64 // upstream model -> unix nanos
}

// set records that model may not be called before until (unix nanos); a 429 also
// shows as "rate-limited until" in Health.
func (ps *pauses) set(model string, until int64, rateLimited bool) {
	ps.mu.Lock()
	if ps.by == nil {
		ps.by = make(map[string]int64, 1)
	}
	if until > ps.by[model] {
		ps.by[model] = until
	}
	ps.mu.Unlock()
	raise(&ps.latest, until)
	if rateLimited {
		raise(&ps.limited, until)
	}
}

// until returns when model's pause ends, 0 when it is not paused at now.
func (ps *pauses) until(model string, now int64) int64 {
	if ps.latest.Load() <= now {
		return 0
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	u := ps.by[model]
	for m, v := range ps.by { // a handful of models: drop the ended ones as we go
		if v <= now {
			delete(ps.by, m)
		}
	}
	if u <= now {
		return 0
	}
	return u
}

// limitedUntil is the end of the provider's latest 429 pause if it is still to come.
func (ps *pauses) limitedUntil(now time.Time) time.Time {
	if u := ps.limited.Load(); u > now.UnixNano() {
		return time.Unix(0, u)
	}
	return time.Time{}
}

func raise(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// isRateLimit reports an upstream 429 that is pacing (come back later), not a spent
// quota (OpenAI's insufficient_quota is a 429 that waiting does not fix).
func isRateLimit(ae *apierr.Error) bool {
	return ae != nil && ae.Status == http.StatusTooManyRequests &&
		ae.Type != apierr.TypeInsufficientQuota && ae.Code != apierr.CodeInsufficientQuota
}

// pauseFor records the pause an upstream's answer asks for, and returns its end (zero
// when the answer asks for none). A 429 without a hint pauses for
// defaultRateLimitPause.
func (p *provState) pauseFor(model string, ae *apierr.Error, now time.Time) time.Time {
	limited := isRateLimit(ae)
	d := time.Duration(0)
	if ae != nil {
		d = ae.RetryAfter
	}
	if d <= 0 {
		if !limited {
			return time.Time{}
		}
		d = defaultRateLimitPause
	}
	until := now.Add(d)
	p.pauses.set(model, until.UnixNano(), limited)
	raise(&p.x.paused, until.UnixNano())
	return until
}

// deferPaused moves the targets whose pause is still running behind the others, the
// soonest free first; the others keep their policy order. It sorts in place.
func (x *Executor) deferPaused(ts []provider.Target, now time.Time) {
	if x.paused.Load() <= now.UnixNano() || len(ts) < 2 {
		return
	}
	var keyBuf [8]int64
	keys := keyBuf[:0]
	some := false
	for _, t := range ts {
		u := x.state(t.Provider).pauses.until(t.Model, now.UnixNano())
		keys = append(keys, u)
		some = some || u != 0
	}
	if !some {
		return
	}
	// Insertion sort on the pause end (0 = not paused): stable and allocation-free.
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}
