// Package reqlog writes the request log off the request path: the gateway hands each
// finished request to Writer.Write, which never waits on SQLite, and one goroutine
// drains the rows into the database in batched transactions, riding out a locked or
// full database without losing rows. It also owns what a row keeps of the exchange:
// Cap cuts a plain body to the configured size, and TextCapture rebuilds a streamed
// answer's text from its events (the gateway feeds it while relaying, and counts
// tokens from it when the upstream reported none).
package reqlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmanhype/runestone/internal/store"
)

// Defaults for the zero fields of Options.
const (
	// The queue's buffer is allocated up front and scanned by every GC cycle, so it
	// holds two batches; bursts past it go to the overflow, which grows only when used.
	DefaultQueue = 2 * DefaultBatch
	// A batch is one transaction, and its commit writes every page the batch dirtied
	// in one call that cannot yield: 128 rows keep that under half a millisecond
	// (512 took several, long enough to show in the request tail on one core).
	DefaultBatch        = 128
	DefaultFlushEvery   = 100 * time.Millisecond
	DefaultOverflow     = 100_000
	DefaultMaxBytes     = 256 << 20
	DefaultWriteTimeout = 2 * time.Second

	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
	pruneEvery = time.Hour
	pruneLimit = time.Minute // a prune that takes longer is abandoned until the next hour
)

// Options configure a Writer. Zero fields take the defaults above.
type Options struct {
	Store      *store.Store
	Queue      int           // channel capacity between Write and the drainer
	Batch      int           // most rows per transaction
	FlushEvery time.Duration // longest a lone row waits for company before it is written
	Retention  time.Duration // rows older than this are pruned at start and hourly; 0 keeps all
	Logger     *slog.Logger  // nil: slog.Default()

	// Overflow bounds the rows held in memory past a full Queue (a database that stays
	// locked or read-only for a long time); only past it are rows dropped, counted and
	// logged.
	Overflow int
	// MaxBytes bounds the bytes held by rows accepted and not yet written (channel,
	// overflow and the batch in hand): rows carry captured bodies, so a row count
	// alone lets a locked database hold gigabytes. Past it rows are dropped and
	// counted like overflow drops.
	MaxBytes int64
	// WriteTimeout bounds one attempt at a batch, including waiting for another
	// connection's write lock; a batch that times out is kept and retried.
	WriteTimeout time.Duration
}

// Stats are the writer's counters.
type Stats struct {
	Queued        int       `json:"queued"`         // rows accepted and not yet written
	Written       uint64    `json:"written"`        // rows committed
	Dropped       uint64    `json:"dropped"`        // rows lost: overflow full, or Close gave up
	FailedBatches uint64    `json:"failed_batches"` // attempts at a batch that failed (each retried)
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
}

// Writer batches request-log rows into the store. Its methods are safe for concurrent use.
//
// Queue-full policy: Write first offers the row to a bounded channel (Queue); when that
// is full it appends the row to an in-memory overflow slice (Overflow rows), which the
// drainer takes before the channel; only when both are full is the row dropped. Drops
// are counted in Stats.Dropped and logged once per episode (and again, with the total,
// when the episode ends) — never silently.
type Writer struct {
	o   Options
	log *slog.Logger
	ch  chan store.RequestRow

	closeMu sync.RWMutex // Write holds it shared; Close exclusively, to stop sends
	closed  bool

	ovMu     sync.Mutex
	overflow []store.RequestRow // rows overflow[ovHead:] are waiting
	ovHead   int

	pending  atomic.Int64 // rows accepted by Write and not yet written or given up
	held     atomic.Int64 // their bytes (rowBytes)
	written  atomic.Uint64
	dropped  atomic.Uint64
	failed   atomic.Uint64
	dropping atomic.Bool // a drop episode is in progress (logged once)
	dropBase atomic.Uint64

	errMu     sync.Mutex
	lastErr   error
	lastErrAt time.Time

	failingSince time.Time    // drainer goroutine only
	lostAtClose  atomic.Int64 // rows Close gave up on

	ctx       context.Context // cancelled when Close gives up
	cancel    context.CancelFunc
	full      chan struct{} // a whole batch is waiting in ch (capacity 1, never blocks Write)
	stop      chan struct{} // closed by Close: write everything, then exit
	done      chan struct{} // closed when the drainer exits
	closeOnce sync.Once
}

// New starts a Writer and its drainer goroutine. Close must be called to stop it.
func New(o Options) *Writer {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.Overflow <= 0 {
		o.Overflow = DefaultOverflow
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		o:      o,
		log:    lg.With("component", "reqlog"),
		ch:     make(chan store.RequestRow, o.Queue),
		ctx:    ctx,
		cancel: cancel,
		full:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go w.run()
	return w
}

// Write queues a row. It never blocks on the database; see Writer for what happens
// when the queue is full. Rows written after Close are dropped (and counted).
func (w *Writer) Write(row store.RequestRow) {
	w.closeMu.RLock()
	defer w.closeMu.RUnlock()
	if w.closed {
		w.drop(1, "the request log is closed")
		return
	}
	size := rowBytes(&row)
	if w.held.Add(size) > w.o.MaxBytes {
		w.held.Add(-size)
		w.drop(1, "the request-log backlog is over its byte limit")
		return
	}
	w.pending.Add(1)
	select {
	case w.ch <- row:
		// The drainer holds the first row of the batch it is waiting to fill.
		if len(w.ch) >= w.o.Batch-1 {
			select {
			case w.full <- struct{}{}:
			default:
			}
		}
		return
	default:
	}
	w.ovMu.Lock()
	if len(w.overflow)-w.ovHead < w.o.Overflow {
		w.overflow = append(w.overflow, row)
		w.ovMu.Unlock()
		return
	}
	w.pending.Add(-1)
	w.held.Add(-size)
	w.ovMu.Unlock()
	w.drop(1, "the request-log queue is full")
}

// rowBytes approximates the memory a queued row holds: its strings plus a fixed
// overhead for the struct.
func rowBytes(r *store.RequestRow) int64 {
	n := len(r.RequestBody) + len(r.ResponseBody) + len(r.Error) + len(r.Model) + len(r.UpstreamModel) +
		len(r.Endpoint) + len(r.KeyName) + len(r.KeyID) + len(r.Project) + len(r.Provider) + len(r.ID)
	for _, p := range r.ProvidersTried {
		n += len(p)
	}
	if k := r.Keep; k != nil {
		n += len(k.Input) + len(k.Output) + len(k.ID)
	}
	return int64(n) + 256
}

func batchBytes(b []store.RequestRow) int64 {
	var n int64
	for i := range b {
		n += rowBytes(&b[i])
	}
	return n
}

func (w *Writer) drop(n int, why string) {
	total := w.dropped.Add(uint64(n))
	if w.dropping.CompareAndSwap(false, true) {
		w.dropBase.Store(total - uint64(n))
		w.log.Error("request log: dropping rows", "reason", why, "queue", w.o.Queue, "overflow", w.o.Overflow)
	}
}

// endDropEpisode logs the end of a drop episode once the backlog has drained.
func (w *Writer) endDropEpisode() {
	if w.dropping.Load() && w.dropping.CompareAndSwap(true, false) {
		w.log.Warn("request log: accepting rows again", "dropped", w.dropped.Load()-w.dropBase.Load())
	}
}

// Stats returns the current counters.
func (w *Writer) Stats() Stats {
	st := Stats{
		Queued:        int(w.pending.Load()),
		Written:       w.written.Load(),
		Dropped:       w.dropped.Load(),
		FailedBatches: w.failed.Load(),
	}
	w.errMu.Lock()
	if w.lastErr != nil {
		st.LastError, st.LastErrorAt = w.lastErr.Error(), w.lastErrAt
	}
	w.errMu.Unlock()
	return st
}

// Close writes every queued row and stops the drainer. If ctx ends first (say the
// database stays locked past the shutdown timeout), it gives up, counts the rows it
// could not write as dropped and returns an error saying how many.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.closeMu.Lock()
		w.closed = true
		w.closeMu.Unlock()
		close(w.stop)
	})
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
	}
	w.cancel()
	st := w.Stats()
	if lost := w.lostAtClose.Load(); lost > 0 {
		w.errMu.Lock()
		cause := w.lastErr
		w.errMu.Unlock()
		if cause == nil {
			cause = ctx.Err()
		}
		return fmt.Errorf("request log: %d rows not written (%d written): %w", lost, st.Written, cause)
	}
	return nil
}

// run is the drainer: it collects rows into batches and writes them.
func (w *Writer) run() {
	defer close(w.done)
	w.prune()
	pruneT := time.NewTicker(pruneEvery)
	defer pruneT.Stop()
	flushT := time.NewTimer(w.o.FlushEvery)
	flushT.Stop()

	batch := make([]store.RequestRow, 0, w.o.Batch)
	for {
		batch = w.fill(batch)
		if len(batch) < w.o.Batch {
			if len(batch) == 0 {
				w.endDropEpisode()
				select {
				case r := <-w.ch:
					batch = append(batch, r)
				case <-pruneT.C:
					w.prune()
					continue
				case <-w.stop:
					w.final(batch)
					return
				}
			}
			// A part batch waits up to FlushEvery for company, so a trickle of requests
			// costs a transaction per FlushEvery rather than one per row, while a
			// backlog of full batches is written back to back. It waits without
			// taking rows one by one: a receive per row woke this goroutine for every
			// request, a context switch each on the request's core. Write says when a
			// whole batch is waiting.
			flushT.Reset(w.o.FlushEvery)
			select {
			case <-flushT.C:
			case <-w.full:
			case <-w.stop:
			}
			if !flushT.Stop() {
				select {
				case <-flushT.C:
				default:
				}
			}
			batch = w.fill(batch)
		}
		if !w.flush(batch) {
			w.final(batch)
			return
		}
		batch = batch[:0]
	}
}

// fill tops the batch up without waiting: overflow rows first, then the channel.
func (w *Writer) fill(batch []store.RequestRow) []store.RequestRow {
	room := w.o.Batch - len(batch)
	if room > 0 {
		w.ovMu.Lock()
		if n := len(w.overflow) - w.ovHead; n > 0 {
			k := min(n, room)
			batch = append(batch, w.overflow[w.ovHead:w.ovHead+k]...)
			clear(w.overflow[w.ovHead : w.ovHead+k]) // let the bodies be collected
			w.ovHead += k
			switch {
			case w.ovHead == len(w.overflow):
				// Drained: start over, and give a big backing array back.
				w.overflow, w.ovHead = w.overflow[:0], 0
				if cap(w.overflow) > 4*w.o.Batch {
					w.overflow = nil
				}
			case w.ovHead > len(w.overflow)/2:
				// Compact now and then (amortised O(1) per row), so Write's appends
				// do not keep a dead prefix alive.
				rest := copy(w.overflow, w.overflow[w.ovHead:])
				clear(w.overflow[rest:])
				w.overflow, w.ovHead = w.overflow[:rest], 0
			}
		}
		w.ovMu.Unlock()
	}
	for len(batch) < w.o.Batch {
		select {
		case r := <-w.ch:
			batch = append(batch, r)
			continue
		default:
		}
		break
	}
	return batch
}

// final writes everything left after Close. Nothing can be sent any more, so the
// channel and overflow only shrink.
func (w *Writer) final(batch []store.RequestRow) {
	for {
		batch = w.fill(batch)
		if len(batch) == 0 {
			return
		}
		if w.ctx.Err() != nil || !w.flush(batch) {
			lost := len(batch) + len(w.ch)
			w.ovMu.Lock()
			lost += len(w.overflow) - w.ovHead
			w.overflow, w.ovHead = nil, 0
			w.ovMu.Unlock()
			for len(w.ch) > 0 {
				<-w.ch
			}
			w.pending.Add(-int64(lost))
			w.held.Store(0)
			w.dropped.Add(uint64(lost))
			w.lostAtClose.Add(int64(lost))
			w.log.Error("request log: gave up at shutdown", "rows_lost", lost, "err", w.lastError())
			return
		}
		batch = batch[:0]
	}
}

// flush writes one batch, retrying with backoff until it succeeds or Close gives up
// (false). An outage is logged once when it starts and once when it ends.
func (w *Writer) flush(batch []store.RequestRow) bool {
	backoff := backoffMin
	for {
		ctx, cancel := context.WithTimeout(w.ctx, w.o.WriteTimeout)
		err := w.o.Store.InsertRequests(ctx, batch)
		cancel()
		if err == nil {
			w.written.Add(uint64(len(batch)))
			w.pending.Add(-int64(len(batch)))
			w.held.Add(-batchBytes(batch))
			if !w.failingSince.IsZero() {
				w.log.Info("request log: writing again", "outage", time.Since(w.failingSince).Round(time.Millisecond),
					"failed_attempts", w.failed.Load())
				w.failingSince = time.Time{}
			}
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("database stayed locked for %s: %w", w.o.WriteTimeout, err)
		}
		w.failed.Add(1)
		w.errMu.Lock()
		w.lastErr, w.lastErrAt = err, time.Now()
		w.errMu.Unlock()
		if w.failingSince.IsZero() {
			w.failingSince = time.Now()
			w.log.Error("request log: cannot write to the database; keeping rows in memory and retrying",
				"err", err, "busy", store.IsBusy(err), "rows", len(batch))
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(backoff*2, backoffMax)
	}
}

func (w *Writer) lastError() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.lastErr
}

func (w *Writer) prune() {
	if w.o.Retention <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(w.ctx, pruneLimit)
	defer cancel()
	n, err := w.o.Store.PruneRequests(ctx, time.Now().Add(-w.o.Retention))
	switch {
	case err != nil && w.ctx.Err() == nil:
		w.log.Warn("request log: prune failed", "err", err)
	case n > 0:
		w.log.Info("request log: pruned old rows", "rows", n, "retention", w.o.Retention)
	}
	// Stored Responses API answers (previous_response_id state) follow the same retention.
	n, err = w.o.Store.PruneResponses(ctx, time.Now().Add(-w.o.Retention))
	switch {
	case err != nil && w.ctx.Err() == nil:
		w.log.Warn("responses store: prune failed", "err", err)
	case n > 0:
		w.log.Info("responses store: pruned old responses", "rows", n, "retention", w.o.Retention)
	}
}
