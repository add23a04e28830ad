package reqlog

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// DefaultMaxCapture is the body capture cap when none is configured (log.max_body_capture).
const DefaultMaxCapture = 65536

// Cap returns b as a string of at most max bytes, cut on a UTF-8 boundary, with
// "…[truncated N bytes]" appended when anything was cut. max <= 0 means no limit.
func Cap(b []byte, max int) string {
	if max <= 0 || len(b) <= max {
		return string(b)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + fmt.Sprintf("…[truncated %d bytes]", len(b)-cut)
}

// TextCapture rebuilds the readable answer of a streamed response from its chunks, so
// the request log keeps "Hello world" rather than hundreds of SSE events, and token
// estimates have the answer's text to count. Chunks are OpenAI chat.completion.chunk or
// text_completion JSON, with or without the "data: " prefix; "[DONE]" and anything
// without an answer in it are skipped. Other dialects hand their text to AddText. Tool
// calls are rendered as "[tool_call name(args)]" after the text, and an in-stream error
// as "[error: message]". The zero value is ready to use and caps at DefaultMaxCapture;
// it is not safe for concurrent use.
//
// Add runs once per relayed event, so it looks at a chunk through cheap substring
// checks first and only asks gjson for the fields a chunk can contain.
type TextCapture struct {
	Max int // byte cap on the captured text; 0 = DefaultMaxCapture

	text      []byte
	tools     []*toolCall
	size      int // bytes kept: text plus tool names and arguments
	truncated int // bytes not kept
	errMsg    string
}

type toolCall struct {
	index int
	name  string
	args  []byte
}

// NewTextCapture returns a capture capped at max bytes (<= 0: DefaultMaxCapture).
func NewTextCapture(max int) *TextCapture { return &TextCapture{Max: max} }

func (c *TextCapture) max() int {
	if c.Max <= 0 {
		return DefaultMaxCapture
	}
	return c.Max
}

// Add takes one chunk: an SSE data payload, a "data: ..." line, or several lines of them.
func (c *TextCapture) Add(chunk []byte) {
	chunk = bytes.TrimSpace(chunk)
	if bytes.IndexByte(chunk, '\n') >= 0 {
		for line := range bytes.SplitSeq(chunk, []byte("\n")) {
			c.Add(line)
		}
		return
	}
	if after, ok := bytes.CutPrefix(chunk, []byte("data:")); ok {
		chunk = bytes.TrimSpace(after)
	}
	if len(chunk) == 0 || chunk[0] != '{' {
		return // [DONE], SSE comments, event: lines, garbage
	}
	// A string view of the chunk, not a copy: gjson then returns substrings of it (no
	// allocation). Whatever outlives this call is copied below.
	js := unsafe.String(unsafe.SliceData(chunk), len(chunk))
	keys := scanKeys(chunk)
	// Nearly every chunk is text and nothing else: take it by the short walk when
	// nothing else (an error, a tool call) can be in it.
	if keys&(keyError|keyToolCalls) == 0 {
		if t, ok := chatContent(chunk); ok {
			c.AddText(t)
			return
		}
	}
	if keys&keyError != 0 {
		if e := gjson.Get(js, "error"); e.Exists() {
			msg := e.Get("message").String()
			if msg == "" {
				msg = e.String()
			}
			c.errMsg = strings.Clone(msg)
			return
		}
	}
	switch {
	case keys&keyContent != 0:
		if t := gjson.Get(js, "choices.0.delta.content"); t.Type == gjson.String {
			c.AddText(t.String())
		}
	case keys&keyText != 0:
		if t := gjson.Get(js, "choices.0.text"); t.Type == gjson.String {
			c.AddText(t.String())
		}
	}
	if keys&keyToolCalls == 0 {
		return
	}
	gjson.Get(js, "choices.0.delta.tool_calls").ForEach(func(_, tc gjson.Result) bool {
		call := c.tool(int(tc.Get("index").Int()))
		if name := tc.Get("function.name").String(); name != "" && call.name == "" {
			if c.keep(len(name)) {
				call.name = strings.Clone(name)
			}
		}
		if a := tc.Get("function.arguments").String(); a != "" && c.keep(len(a)) {
			call.args = append(call.args, a...)
		}
		return true
	})
}

// The keys Add looks for, as scanKeys reports them.
const (
	keyError     = 1 << iota // "error":
	keyContent               // "content":"
	keyText                  // "text":"
	keyToolCalls             // "tool_calls":
)

// scanKeys reports which of Add's keys a chunk holds, in one pass over its colons
// instead of one substring search per key: every match of `"error":`, `"content":"`,
// `"text":"` or `"tool_calls":` has a colon at a fixed place, so looking around each
// colon finds exactly what the four searches would.
func scanKeys(b []byte) int {
	keys := 0
	for i := bytes.IndexByte(b, ':'); i >= 0; {
		before := b[:i]
		quoteAfter := i+1 < len(b) && b[i+1] == '"'
		// Constant comparisons, not bytes.HasSuffix: they compile to a few loads,
		// where HasSuffix calls memequal for each of the ~15 colons of a chunk.
		n := len(before)
		switch {
		case n < 6 || before[n-1] != '"':
		case n >= 7 && string(before[n-7:]) == `"error"`:
			keys |= keyError
		case quoteAfter && n >= 9 && string(before[n-9:]) == `"content"`:
			keys |= keyContent
		case quoteAfter && string(before[n-6:]) == `"text"`:
			keys |= keyText
		case n >= 12 && string(before[n-12:]) == `"tool_calls"`:
			keys |= keyToolCalls
		}
		j := bytes.IndexByte(b[i+1:], ':')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return keys
}

func (c *TextCapture) tool(idx int) *toolCall {
	for _, t := range c.tools {
		if t.index == idx {
			return t
		}
	}
	t := &toolCall{index: idx}
	c.tools = append(c.tools, t)
	return t
}

// keep reports whether n more bytes fit, counting them as kept or truncated. Fragments
// are kept whole or not at all, except text, which AddText cuts on a rune boundary.
func (c *TextCapture) keep(n int) bool {
	if c.size+n > c.max() {
		c.truncated += n
		return false
	}
	c.size += n
	return true
}

// AddText appends a piece of answer text already taken out of its event (the gateway's
// Messages and Responses streams), cut on a rune boundary at the cap.
func (c *TextCapture) AddText(s string) {
	if c.text == nil && s != "" {
		// One buffer sized for a typical answer, rather than append's doubling from
		// 8 bytes (six or seven allocations before the first 512 bytes).
		c.text = make([]byte, 0, min(max(len(s), 512), c.max()))
	}
	room := c.max() - c.size
	if len(s) <= room {
		c.text = append(c.text, s...)
		c.size += len(s)
		return
	}
	cut := max(room, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	c.text = append(c.text, s[:cut]...)
	c.size += cut
	c.truncated += len(s) - cut
}

// ToolCalls returns the tool calls seen so far, each rendered "[tool_call name(args)]".
func (c *TextCapture) ToolCalls() []string {
	out := make([]string, 0, len(c.tools))
	for _, t := range c.tools {
		out = append(out, fmt.Sprintf("[tool_call %s(%s)]", t.name, t.args))
	}
	return out
}

// Err returns the message of an in-stream error event, if one was seen.
func (c *TextCapture) Err() string { return c.errMsg }

// String is the captured text, then tool calls, then an in-stream error, then a
// truncation note when the cap was reached.
func (c *TextCapture) String() string {
	if len(c.tools) == 0 && c.errMsg == "" && c.truncated == 0 {
		return string(c.text)
	}
	var b strings.Builder
	b.Write(c.text)
	for _, tc := range c.ToolCalls() {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(tc)
	}
	if c.errMsg != "" {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[error: %s]", c.errMsg)
	}
	if c.truncated > 0 {
		fmt.Fprintf(&b, "…[truncated %d bytes]", c.truncated)
	}
	return b.String()
}
