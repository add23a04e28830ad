// Package limits enforces per-key request limits in the gateway process: RPM and RPH
// as sliding windows, TPM from real token usage, and concurrent in-flight requests
// with a bounded FIFO overflow queue.
//
// Every key has its own state and lock, found through a sharded map, so one key's
// burst or queue never delays another key, and no global lock is held while a request
// waits. A rejected request is charged against no window; RPM/RPH are charged only
// when a request is admitted (straight away or from the queue), exactly once.
package limits

import (
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/events"
)

// Limits are one key's effective limits; 0 means unlimited.
type Limits struct {
	RPM        int // requests per sliding minute
	RPH        int // requests per sliding hour
	TPM        int // tokens (prompt + completion, as recorded by Release) per sliding minute
	Concurrent int // requests in flight at once
	// Budget is the key's USD budget (nil = none). This limiter ignores it (the gateway
	// checks its own spend book first); a shared limiter checks it in the same round
	// trip as the windows.
	Budget *float64
	// BudgetPeriod and BudgetStart (unix ms, 0 for a lifetime budget) name the account
	// the budget is checked against (budget.Account): the key's spend in this period.
	BudgetPeriod budget.Period
	BudgetStart  int64
}

// Options configure a Limiter.
type Options struct {
	// Queue is how many requests per key may wait for a concurrency slot; 0 rejects
	// at once when the key's concurrent limit is reached.
	Queue int
	// QueueTimeout bounds the wait in the queue; 0 waits until the client leaves.
	QueueTimeout time.Duration
	// Now is the clock (time.Now when nil); tests inject one.
	Now func() time.Time
	// IdleEvict drops a key's state once it has had nothing in flight or queued for
	// this long and its windows no longer hold anything that counts against a limit.
	// Default DefaultIdleEvict.
	IdleEvict time.Duration
}

// Defaults and window shapes.
const (
	DefaultIdleEvict = 10 * time.Minute

	minuteSpan    = int64(time.Minute)
	minuteQuantum = int64(25 * time.Millisecond) // at most 2,400 buckets per minute window
	hourSpan      = int64(time.Hour)
	hourQuantum   = int64(time.Second) // at most 3,600 buckets per hour window

	// concurrencyRetry is the Retry-After for a full or timed-out queue: the moment a
	// slot frees is unknown, and SDKs back off further on their own.
	concurrencyRetry = time.Second

	numShards = 64
)

// Canonical header names, as OpenAI sends them.
const (
	HeaderLimitRequests     = "X-Ratelimit-Limit-Requests"
	HeaderRemainingRequests = "X-Ratelimit-Remaining-Requests"
	HeaderResetRequests     = "X-Ratelimit-Reset-Requests"
	HeaderLimitTokens       = "X-Ratelimit-Limit-Tokens"
	HeaderRemainingTokens   = "X-Ratelimit-Remaining-Tokens"
	HeaderResetTokens       = "X-Ratelimit-Reset-Tokens"
)

// Limiter holds every recently active key's counters.
type Limiter struct {
	queue        int
	queueTimeout time.Duration
	now          func() time.Time
	idleEvict    time.Duration
	seed         maphash.Seed
	shards       [numShards]shard

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*keyState
	_  [40]byte // keep neighbouring shard locks off one cache line
}

type keyState struct {
	mu         sync.Mutex
	id, name   string
	lim        Limits // as of the latest Acquire
	rpm, rph   window
	tpm        window
	inFlight   int
	queue      []*waiter // FIFO
	lastActive int64
	dead       bool // evicted: look the key up again
}

type waiter struct {
	ready   chan struct{} // closed when granted
	granted bool          // set under the key lock, before ready is closed
	atRPM   int64         // bucket times the grant was charged under (for a refund)
	atRPH   int64
}

// New returns a Limiter and starts its eviction janitor; Close stops it.
func New(o Options) *Limiter {
	l := &Limiter{
		queue:        max(o.Queue, 0),
		queueTimeout: o.QueueTimeout,
		now:          o.Now,
		idleEvict:    o.IdleEvict,
		seed:         maphash.MakeSeed(),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.idleEvict <= 0 {
		l.idleEvict = DefaultIdleEvict
	}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*keyState)
	}
	go l.janitor()
	return l
}

// Close stops the janitor. Tickets still out may be released afterwards.
func (l *Limiter) Close() {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
	})
}

func (l *Limiter) janitor() {
	defer close(l.done)
	every := min(max(l.idleEvict/2, time.Second), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.evict()
		}
	}
}

// evict drops idle key state; memory follows the keys active recently, not every
// key ever seen. A key is kept while anything in its windows still counts against
// one of its limits (up to an hour for RPH), so eviction never forgives usage.
func (l *Limiter) evict() int {
	now := l.now().UnixNano()
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for id, st := range sh.m {
			st.mu.Lock()
			st.expire(now)
			if st.idle(now, int64(l.idleEvict)) {
				st.dead = true
				delete(sh.m, id)
				n++
			} else {
				st.rpm.compact()
				st.rph.compact()
				st.tpm.compact()
			}
			st.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	return n
}

func (st *keyState) expire(now int64) {
	st.rpm.expire(now)
	st.rph.expire(now)
	st.tpm.expire(now)
}

func (st *keyState) idle(now, after int64) bool {
	return st.inFlight == 0 && len(st.queue) == 0 && now-st.lastActive >= after &&
		(st.lim.RPM <= 0 || st.rpm.total == 0) &&
		(st.lim.RPH <= 0 || st.rph.total == 0) &&
		(st.lim.TPM <= 0 || st.tpm.total == 0)
}

// lockState returns the live state of keyID, locked.
func (l *Limiter) lockState(keyID, keyName string) *keyState {
	sh := &l.shards[maphash.String(l.seed, keyID)%numShards]
	for {
		sh.mu.RLock()
		st := sh.m[keyID]
		sh.mu.RUnlock()
		if st == nil {
			sh.mu.Lock()
			if st = sh.m[keyID]; st == nil {
				st = &keyState{
					id: keyID, name: keyName,
					rpm: newWindow(minuteSpan, minuteQuantum),
					rph: newWindow(hourSpan, hourQuantum),
					tpm: newWindow(minuteSpan, minuteQuantum),
				}
				sh.m[keyID] = st
			}
			sh.mu.Unlock()
		}
		st.mu.Lock()
		if !st.dead {
			return st
		}
		st.mu.Unlock()
	}
}

// Ticket is an admitted request's hold on its key: a concurrency slot and the
// numbers for the x-ratelimit-* headers. Release it on every path (defer it).
type Ticket struct {
	l        *Limiter
	st       *keyState
	released atomic.Bool
	waited   time.Duration

	reqLimit, reqRemaining int
	reqReset               time.Duration
	tokLimit, tokRemaining int
	tokReset               time.Duration
}

// Acquire admits one request for keyID under lim, or says why not. Checks run
// cheapest first: the RPM/RPH windows (counting requests already queued, so the
// queue cannot overrun them) and TPM, then the concurrency slot or the queue. The
// request is charged to RPM/RPH only when admitted.
//
// The error is an *apierr.Error 429 (rate_limit_exceeded, Retry-After and
// x-ratelimit-* headers in its Header) or, when the client left while queued, the
// context's error.
func (l *Limiter) Acquire(ctx context.Context, keyID, keyName string, lim Limits) (*Ticket, error) {
	st := l.lockState(keyID, keyName)
	now := l.now().UnixNano()
	if st.name != keyName {
		st.name = keyName
	}
	st.lim = lim
	st.lastActive = now
	st.expire(now)
	st.grant(now) // a raised concurrent limit frees waiters first

	queued := int64(len(st.queue))
	if lim.RPM > 0 && st.rpm.total+queued >= int64(lim.RPM) {
		return nil, l.rejectWindow(st, now, "requests per min (RPM)", lim.RPM, st.rpm.total+queued,
			st.rpm.untilBelow(now, int64(lim.RPM)-queued))
	}
	if lim.RPH > 0 && st.rph.total+queued >= int64(lim.RPH) {
		return nil, l.rejectWindow(st, now, "requests per hour (RPH)", lim.RPH, st.rph.total+queued,
			st.rph.untilBelow(now, int64(lim.RPH)-queued))
	}
	if lim.TPM > 0 && st.tpm.total >= int64(lim.TPM) {
		return nil, l.rejectWindow(st, now, "tokens per min (TPM)", lim.TPM, st.tpm.total,
			st.tpm.untilBelow(now, int64(lim.TPM)))
	}

	if lim.Concurrent <= 0 || (len(st.queue) == 0 && st.inFlight < lim.Concurrent) {
		st.admit(now)
		t := &Ticket{l: l, st: st}
		t.fill(st, now)
		st.mu.Unlock()
		return t, nil
	}
	if l.queue == 0 || len(st.queue) >= l.queue {
		var msg string
		if l.queue == 0 {
			msg = fmt.Sprintf("Too many concurrent requests for key %s: %d in flight (limit %d). Please try again shortly.",
				keyLabel(st), st.inFlight, lim.Concurrent)
		} else {
			msg = fmt.Sprintf("Too many concurrent requests for key %s: %d in flight (limit %d) and the queue is full (%d waiting). Please try again shortly.",
				keyLabel(st), st.inFlight, lim.Concurrent, len(st.queue))
		}
		e := l.reject(st, now, msg, concurrencyRetry)
		st.mu.Unlock()
		return nil, e
	}
	return l.wait(ctx, st, now)
}

// wait queues the request (st locked on entry, unlocked on return).
func (l *Limiter) wait(ctx context.Context, st *keyState, start int64) (*Ticket, error) {
	w := &waiter{ready: make(chan struct{})}
	st.queue = append(st.queue, w)
	st.mu.Unlock()

	var timeout <-chan time.Time
	if l.queueTimeout > 0 {
		tm := time.NewTimer(l.queueTimeout)
		defer tm.Stop()
		timeout = tm.C
	}
	var cause error
	select {
	case <-w.ready:
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timeout:
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	now := l.now().UnixNano()
	if w.granted && cause == nil && ctx.Err() == nil {
		t := &Ticket{l: l, st: st, waited: time.Duration(now - start)}
		t.fill(st, now)
		return t, nil
	}
	if w.granted {
		// Granted as the client left or the timer fired: hand the slot on and take
		// back the charge, since this request is not served.
		st.rpm.remove(w.atRPM, 1)
		st.rph.remove(w.atRPH, 1)
		st.inFlight--
		st.grant(now)
	} else {
		for i, q := range st.queue {
			if q == w {
				st.queue = append(st.queue[:i], st.queue[i+1:]...)
				break
			}
		}
	}
	if cause != nil {
		return nil, cause
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("Request for key %s waited %s in the queue for a concurrency slot (limit %d in flight) and timed out. Please try again shortly.",
		keyLabel(st), l.queueTimeout, st.lim.Concurrent)
	return nil, l.reject(st, now, msg, concurrencyRetry)
}

// admit takes a slot and charges the request windows (st locked).
func (st *keyState) admit(now int64) (atRPM, atRPH int64) {
	st.inFlight++
	return st.rpm.add(now, 1), st.rph.add(now, 1)
}

// grant hands free slots to queued requests in FIFO order (st locked).
func (st *keyState) grant(now int64) {
	for len(st.queue) > 0 && (st.lim.Concurrent <= 0 || st.inFlight < st.lim.Concurrent) {
		w := st.queue[0]
		st.queue[0] = nil
		st.queue = st.queue[1:]
		w.granted = true
		w.atRPM, w.atRPH = st.admit(now)
		close(w.ready)
	}
	if len(st.queue) == 0 {
		st.queue = nil
	}
}

func keyLabel(st *keyState) string {
	if st.name == "" || st.name == st.id {
		return st.id
	}
	return fmt.Sprintf("%q (%s)", st.name, st.id)
}

func (l *Limiter) rejectWindow(st *keyState, now int64, what string, limit int, used int64, retry int64) *apierr.Error {
	d := time.Duration(retry)
	msg := fmt.Sprintf("Rate limit reached for key %s on %s: Limit %d, Used %d, Requested 1. Please try again in %s.",
		keyLabel(st), what, limit, used, roundUpSeconds(d))
	e := l.reject(st, now, msg, d)
	st.mu.Unlock()
	return e
}

// reject builds the 429 with Retry-After and the x-ratelimit-* headers (st locked).
func (l *Limiter) reject(st *keyState, now int64, msg string, retry time.Duration) *apierr.Error {
	e := apierr.RateLimited(msg, retry)
	var t Ticket
	t.fill(st, now)
	t.SetHeaders(e.Header)
	return e
}

func roundUpSeconds(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	return max(s, 1) * time.Second
}

// fill records the header numbers as of now (st locked).
func (t *Ticket) fill(st *keyState, now int64) {
	lim := st.lim
	switch {
	case lim.RPM > 0:
		t.reqLimit = lim.RPM
		t.reqRemaining = max(lim.RPM-int(st.rpm.total)-len(st.queue), 0)
		t.reqReset = time.Duration(st.rpm.untilEmpty(now))
	case lim.RPH > 0:
		t.reqLimit = lim.RPH
		t.reqRemaining = max(lim.RPH-int(st.rph.total)-len(st.queue), 0)
		t.reqReset = time.Duration(st.rph.untilEmpty(now))
	}
	if lim.TPM > 0 {
		t.tokLimit = lim.TPM
		t.tokRemaining = max(lim.TPM-int(st.tpm.total), 0)
		t.tokReset = time.Duration(st.tpm.untilEmpty(now))
	}
}

// SetHeaders writes the x-ratelimit-* headers as OpenAI names them: the requests trio
// from RPM (or RPH when the key has no RPM), the tokens trio when a TPM limit applies.
// Reset is the time until the window is back to its full allowance, as a Go duration
// ("1.2s", "6m0s"). Nothing is written for a key without request or token limits.
func (t *Ticket) SetHeaders(h http.Header) {
	if t.reqLimit > 0 {
		h[HeaderLimitRequests] = []string{strconv.Itoa(t.reqLimit)}
		h[HeaderRemainingRequests] = []string{strconv.Itoa(t.reqRemaining)}
		h[HeaderResetRequests] = []string{fmtReset(t.reqReset)}
	}
	if t.tokLimit > 0 {
		h[HeaderLimitTokens] = []string{strconv.Itoa(t.tokLimit)}
		h[HeaderRemainingTokens] = []string{strconv.Itoa(t.tokRemaining)}
		h[HeaderResetTokens] = []string{fmtReset(t.tokReset)}
	}
}

func fmtReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// Waited is how long the request waited in the overflow queue (0 if admitted at once).
func (t *Ticket) Waited() time.Duration { return t.waited }

// Release ends the request: it books tokens (prompt + completion actually used; 0 if
// unknown) against TPM, frees the concurrency slot and admits the next queued request
// in FIFO order. It is idempotent, so a deferred Release after an explicit one is safe.
func (t *Ticket) Release(tokens int) {
	if t == nil || !t.released.CompareAndSwap(false, true) {
		return
	}
	st := t.st
	st.mu.Lock()
	now := t.l.now().UnixNano()
	if tokens > 0 {
		st.tpm.add(now, int64(tokens))
	}
	st.inFlight--
	st.lastActive = now
	st.grant(now)
	st.mu.Unlock()
}

// Snapshot returns every tracked key's counters, ordered by key name then id.
// SpentUSD and BudgetUSD are left for the caller to fill.
func (l *Limiter) Snapshot() []events.KeyLimits {
	now := l.now().UnixNano()
	var states []*keyState
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		for _, st := range sh.m {
			states = append(states, st)
		}
		sh.mu.RUnlock()
	}
	out := make([]events.KeyLimits, 0, len(states))
	for _, st := range states {
		st.mu.Lock()
		if !st.dead {
			st.expire(now)
			out = append(out, events.KeyLimits{
				KeyID: st.id, KeyName: st.name,
				RPM: int(st.rpm.total), RPMLimit: st.lim.RPM,
				RPH: int(st.rph.total), RPHLimit: st.lim.RPH,
				TPM: int(st.tpm.total), TPMLimit: st.lim.TPM,
				InFlight: st.inFlight, Concurrent: st.lim.Concurrent, Queued: len(st.queue),
			})
		}
		st.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].KeyName != out[j].KeyName {
			return out[i].KeyName < out[j].KeyName
		}
		return out[i].KeyID < out[j].KeyID
	})
	return out
}
