package provider

import (
	"bytes"
	"io"
	"sync"
	"unsafe"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/sse"
)

// UsageScanner reads token usage out of a dialect's native event stream as it is
// relayed; each dialect package has one.
type UsageScanner interface {
	Event(name string, data []byte)
	Usage() Usage
}

// FrameStream relays a native (non-chat) SSE answer frame by frame: each Next returns
// one complete frame with its "event:" line, as the upstream framed it, so the client
// sees the provider's events unchanged. Comments (pings as comments, keep-alives) are
// not relayed; the gateway sends its own keep-alives during silence.
type FrameStream struct {
	name    string
	body    io.ReadCloser
	r       *sse.Reader
	scan    UsageScanner
	secrets [][]byte
	buf     []byte
	once    sync.Once
	cancel  func()
}

// NewFrameStream returns a stream over body; scan sees every event (may be nil);
// secrets are redacted from error events; cancel (may be nil) runs on Close.
func NewFrameStream(name string, body io.ReadCloser, scan UsageScanner, secrets []string, cancel func()) *FrameStream {
	s := &FrameStream{name: name, body: body, r: sse.NewReader(body), scan: scan, cancel: cancel, buf: make([]byte, 0, 512)}
	for _, v := range secrets {
		if len(v) >= 8 {
			s.secrets = append(s.secrets, []byte(v))
		}
	}
	return s
}

var errorWord = []byte("error")

// Next implements Stream.
func (s *FrameStream) Next() ([]byte, error) {
	event, data, err := s.r.Next()
	if err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, apierr.Unreachable(s.name, err)
	}
	if s.scan != nil {
		// The name is only read during the call.
		s.scan.Event(unsafe.String(unsafe.SliceData(event), len(event)), data)
	}
	b := s.buf[:0]
	if len(event) > 0 {
		b = append(append(append(b, "event: "...), event...), '\n')
	}
	b = append(b, "data: "...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			b = append(b, data...)
			break
		}
		b = append(append(b, data[:i]...), "\ndata: "...)
		data = data[i+1:]
	}
	b = append(b, '\n', '\n')
	if len(s.secrets) > 0 && bytes.Contains(b, errorWord) {
		for _, sec := range s.secrets {
			b = bytes.ReplaceAll(b, sec, []byte("[REDACTED]"))
		}
	}
	s.buf = b
	return b, nil
}

// Usage implements Stream.
func (s *FrameStream) Usage() Usage {
	if s.scan == nil {
		return Usage{}
	}
	return s.scan.Usage()
}

// Close implements Stream.
func (s *FrameStream) Close() error {
	s.once.Do(func() {
		_ = s.body.Close()
		if s.cancel != nil {
			s.cancel()
		}
	})
	return nil
}
