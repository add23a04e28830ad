package gateway

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/sse"
)

// streamWriter writes SSE events to the client. A timer sends ": keep-alive" comments
// while the upstream is silent (before the first token, too), and ends a stream whose
// upstream stays silent past the idle limit. The mutex serialises the timer's writes
// with the relay's.
type streamWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	buf     []byte
	sent    bool // headers written
	ended   bool
	last    atomic.Int64 // unix nanos of the last upstream event
	timer   *time.Timer
	every   time.Duration
	idle    time.Duration
	onIdle  func() error // closes the upstream stream once it is relaying
	idleHit atomic.Bool
	broken  bool // a write to the client failed
	// tap sees every event written (not keep-alives): the cassette recorder.
	tap func(frame []byte)
}

func newStreamWriter(w http.ResponseWriter, keepAlive, idle time.Duration) *streamWriter {
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), every: keepAlive, idle: idle, buf: make([]byte, 0, 1024)}
	sw.last.Store(time.Now().UnixNano())
	sw.mu.Lock() // tick reads sw.timer under the lock
	sw.timer = time.AfterFunc(keepAlive, sw.tick)
	sw.mu.Unlock()
	return sw
}

// tick runs on the timer goroutine.
func (sw *streamWriter) tick() {
	sw.mu.Lock()
	if sw.ended {
		sw.mu.Unlock()
		return
	}
	silence := time.Duration(time.Now().UnixNano() - sw.last.Load())
	if sw.onIdle != nil && silence >= sw.idle {
		sw.idleHit.Store(true)
		closeUpstream := sw.onIdle
		sw.mu.Unlock()
		_ = closeUpstream() // unblocks the relay's Next with an error
		return
	}
	if silence >= sw.every {
		sw.writeHeaderLocked(nil)
		sw.writeLocked(sse.KeepAlive)
		silence = 0
	}
	sw.timer.Reset(sw.every - silence)
	sw.mu.Unlock()
}

func (sw *streamWriter) writeHeaderLocked(extra func(http.Header)) {
	if sw.sent {
		return
	}
	h := sw.w.Header()
	sse.Headers(h)
	if extra != nil {
		extra(h)
	}
	sw.w.WriteHeader(http.StatusOK)
	sw.sent = true
}

func (sw *streamWriter) writeLocked(b []byte) bool {
	if sw.broken {
		return false
	}
	if _, err := sw.w.Write(b); err != nil {
		sw.broken = true
		return false
	}
	if err := sw.rc.Flush(); err != nil {
		sw.broken = true
		return false
	}
	return true
}

func (sw *streamWriter) headersSent() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.sent
}

// begin sends the headers (unless a keep-alive already did) and arms the idle limit.
func (sw *streamWriter) begin(extra func(http.Header), closeUpstream func() error) {
	sw.mu.Lock()
	sw.writeHeaderLocked(extra)
	sw.onIdle = closeUpstream
	sw.mu.Unlock()
	sw.last.Store(time.Now().UnixNano())
}

// event writes one data event and flushes it; false when the client is gone.
func (sw *streamWriter) event(payload []byte) bool {
	sw.last.Store(time.Now().UnixNano())
	sw.mu.Lock()
	sw.buf = sse.AppendData(sw.buf[:0], payload)
	ok := sw.writeLocked(sw.buf)
	sw.tapLocked(sw.buf)
	sw.mu.Unlock()
	return ok
}

func (sw *streamWriter) tapLocked(b []byte) {
	if sw.tap != nil {
		sw.tap(b)
	}
}

// frame writes one complete SSE frame (a Messages or Responses event) and flushes it.
func (sw *streamWriter) frame(b []byte) bool {
	sw.last.Store(time.Now().UnixNano())
	sw.mu.Lock()
	ok := sw.writeLocked(b)
	sw.tapLocked(b)
	sw.mu.Unlock()
	return ok
}

// end marks a framed stream finished: its dialect has no terminator line.
func (sw *streamWriter) end() {
	sw.mu.Lock()
	sw.ended = true
	sw.mu.Unlock()
}

// failFrames ends a framed stream with the dialect's error event(s).
func (sw *streamWriter) failFrames(b []byte) {
	sw.mu.Lock()
	sw.writeHeaderLocked(nil)
	sw.writeLocked(b)
	sw.tapLocked(b)
	sw.ended = true
	sw.mu.Unlock()
}

// done writes the [DONE] terminator.
func (sw *streamWriter) done() {
	sw.mu.Lock()
	sw.writeLocked(sse.Done)
	sw.tapLocked(sse.Done)
	sw.ended = true
	sw.mu.Unlock()
}

// fail ends the stream with an error event in OpenAI's envelope (never an "event:" line).
func (sw *streamWriter) fail(e *apierr.Error) {
	sw.mu.Lock()
	sw.writeHeaderLocked(nil)
	sw.buf = sse.AppendData(sw.buf[:0], e.AppendJSON(nil))
	sw.writeLocked(sw.buf)
	sw.tapLocked(sw.buf)
	sw.ended = true
	sw.mu.Unlock()
}

func (sw *streamWriter) idled() bool { return sw.idleHit.Load() }

func (sw *streamWriter) stop() {
	sw.timer.Stop()
	sw.mu.Lock()
	sw.ended = true
	sw.mu.Unlock()
}
