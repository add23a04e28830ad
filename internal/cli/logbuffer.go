package cli

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logBuffer batches process-log writes: with one line per request, an unbuffered
// stderr costs a write syscall per request. Lines are flushed every 100ms, when the
// buffer fills, and on Close, so they still show up promptly.
type logBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogBuffer(w io.Writer) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *logBuffer) loop() {
	defer close(b.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.flush()
		}
	}
}

func (b *logBuffer) flush() {
	b.mu.Lock()
	_ = b.w.Flush()
	b.mu.Unlock()
}

// Close stops the flusher and writes what is left.
func (b *logBuffer) Close() error {
	close(b.stop)
	<-b.done
	b.flush()
	return nil
}
