// Package sse reads and writes Server-Sent Events as LLM APIs use them: a reader that
// reassembles events split across reads (up to a size cap), and the framing helpers
// the relay writes with.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync/atomic"
)

// DefaultMaxEvent is the default cap on one event (a line, or the data lines of one
// event together): far above any real chunk, far below what hurts the process.
const DefaultMaxEvent = 8 << 20

// maxEvent is the cap new Readers get. It is process-wide because every provider
// builds its readers deep inside its stream code; serve sets it once from
// server.max_event_bytes before any stream opens.
var maxEvent atomic.Int64

func init() { maxEvent.Store(DefaultMaxEvent) }

// SetMaxEvent sets the cap for Readers created afterwards; n <= 0 restores the default.
func SetMaxEvent(n int) {
	if n <= 0 {
		n = DefaultMaxEvent
	}
	maxEvent.Store(int64(n))
}

// ErrEventTooLarge ends a stream whose upstream sent one event larger than the cap:
// buffering it whole would let one upstream hold gigabytes.
var ErrEventTooLarge = errors.New("sse: an event is larger than the limit")

// TooLargeError is ErrEventTooLarge with the limit.
type TooLargeError struct{ Limit int }

func (e *TooLargeError) Error() string {
	return "an upstream stream event is larger than " + strconv.Itoa(e.Limit) + " bytes (server.max_event_bytes)"
}

// Is makes errors.Is(err, ErrEventTooLarge) hold.
func (e *TooLargeError) Is(target error) bool { return target == ErrEventTooLarge }

// Reader reads SSE events from an upstream body.
type Reader struct {
	br    *bufio.Reader
	event []byte // name of the current event ("" = message)
	data  []byte // data lines of the current event, joined by '\n'
	line  []byte // scratch for lines longer than the buffer
	has   bool   // the current event has at least one data line
	max   int    // cap on one line and on one event's data
}

// NewReader returns a Reader over r. The 4 KiB buffer holds a typical chunk; longer
// lines are reassembled, so memory per open stream stays small.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 4<<10), max: int(maxEvent.Load())}
}

// Next returns the next event that carries data. The slices are valid until the next
// call. Comment lines, id/retry fields and events without data are skipped. At the end
// of input it returns io.EOF; a final event not followed by a blank line is still
// returned first (upstreams that close without the trailing newline).
func (r *Reader) Next() (event, data []byte, err error) {
	r.event = r.event[:0]
	r.data = r.data[:0]
	r.has = false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && r.has {
				return r.event, r.data, nil
			}
			return nil, nil, err
		}
		if len(line) == 0 { // blank line: dispatch
			if r.has {
				return r.event, r.data, nil
			}
			r.event = r.event[:0]
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if len(r.data)+len(value)+1 > r.max {
				return nil, nil, &TooLargeError{Limit: r.max}
			}
			if !r.has {
				if n := r.blankAhead(); n > 0 {
					// A one-line event whose blank line is already read (nearly every
					// event): the data is handed out where it lies, not copied.
					// Discarding buffered bytes leaves the buffer as it is.
					_, _ = r.br.Discard(n)
					return r.event, value, nil
				}
			}
			if r.has {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.has = true
		case "event":
			r.event = append(r.event[:0], value...)
		}
	}
}

// blankAhead returns the length of the blank line at the head of the read buffer
// ("\n" or "\r\n"), or 0 when none is there yet. Peeking no further than what is
// buffered never reads, so the last line returned stays where it is.
func (r *Reader) blankAhead() int {
	b, _ := r.br.Peek(min(2, r.br.Buffered()))
	switch {
	case len(b) > 0 && b[0] == '\n':
		return 1
	case len(b) == 2 && b[0] == '\r' && b[1] == '\n':
		return 2
	}
	return 0
}

// readLine returns one line without its CR/LF terminator.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.line = append(r.line[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = r.br.ReadSlice('\n')
			if len(r.line)+len(line) > r.max+2 { // +2: the CRLF that is not content
				return nil, &TooLargeError{Limit: r.max}
			}
			r.line = append(r.line, line...)
		}
		line = r.line
	}
	if err != nil && (err != io.EOF || len(line) == 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	return line, nil
}
