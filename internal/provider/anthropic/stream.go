package anthropic

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
	"unsafe"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/sse"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
)

// stream relays one Anthropic event stream as OpenAI chunks, one per Next call. It
// reads an event only when the previous chunks are consumed, so memory stays constant
// whatever the answer's length.
type stream struct {
	ctx    context.Context // the caller's: tells a client that left from a broken upstream
	body   io.ReadCloser
	cancel context.CancelFunc
	r      *sse.Reader
	t      translator
	pos    int   // next chunk of t.ends to hand out
	err    error // terminal result, io.EOF after message_stop
	once   sync.Once
}

var _ provider.Stream = (*stream)(nil)

func newStream(ctx context.Context, body io.ReadCloser, cancel context.CancelFunc, name, model string, includeUsage, text bool) *stream {
	s := &stream{ctx: ctx, body: body, cancel: cancel, r: sse.NewReader(body)}
	s.t.init(name, model, text, includeUsage, time.Now().Unix())
	return s
}

// Next returns the next chunk payload, io.EOF after message_stop, or the error that
// ended the stream (an *apierr.Error for upstream failures).
func (s *stream) Next() ([]byte, error) {
	for {
		if s.pos < len(s.t.ends) {
			start := 0
			if s.pos > 0 {
				start = s.t.ends[s.pos-1]
			}
			end := s.t.ends[s.pos]
			s.pos++
			return s.t.out[start:end], nil
		}
		if s.err != nil {
			return nil, s.err
		}
		s.t.out, s.t.ends, s.pos = s.t.out[:0], s.t.ends[:0], 0
		name, data, err := s.r.Next()
		if err != nil {
			s.err = s.readError(err)
			continue
		}
		if err := s.t.event(name, data); err != nil {
			s.err = err
		}
	}
}

func (s *stream) readError(err error) error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("anthropic stream: %w", s.ctx.Err())
	}
	if errors.Is(err, io.EOF) {
		return &apierr.Error{Status: http.StatusBadGateway, Type: apierr.TypeServer,
			Message: "anthropic ended the stream before message_stop", Retryable: true, Provider: s.t.name}
	}
	return &apierr.Error{Status: http.StatusBadGateway, Type: apierr.TypeServer,
		Message: "the connection to anthropic broke mid-stream", Retryable: true, Provider: s.t.name,
		Cause: fmt.Errorf("read anthropic stream: %w", err)}
}

// Usage is the usage reported so far; complete after io.EOF.
func (s *stream) Usage() provider.Usage { return s.t.usage.Usage() }

// Close releases the upstream connection; safe to call more than once.
func (s *stream) Close() error {
	var err error
	s.once.Do(func() {
		err = s.body.Close()
		s.cancel()
	})
	return err
}

// event is every Anthropic stream event's fields the translation reads, decoded into
// one reused value.
type event struct {
	Type    string `json:"type"`
	Message struct {
		ID    string `json:"id"`
		Model string `json:"model"`
		Usage aUsage `json:"usage"`
	} `json:"message"`
	Index        int `json:"index"`
	ContentBlock struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content_block"`
	Delta struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage aUsage `json:"usage"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

const (
	kindOther = iota
	kindText
	kindTool
)

type block struct {
	index    int
	kind     uint8
	argsSent bool
	tool     int    // OpenAI tool_calls index: the count of tool_use blocks before it
	input    string // non-empty input from content_block_start, sent if no delta comes
}

// translator is the state machine of wire-formats.md 5.4, free of I/O so the fuzz
// test and the benchmark drive it directly. Chunks of one event are appended to out,
// each ending at the offsets in ends.
type translator struct {
	name, model  string
	text         bool // legacy text_completion chunks instead of chat chunks
	includeUsage bool
	created      int64

	id       string
	head     []byte // chunk prefix up to and including `"choices":[`
	started  bool
	finished bool
	done     bool
	tools    int
	blocks   []block
	usage    usage.Messages

	ev   event
	out  []byte
	ends []int
}

func (t *translator) init(name, model string, text, includeUsage bool, created int64) {
	*t = translator{name: name, model: model, text: text, includeUsage: includeUsage, created: created,
		out: make([]byte, 0, 512), ends: make([]int, 0, 4)}
}

var errBadEvent = errors.New("malformed stream event")

// fastTextDelta handles the commonest event, a text_delta, without encoding/json: it is
// most of a stream and the decode was most of the per-event cost. Anything unusual (no
// "type", invalid JSON, another delta) falls through to the full decode.
func (t *translator) fastTextDelta(data []byte) bool {
	if !bytes.Contains(data, []byte(`"text_delta"`)) || !gjson.ValidBytes(data) {
		return false
	}
	// A string view, not a copy: the text is appended to t.out before data is reused.
	js := unsafe.String(unsafe.SliceData(data), len(data))
	if gjson.Get(js, "type").Str != "content_block_delta" || gjson.Get(js, "delta.type").Str != "text_delta" {
		return false
	}
	t.start()
	t.content(gjson.Get(js, "delta.text").String())
	return true
}

// event consumes one SSE event. It returns io.EOF after message_stop, an
// *apierr.Error when the stream failed, and nil otherwise; once it has returned
// non-nil it ignores everything.
func (t *translator) event(name, data []byte) error {
	if t.done {
		return nil
	}
	if t.fastTextDelta(data) {
		return nil
	}
	t.ev = event{}
	ev := &t.ev
	if err := json.Unmarshal(data, ev); err != nil {
		t.done = true
		return &apierr.Error{Status: http.StatusBadGateway, Type: apierr.TypeServer, Retryable: true,
			Message: "anthropic sent a malformed stream event", Provider: t.name,
			Cause: fmt.Errorf("%w: %w", errBadEvent, err)}
	}
	typ := ev.Type
	if typ == "" {
		typ = string(name)
	}
	switch typ {
	case "message_start":
		if !t.started {
			t.id = ev.Message.ID
		}
		mergeUsage(&t.usage, ev.Message.Usage)
		t.usage.SetModel(ev.Message.Model)
		t.start()
	case "content_block_start":
		t.start()
		b := block{index: ev.Index}
		switch ev.ContentBlock.Type {
		case "text":
			b.kind = kindText
			t.content(ev.ContentBlock.Text)
		case "tool_use":
			if t.text {
				break // a text completion offers no tools
			}
			b.kind, b.tool = kindTool, t.tools
			t.tools++
			if in := ev.ContentBlock.Input; len(in) > 0 && string(in) != "{}" && string(in) != "null" {
				b.input = compactArgs(in)
			}
			t.toolStart(b.tool, ev.ContentBlock.ID, ev.ContentBlock.Name)
		}
		t.blocks = append(t.blocks, b)
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			t.start()
			t.content(ev.Delta.Text)
		case "input_json_delta":
			if b := t.block(ev.Index); b != nil && b.kind == kindTool && ev.Delta.PartialJSON != "" {
				b.argsSent = true
				t.toolArgs(b.tool, ev.Delta.PartialJSON)
			}
		}
		// thinking, signature and citations deltas have no OpenAI counterpart.
	case "content_block_stop":
		if b := t.block(ev.Index); b != nil && b.kind == kindTool && !b.argsSent {
			// A tool without arguments sends no fragment; clients need valid JSON.
			b.argsSent = true
			args := b.input
			if args == "" {
				args = "{}"
			}
			t.toolArgs(b.tool, args)
		}
	case "message_delta":
		mergeUsage(&t.usage, ev.Usage)
		if ev.Delta.StopReason != "" && !t.finished {
			t.start()
			t.finish(ev.Delta.StopReason)
		}
	case "message_stop":
		t.start()
		if !t.finished {
			t.finish("")
		}
		if t.includeUsage {
			t.usageChunk()
		}
		t.done = true
		return io.EOF
	case "error":
		t.done = true
		return mapStreamError(t.name, ev.Error.Type, ev.Error.Message)
	}
	// ping and unknown event types carry nothing for the client.
	return nil
}

// block finds an open block by Anthropic index; blocks arrive in order, so the last
// one is almost always it.
func (t *translator) block(index int) *block {
	for i := len(t.blocks) - 1; i >= 0; i-- {
		if t.blocks[i].index == index {
			return &t.blocks[i]
		}
	}
	return nil
}

// start emits the role chunk once, before anything else.
func (t *translator) start() {
	if t.started {
		return
	}
	t.started = true
	id := t.id
	if id == "" {
		// No message_start: still give every chunk one id.
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	h := append(t.head[:0], `{"id":`...)
	h = appendString(h, idPrefix(t.text)+id)
	if t.text {
		h = append(h, `,"object":"text_completion","created":`...)
	} else {
		h = append(h, `,"object":"chat.completion.chunk","created":`...)
	}
	h = appendInt(h, t.created)
	h = append(h, `,"model":`...)
	h = appendString(h, t.model)
	t.head = append(h, `,"choices":[`...)
	if !t.text {
		t.out = append(t.choice(), `{"role":"assistant","content":""}`...)
		t.end("")
	}
}

// choice opens a chunk with one choice, up to where the delta (or text) goes.
func (t *translator) choice() []byte {
	t.out = append(t.out, t.head...)
	if t.text {
		return append(t.out, `{"text":`...)
	}
	return append(t.out, `{"index":0,"delta":`...)
}

// end closes the choice opened by choice with a finish reason ("" = null).
func (t *translator) end(finish string) {
	o := t.out
	if t.text {
		o = append(o, `,"index":0`...)
	}
	o = append(o, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		o = append(o, "null"...)
	} else {
		o = appendString(o, finish)
	}
	o = append(o, '}', ']')
	if t.includeUsage {
		o = append(o, `,"usage":null`...)
	}
	t.out = append(o, '}')
	t.ends = append(t.ends, len(t.out))
}

func (t *translator) content(s string) {
	if s == "" {
		return
	}
	o := t.choice()
	if t.text {
		t.out = appendString(o, s)
	} else {
		o = append(o, `{"content":`...)
		t.out = append(appendString(o, s), '}')
	}
	t.end("")
}

func (t *translator) toolStart(idx int, id, name string) {
	o := append(t.choice(), `{"tool_calls":[{"index":`...)
	o = appendInt(o, int64(idx))
	o = append(o, `,"id":`...)
	o = appendString(o, id)
	o = append(o, `,"type":"function","function":{"name":`...)
	o = appendString(o, name)
	t.out = append(o, `,"arguments":""}}]}`...)
	t.end("")
}

func (t *translator) toolArgs(idx int, args string) {
	o := append(t.choice(), `{"tool_calls":[{"index":`...)
	o = appendInt(o, int64(idx))
	o = append(o, `,"function":{"arguments":`...)
	o = appendString(o, args)
	t.out = append(o, `}}]}`...)
	t.end("")
}

func (t *translator) finish(stop string) {
	t.finished = true
	reason := finishReason(stop)
	if t.text && reason == "tool_calls" {
		reason = "stop"
	}
	o := t.choice()
	if t.text {
		t.out = append(o, `""`...)
	} else {
		t.out = append(o, `{}`...)
	}
	t.end(reason)
}

func (t *translator) usageChunk() {
	o := append(t.out, t.head...)
	o = append(o, `],"usage":`...)
	o = appendUsage(o, t.usage.Usage())
	t.out = append(o, '}')
	t.ends = append(t.ends, len(t.out))
}
