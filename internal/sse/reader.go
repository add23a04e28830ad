// Package sse reads and writes Server-Sent Events as LLM APIs use them: a reader that
// reassembles events split across reads (no line-length limit), and the framing helpers
// the relay writes with.
package sse

import (
	"bufio"
	"bytes"
	"io"
)

// Reader reads SSE events from an upstream body.
type Reader struct {
	br    *bufio.Reader
	event []byte // name of the current event ("" = message)
	data  []byte // data lines of the current event, joined by '\n'
	line  []byte // scratch for lines longer than the buffer
	has   bool   // the current event has at least one data line
}

// NewReader returns a Reader over r. The 4 KiB buffer holds a typical chunk; longer
// lines are reassembled, so memory per open stream stays small.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 4<<10)}
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

// readLine returns one line without its CR/LF terminator.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.line = append(r.line[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = r.br.ReadSlice('\n')
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
