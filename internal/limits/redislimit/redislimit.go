// Package redislimit enforces per-key limits shared by several gateway replicas through
// Redis: RPM/RPH as sliding windows and TPM from booked tokens, checked together with
// a concurrency lease in one atomic Lua script. Leases expire unless refreshed, so a
// replica that dies frees its slots within the lease TTL. The overflow queue stays in
// each replica; admission is global.
//
// A request costs two scripts: the admission, and the release, which also books the
// request's tokens and the spend the gateway recorded for it (Spend.Add while a lease
// is held). Both ride one ordered stream of pipelined commands (go-redis's deferred
// autopipeliner), so the scripts of many requests in flight share round trips. Warm
// loads the scripts and dials at start, so a new replica's first request pays neither.
//
// When Redis cannot be reached the limiter fails open (admits without limits) or
// closed (503 limiter_unavailable), logging once when an outage starts and once when
// it ends, and recovers on its own.
package redislimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/limits"
)

// Failure modes while Redis is unreachable.
const (
	FailClosed = "fail-closed"
	FailOpen   = "fail-open"
)

// Defaults.
const (
	DefaultLeaseTTL = 30 * time.Second
	DefaultPrefix   = "runestone:"
	// probeEvery bounds how often a request tries Redis during an outage; the others
	// get the failure mode at once instead of waiting on a dial.
	probeEvery = 250 * time.Millisecond
	// queuePoll is how often a queued request retries admission: slots freed by other
	// replicas are not announced (local releases wake waiters at once).
	queuePoll = 20 * time.Millisecond
	opTimeout = time.Second
)

// Options configure a Limiter.
type Options struct {
	URL          string // redis://[:password@]host:port/db
	Client       redis.UniversalClient
	Prefix       string        // key namespace, DefaultPrefix when ""
	LeaseTTL     time.Duration // DefaultLeaseTTL when 0; refreshed every TTL/3 while held
	Queue        int           // per-replica, per-key overflow queue; 0 rejects at once
	QueueTimeout time.Duration
	OnError      string // FailClosed (default) or FailOpen
	Logger       *slog.Logger
}

// Limiter is a limits.Admitter backed by Redis.
type Limiter struct {
	o      Options
	rdb    redis.UniversalClient
	ownRDB bool
	// hot carries the per-request scripts. When rdb is a plain client it is the
	// client's deferred autopipeliner (ap): one ordered stream on which commands
	// from many requests at once share round trips, and commands submitted in some
	// order run in that order (a release carries spend booked before it); else rdb.
	hot      redis.Scripter
	ap       *redis.AutoPipeliner
	replica  string
	seq      atomic.Uint64
	failOpen bool
	log      *slog.Logger

	down      atomic.Bool
	nextProbe atomic.Int64 // unix ns: during an outage, the next request that may try Redis

	mu   sync.Mutex
	keys map[string]*keyInfo // keys seen recently by this replica
	held map[*ticket]struct{}

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type keyInfo struct {
	id, name string
	lim      limits.Limits
	seen     time.Time
	waiting  int
	held     int           // this replica's leases of the key not yet released
	pending  []spendItem   // spend booked while leases were held, sent with the next release
	wake     chan struct{} // closed and replaced when a local lease of this key ends
	k        keyNames
}

type keyNames struct{ rpm, rph, tpm, tpmc, lease, spend string }

func (l *Limiter) names(id string) keyNames {
	b := l.o.Prefix + "{" + id + "}:"
	return keyNames{rpm: b + "rpm", rph: b + "rph", tpm: b + "tpm", tpmc: b + "tpmc", lease: b + "lease", spend: b + "spend"}
}

// New connects (lazily: an unreachable Redis at start is an outage like any other) and
// starts the lease refresher; Close stops it.
func New(o Options) (*Limiter, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	switch o.OnError {
	case "", FailClosed:
		o.OnError = FailClosed
	case FailOpen:
	default:
		return nil, fmt.Errorf("on_redis_error %q: want fail-closed or fail-open", o.OnError)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{o: o, rdb: o.Client, failOpen: o.OnError == FailOpen, log: o.Logger,
		keys: map[string]*keyInfo{}, held: map[*ticket]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if l.rdb == nil {
		opt, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("redis_url: %w", err)
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
		opt.PoolTimeout = 500 * time.Millisecond
		opt.MaxRetries = -1   // fail fast; the failure mode decides, not a retry loop
		opt.DialerRetries = 1 // likewise for dials (the default retries 5 times, 100 ms apart)
		l.rdb, l.ownRDB = redis.NewClient(opt), true
	}
	l.hot = l.rdb
	if c, ok := l.rdb.(*redis.Client); ok {
		// The default options: one shard, one batch in flight, so one ordered stream.
		ap, err := c.AsyncAutoPipeline()
		if err != nil {
			return nil, err
		}
		l.hot, l.ap = ap, ap
	}
	silenceDriverLog.Do(func() { redis.SetLogger(quietLogger{}) })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	l.replica = hex.EncodeToString(b)
	go l.refresher()
	return l, nil
}

// scripts are every script the limiter runs, for Warm.
var scripts = []*redis.Script{acquireScript, releaseScript, spendScript, refreshScript, peekScript}

// Warm readies the limiter for its first request: it dials a connection on each
// pool (the batched stream's and the client's) and loads every script, so the first
// admission does not pay a dial, a NOSCRIPT answer and the script's compilation. An
// error means Redis is not reachable now; the limiter still works once it is.
func (l *Limiter) Warm(ctx context.Context) error {
	if err := l.rdb.Ping(ctx).Err(); err != nil {
		return err // down: do not wait on the other dials
	}
	var errs []error
	if l.ap != nil {
		errs = append(errs, l.ap.Ping(ctx).Err())
	}
	for _, s := range scripts {
		errs = append(errs, s.Load(ctx, l.rdb).Err())
	}
	return errors.Join(errs...)
}

// Client is the Redis client (shared with the spend book).
func (l *Limiter) Client() redis.UniversalClient { return l.rdb }

// Close stops the refresher and, when the limiter dialled Redis itself, the client.
func (l *Limiter) Close() {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		if l.ap != nil {
			_ = l.ap.Close()
		}
		if l.ownRDB {
			_ = l.rdb.Close()
		}
	})
}

// Healthy reports whether the last Redis call succeeded.
func (l *Limiter) Healthy() bool { return !l.down.Load() }

// skip reports that Redis is known down and it is not yet time to probe it again.
func (l *Limiter) skip() bool {
	if !l.down.Load() {
		return false
	}
	now := time.Now().UnixNano()
	next := l.nextProbe.Load()
	return now < next || !l.nextProbe.CompareAndSwap(next, now+int64(probeEvery))
}

// failed records a Redis error: the first one of an outage is logged.
func (l *Limiter) failed(err error) {
	l.nextProbe.Store(time.Now().Add(probeEvery).UnixNano())
	if l.down.CompareAndSwap(false, true) {
		l.log.Error("redis unreachable: shared limits and budgets unavailable", "mode", l.o.OnError, "err", err)
	}
}

// ok records a Redis success: the first one after an outage is logged.
func (l *Limiter) ok() {
	if l.down.Load() && l.down.CompareAndSwap(true, false) {
		l.log.Info("redis reachable again: shared limits and budgets restored")
	}
}

// unavailable is the answer while Redis is down: a no-op admission or a 503.
func (l *Limiter) unavailable() (limits.Admission, error) {
	if l.failOpen {
		return noop{}, nil
	}
	return nil, apierr.LimiterUnavailable()
}

func (l *Limiter) info(id, name string, lim limits.Limits) *keyInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	ki := l.keys[id]
	if ki == nil {
		ki = &keyInfo{id: id, wake: make(chan struct{}), k: l.names(id)}
		l.keys[id] = ki
	}
	ki.name, ki.lim, ki.seen = name, lim, time.Now()
	return ki
}

// Admit implements limits.Admitter.
func (l *Limiter) Admit(ctx context.Context, keyID, keyName string, lim limits.Limits) (limits.Admission, error) {
	ki := l.info(keyID, keyName, lim)
	start := time.Now()
	res, err := l.try(ctx, ki, lim)
	if err != nil || res.code == 0 {
		return l.admitted(ki, lim, res, err, 0)
	}
	if res.code != 4 {
		return nil, reject(keyID, keyName, lim, res)
	}
	l.mu.Lock()
	if l.o.Queue == 0 || ki.waiting >= l.o.Queue {
		waiting := ki.waiting
		l.mu.Unlock()
		msg := fmt.Sprintf("Too many concurrent requests for key %s: %d in flight across replicas (limit %d). Please try again shortly.",
			label(keyID, keyName), res.inFlight, lim.Concurrent)
		if l.o.Queue > 0 {
			msg = fmt.Sprintf("Too many concurrent requests for key %s: %d in flight across replicas (limit %d) and the queue is full (%d waiting). Please try again shortly.",
				label(keyID, keyName), res.inFlight, lim.Concurrent, waiting)
		}
		return nil, rejectErr(lim, res, msg, time.Second)
	}
	ki.waiting++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		ki.waiting--
		l.mu.Unlock()
	}()
	var timeout <-chan time.Time
	if l.o.QueueTimeout > 0 {
		tm := time.NewTimer(l.o.QueueTimeout)
		defer tm.Stop()
		timeout = tm.C
	}
	poll := time.NewTicker(queuePoll)
	defer poll.Stop()
	for {
		l.mu.Lock()
		wake := ki.wake
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout:
			msg := fmt.Sprintf("Request for key %s waited %s in the queue for a concurrency slot (limit %d in flight) and timed out. Please try again shortly.",
				label(keyID, keyName), l.o.QueueTimeout, lim.Concurrent)
			return nil, rejectErr(lim, res, msg, time.Second)
		case <-wake:
		case <-poll.C:
		}
		res, err = l.try(ctx, ki, lim)
		if err != nil || res.code == 0 {
			return l.admitted(ki, lim, res, err, time.Since(start))
		}
		if res.code != 4 {
			return nil, reject(keyID, keyName, lim, res)
		}
	}
}

type result struct {
	code, rpmUsed, rphUsed, tpmUsed, inFlight int
	retry                                     time.Duration
	member                                    string
}

// try runs the admission script once. err is a Redis failure (already recorded).
func (l *Limiter) try(ctx context.Context, ki *keyInfo, lim limits.Limits) (result, error) {
	if l.skip() {
		return result{}, errors.New("redis down")
	}
	member := l.replica + ":" + strconv.FormatUint(l.seq.Add(1), 36)
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	budgetUSD := -1.0
	if lim.Budget != nil {
		budgetUSD = *lim.Budget
	}
	spend := ki.k.spend
	if lim.BudgetStart != 0 {
		spend = l.spendName(budget.Account{Key: ki.id, Start: lim.BudgetStart})
	}
	v, err := acquireScript.Run(cctx, l.hot, []string{ki.k.rpm, ki.k.rph, ki.k.tpm, ki.k.lease, spend, ki.k.tpmc},
		0, lim.RPM, lim.RPH, lim.TPM, lim.Concurrent, l.o.LeaseTTL.Milliseconds(), member, budgetUSD).Int64Slice()
	if err != nil {
		if ctx.Err() != nil {
			return result{}, ctx.Err()
		}
		l.failed(err)
		return result{}, err
	}
	l.ok()
	if len(v) != 6 {
		return result{}, fmt.Errorf("admission script returned %d values", len(v))
	}
	return result{code: int(v[0]), rpmUsed: int(v[1]), rphUsed: int(v[2]), tpmUsed: int(v[3]), inFlight: int(v[4]),
		retry: time.Duration(v[5]) * time.Millisecond, member: member}, nil
}

func (l *Limiter) admitted(ki *keyInfo, lim limits.Limits, res result, err error, waited time.Duration) (limits.Admission, error) {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return l.unavailable()
	}
	t := &ticket{l: l, ki: ki, member: res.member, lim: lim, res: res, waited: waited}
	l.mu.Lock()
	l.held[t] = struct{}{}
	ki.held++
	l.mu.Unlock()
	return t, nil
}

func reject(keyID, keyName string, lim limits.Limits, res result) error {
	if res.code == 5 {
		// The script returns the spend in micro-USD where a retry time would be.
		spent := float64(res.retry/time.Millisecond) / 1e6
		return apierr.InsufficientQuota(budget.Exhausted(keyID, *lim.Budget, spent, lim.BudgetPeriod,
			time.UnixMilli(lim.BudgetStart)))
	}
	what, limit, used := "requests per min (RPM)", lim.RPM, res.rpmUsed
	switch res.code {
	case 2:
		what, limit, used = "requests per hour (RPH)", lim.RPH, res.rphUsed
	case 3:
		what, limit, used = "tokens per min (TPM)", lim.TPM, res.tpmUsed
	}
	retry := max(res.retry, time.Millisecond)
	msg := fmt.Sprintf("Rate limit reached for key %s on %s: Limit %d, Used %d, Requested 1. Please try again in %s.",
		label(keyID, keyName), what, limit, used, roundUpSeconds(retry))
	return rejectErr(lim, res, msg, retry)
}

func rejectErr(lim limits.Limits, res result, msg string, retry time.Duration) error {
	e := apierr.RateLimited(msg, retry)
	t := ticket{lim: lim, res: res}
	t.SetHeaders(e.Header)
	return e
}

func label(id, name string) string {
	if name == "" || name == id {
		return id
	}
	return fmt.Sprintf("%q (%s)", name, id)
}

func roundUpSeconds(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	return max(s, 1) * time.Second
}

var _ limits.Admitter = (*Limiter)(nil)

// The driver logs every failed dial; outages are reported once by the limiter instead.
var silenceDriverLog sync.Once

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
