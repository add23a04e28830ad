package mock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
)

func (p *Provider) answer(ctx context.Context, call *provider.Call, k knobs, a answer) (*provider.Response, error) {
	usage := provider.Usage{PromptTokens: p.o.Tokens(a.prompt), CompletionTokens: p.o.Tokens(a.text), Reported: true}
	if a.toolName != "" {
		usage.CompletionTokens = p.o.Tokens(a.toolName + " " + a.toolArgs)
	}
	id := responseID(call)
	created := time.Now().Unix()
	if !call.Stream {
		var b []byte
		if call.Endpoint == provider.Completions {
			b = completionJSON(id, created, call.ClientModel, a.text, usage)
		} else {
			b = chatJSON(id, created, call.ClientModel, a, usage)
		}
		return &provider.Response{Body: b, Usage: usage}, nil
	}
	pieces := words(a.text, k.chunks)
	return &provider.Response{Stream: &stream{name: p.o.Name, ctx: ctx, call: call, k: k, a: a, id: id, created: created,
		pieces: pieces, usage: usage, stop: make(chan struct{})}}, nil
}

// responseID is stable for the same request body, so replays are comparable.
func responseID(call *provider.Call) string {
	sum := sha256.Sum256(call.Body)
	prefix := "chatcmpl-mock"
	if call.Endpoint == provider.Completions {
		prefix = "cmpl-mock"
	}
	return prefix + hex.EncodeToString(sum[:8])
}

// words splits text into stream pieces, each word with its leading space; n > 0 forces
// exactly n pieces by cycling the words.
func words(text string, n int) []string {
	if n <= 0 && len(text) > MaxChunks*8 {
		return slices(text, MaxChunks)
	}
	fs := strings.Fields(text)
	if len(fs) == 0 {
		fs = []string{""}
	}
	if n <= 0 {
		n = len(fs)
	}
	out := make([]string, n)
	for i := range out {
		w := fs[i%len(fs)]
		if i > 0 {
			w = " " + w
		}
		out[i] = w
	}
	return out
}

// slices cuts a long text into at most n pieces at rune boundaries, without one
// string per word: a 10 MB prompt echoed back must not cost millions of pieces.
func slices(text string, n int) []string {
	size := (len(text) + n - 1) / n
	out := make([]string, 0, n)
	for len(text) > 0 {
		end := min(size, len(text))
		for end < len(text) && !utf8.RuneStart(text[end]) {
			end++
		}
		out = append(out, text[:end])
		text = text[end:]
	}
	return out
}

func appendUsage(b []byte, u provider.Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = jsonx.AppendInt(b, int64(u.PromptTokens))
	b = append(b, `,"completion_tokens":`...)
	b = jsonx.AppendInt(b, int64(u.CompletionTokens))
	b = append(b, `,"total_tokens":`...)
	b = jsonx.AppendInt(b, int64(u.Total()))
	return append(b, `,"prompt_tokens_details":{"cached_tokens":0}}`...)
}

func appendHead(b []byte, id, object string, created int64, model string) []byte {
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, id)
	b = append(b, `,"object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = jsonx.AppendInt(b, created)
	b = append(b, `,"model":`...)
	return jsonx.AppendString(b, model)
}

func appendToolCall(b []byte, a answer, withIndex bool) []byte {
	b = append(b, `[{`...)
	if withIndex {
		b = append(b, `"index":0,`...)
	}
	b = append(b, `"id":`...)
	b = jsonx.AppendString(b, a.toolID)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = jsonx.AppendString(b, a.toolName)
	b = append(b, `,"arguments":`...)
	b = jsonx.AppendString(b, a.toolArgs)
	return append(b, `}}]`...)
}

func chatJSON(id string, created int64, model string, a answer, u provider.Usage) []byte {
	b := appendHead(make([]byte, 0, 256+len(a.text)), id, "chat.completion", created, model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	finish := "stop"
	if a.toolName != "" {
		b = append(b, `null,"tool_calls":`...)
		b = appendToolCall(b, a, false)
		finish = "tool_calls"
	} else {
		b = jsonx.AppendString(b, a.text)
	}
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"`...)
	b = append(b, finish...)
	b = append(b, `"}],"usage":`...)
	b = appendUsage(b, u)
	return append(b, `,"system_fingerprint":null}`...)
}

func completionJSON(id string, created int64, model, text string, u provider.Usage) []byte {
	b := appendHead(make([]byte, 0, 256+len(text)), id, "text_completion", created, model)
	b = append(b, `,"choices":[{"text":`...)
	b = jsonx.AppendString(b, text)
	b = append(b, `,"index":0,"logprobs":null,"finish_reason":"stop"}],"usage":`...)
	b = appendUsage(b, u)
	return append(b, '}')
}

// stream emits the answer word by word.
type stream struct {
	name    string
	ctx     context.Context
	call    *provider.Call
	k       knobs
	a       answer
	id      string
	created int64
	pieces  []string
	usage   provider.Usage
	step    int // 0 = role chunk, then pieces, then finish, then usage
	sent    int // content chunks sent
	buf     []byte
	timer   *time.Timer
	closed  atomic.Bool   // Close may run on another goroutine (the idle watchdog)
	stop    chan struct{} // closed by Close: ends a paced wait at once
	once    sync.Once
}

// Next implements provider.Stream.
func (s *stream) Next() ([]byte, error) {
	if s.closed.Load() {
		return nil, io.ErrClosedPipe
	}
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	chat := s.call.Endpoint == provider.Chat
	n := len(s.pieces)
	if s.a.toolName != "" {
		n = 1
	}
	i := s.step
	s.step++
	switch {
	case i == 0 && chat:
		return s.chunk(`{"role":"assistant","content":""}`, "", false), nil
	case i == 0:
		s.step++ // completions have no role chunk
		i++
		fallthrough
	case i <= n:
		if s.k.cutAfter > 0 && s.sent >= s.k.cutAfter {
			e := apierr.Unreachable(s.name, io.ErrUnexpectedEOF)
			e.Cause = provider.ErrRehearsal
			return nil, e
		}
		if err := s.pace(); err != nil {
			return nil, err
		}
		s.sent++
		if s.a.toolName != "" {
			return s.toolChunk(), nil
		}
		return s.chunk("", s.pieces[i-1], false), nil
	case i == n+1:
		finish := "stop"
		if s.a.toolName != "" {
			finish = "tool_calls"
		}
		return s.chunk("", finish, true), nil
	case i == n+2 && s.call.IncludeUsage:
		b := appendHead(s.buf[:0], s.id, s.object(), s.created, s.call.ClientModel)
		b = append(b, `,"choices":[],"usage":`...)
		b = appendUsage(b, s.usage)
		s.buf = append(b, '}')
		return s.buf, nil
	}
	return nil, io.EOF
}

func (s *stream) object() string {
	if s.call.Endpoint == provider.Completions {
		return "text_completion"
	}
	return "chat.completion.chunk"
}

func (s *stream) pace() error {
	if s.k.chunkDelay <= 0 || s.sent == 0 {
		return nil
	}
	if s.timer == nil {
		s.timer = time.NewTimer(s.k.chunkDelay)
	} else {
		s.timer.Reset(s.k.chunkDelay)
	}
	select {
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-s.stop:
		return io.ErrClosedPipe
	case <-s.timer.C:
		return nil
	}
}

// chunk builds a content chunk (rawDelta set: that delta; else text), or the finish
// chunk when finish is true (text then holds the finish reason).
func (s *stream) chunk(rawDelta, text string, finish bool) []byte {
	b := appendHead(s.buf[:0], s.id, s.object(), s.created, s.call.ClientModel)
	if s.call.Endpoint == provider.Completions {
		b = append(b, `,"choices":[{"text":`...)
		if finish {
			b = append(b, `"","index":0,"logprobs":null,"finish_reason":"`...)
			b = append(b, text...)
			b = append(b, `"}]`...)
		} else {
			b = jsonx.AppendString(b, text)
			b = append(b, `,"index":0,"logprobs":null,"finish_reason":null}]`...)
		}
	} else {
		b = append(b, `,"choices":[{"index":0,"delta":`...)
		switch {
		case finish:
			b = append(b, `{},"logprobs":null,"finish_reason":"`...)
			b = append(b, text...)
			b = append(b, `"}]`...)
		case rawDelta != "":
			b = append(b, rawDelta...)
			b = append(b, `,"logprobs":null,"finish_reason":null}]`...)
		default:
			b = append(b, `{"content":`...)
			b = jsonx.AppendString(b, text)
			b = append(b, `},"logprobs":null,"finish_reason":null}]`...)
		}
	}
	if s.call.IncludeUsage {
		b = append(b, `,"usage":null`...)
	}
	s.buf = append(b, '}')
	return s.buf
}

func (s *stream) toolChunk() []byte {
	b := appendHead(s.buf[:0], s.id, s.object(), s.created, s.call.ClientModel)
	b = append(b, `,"choices":[{"index":0,"delta":{"tool_calls":`...)
	b = appendToolCall(b, s.a, true)
	b = append(b, `},"logprobs":null,"finish_reason":null}]`...)
	if s.call.IncludeUsage {
		b = append(b, `,"usage":null`...)
	}
	s.buf = append(b, '}')
	return s.buf
}

// Usage implements provider.Stream.
func (s *stream) Usage() provider.Usage {
	u := s.usage
	if s.sent < len(s.pieces) && s.a.toolName == "" {
		// Cut short: count only what was streamed.
		u.CompletionTokens = s.sent
	}
	return u
}

// Close implements provider.Stream.
func (s *stream) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
	})
	return nil
}
