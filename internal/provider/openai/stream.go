package openai

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"unsafe"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/sse"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// stream relays an upstream SSE body event by event.
type stream struct {
	name    string
	secrets []string
	call    *provider.Call
	body    io.ReadCloser
	r       *sse.Reader
	usage   provider.Usage
	buf     []byte
	out     []byte // a chunk with its model renamed
	quoted  []byte // the client's model name as a JSON string, made once
	once    sync.Once
	done    bool
	rename  bool // the client named the model otherwise (an alias): rewrite each chunk's model
}

func newStream(name string, call *provider.Call, body io.ReadCloser, secrets []string) *stream {
	return &stream{name: name, secrets: secrets, call: call, body: body, r: sse.NewReader(body),
		rename: call.Model != call.ClientModel}
}

var (
	doneMarker = []byte("[DONE]")
	usageNull  = []byte(`,"usage":null`)
)

// Next implements provider.Stream.
func (s *stream) Next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	for {
		_, data, err := s.r.Next()
		if err != nil {
			if err == io.EOF {
				return nil, apierr.BadUpstream(s.name, "the stream ended before [DONE]")
			}
			if errors.Is(err, sse.ErrEventTooLarge) {
				return nil, apierr.BadUpstream(s.name, err.Error())
			}
			return nil, apierr.Unreachable(s.name, err)
		}
		if bytes.HasPrefix(data, doneMarker) {
			s.done = true
			return nil, io.EOF
		}
		if len(data) == 0 {
			continue
		}
		// One pass over the chunk's colons before any parsing: most chunks have
		// neither key filled.
		k := scanChunk(data)
		if k.error {
			if env := gjson.GetBytes(data, "error"); env.IsObject() {
				return nil, streamError(s.name, env).Redact(s.secrets)
			}
		}
		if k.usageObject {
			if u := ParseUsage(data); u.Reported {
				s.usage = u
				if !s.call.IncludeUsage && gjson.GetBytes(data, "choices.#").Int() == 0 {
					continue // the client did not ask for the usage chunk: keep it for accounting only
				}
			}
		}
		if k.usageNull >= 0 && !s.call.IncludeUsage {
			s.buf = append(append(s.buf[:0], data[:k.usageNull]...), data[k.usageNull+len(usageNull):]...)
			data = s.buf
		}
		if s.rename {
			data = s.rewriteModel(data)
		}
		return data, nil
	}
}

// rewriteModel answers with the client's name for the model (an alias routed to an
// upstream name): the chunk's top-level "model" value is replaced in a buffer
// reused across chunks, where sjson.SetBytes would allocate a new chunk each time.
// Chunks without a "model" key go through sjson, which adds it.
func (s *stream) rewriteModel(data []byte) []byte {
	m := gjson.Get(unsafe.String(unsafe.SliceData(data), len(data)), "model")
	if !m.Exists() || m.Index <= 0 {
		if b, err := sjson.SetBytes(data, "model", s.call.ClientModel); err == nil {
			return b
		}
		return data
	}
	if s.quoted == nil {
		// sjson's own encoding of the name, so the bytes are what SetBytes writes.
		enc, _ := sjson.Set(`{"m":0}`, "m", s.call.ClientModel)
		s.quoted = []byte(gjson.Get(enc, "m").Raw)
	}
	s.out = append(append(append(s.out[:0], data[:m.Index]...), s.quoted...), data[m.Index+len(m.Raw):]...)
	return s.out
}

// chunkKeys is what scanChunk found in a chunk.
type chunkKeys struct {
	error       bool // an "error" key
	usageObject bool // the last "usage" key holds an object
	usageNull   int  // offset of `,"usage":null` (the last usage key, null), or -1
}

// scanChunk looks at the key before each colon of a chunk, in one pass: with
// include_usage forced on, every chunk but the last carries "usage":null, and a
// search per key (a reverse one for the last "usage") was most of the per-chunk
// cost of the relay. A colon inside a string has no `"key"` right before it (the
// quotes would be escaped), so only real keys match.
func scanChunk(b []byte) chunkKeys {
	k := chunkKeys{usageNull: -1}
	for i := bytes.IndexByte(b, ':'); i >= 0; {
		before := b[:i]
		for len(before) > 0 && jsonx.IsSpace(before[len(before)-1]) {
			before = before[:len(before)-1]
		}
		n := len(before)
		switch {
		case n < 7 || before[n-1] != '"': // not a key; the cheap test first
		case string(before[n-7:]) == `"error"`:
			k.error = true
		case string(before[n-7:]) == `"usage"`:
			v := jsonx.SkipSpace(b, i+1)
			k.usageObject = v < len(b) && b[v] == '{'
			k.usageNull = -1
			if at := len(before) - len(`,"usage"`); at >= 0 && b[at] == ',' && len(before) == i && bytes.HasPrefix(b[i+1:], []byte("null")) {
				k.usageNull = at
			}
		}
		j := bytes.IndexByte(b[i+1:], ':')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return k
}

func streamError(name string, env gjson.Result) *apierr.Error {
	return &apierr.Error{Status: 502, Provider: name, Type: orDefault(env.Get("type").String(), apierr.TypeServer),
		Code: env.Get("code").String(), Param: env.Get("param").String(),
		Message: orDefault(env.Get("message").String(), "the upstream reported an error mid-stream")}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Usage implements provider.Stream.
func (s *stream) Usage() provider.Usage { return s.usage }

// Close implements provider.Stream.
func (s *stream) Close() error {
	var err error
	s.once.Do(func() { err = s.body.Close() })
	return err
}
