package messages

import (
	"strings"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
)

// Kinds of content block.
const (
	kindNone uint8 = iota
	kindText
	kindThinking
	kindTool
)

// StreamEncoder turns a chat.completion.chunk stream into Messages events:
// message_start and ping first, then content blocks (text, thinking, tool_use) with
// their start, deltas and stop, and message_delta plus message_stop at the end. A new
// block starts whenever the kind of content changes or a new tool call appears; one
// block is open at a time, as Anthropic streams them.
//
// It holds no reference to a chunk after Chunk returns, and reuses nothing but its own
// small state, so a text delta costs no allocation.
type StreamEncoder struct {
	model    string
	started  bool
	finished bool
	open     uint8 // kind of the open block, kindNone when none is open
	index    int   // index of the open block
	next     int   // index the next block gets
	tools    []toolBlock
	finish   string // the chunk finish_reason, as a constant
	usage    provider.Usage
}

// toolBlock ties a chat tool call (index and id) to its content block.
type toolBlock struct {
	call, block int
	id          string
}

// NewStreamEncoder returns an encoder that reports model (the client's) in message_start.
func NewStreamEncoder(model string) *StreamEncoder { return &StreamEncoder{model: model} }

// Chunk appends the events for one chat.completion.chunk payload. The first call also
// emits message_start (with the chunk's id) and a ping. Usage-only chunks record usage;
// chunks after Finish or Fail are ignored.
func (e *StreamEncoder) Chunk(dst, chunk []byte) []byte {
	if e.finished {
		return dst
	}
	js := view(chunk)
	// One pass over the top level and one over the delta: a chunk is mostly
	// bookkeeping fields (id, model, fingerprint, obfuscation) worth skipping once.
	var choice, usage gjson.Result
	gjson.Parse(js).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "choices":
			choice = v.Get("0")
		case "usage":
			usage = v
		}
		return true
	})
	if usage.IsObject() {
		e.recordUsage(usage)
	}
	if !e.started {
		// After the usage read: an upstream that reports usage on its first chunk
		// (vLLM's continuous usage stats, a translated Anthropic message_start) gives
		// message_start its real input tokens.
		dst = e.start(dst, gjson.Get(js, "id").Str)
	}
	if !choice.IsObject() {
		return dst
	}
	var reasoning, content, refusal, calls, finish gjson.Result
	choice.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "delta":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "content":
					content = v
				case "reasoning_content", "reasoning":
					if v.Type == gjson.String {
						reasoning = v
					}
				case "refusal":
					refusal = v
				case "tool_calls":
					calls = v
				}
				return true
			})
		case "finish_reason":
			finish = v
		}
		return true
	})
	if reasoning.Type == gjson.String {
		dst = e.textDelta(dst, kindThinking, reasoning.Raw)
	}
	if content.Type == gjson.String {
		dst = e.textDelta(dst, kindText, content.Raw)
	}
	if refusal.Type == gjson.String {
		dst = e.textDelta(dst, kindText, refusal.Raw)
	}
	if calls.IsArray() {
		pos := 0
		calls.ForEach(func(_, tc gjson.Result) bool {
			dst = e.toolDelta(dst, tc, pos)
			pos++
			return true
		})
	}
	if finish.Type == gjson.String {
		e.finish = finishConst(finish.Str)
	}
	return dst
}

// finishConst keeps a finish reason without referencing the chunk's memory.
func finishConst(s string) string {
	for _, k := range [...]string{"stop", "length", "tool_calls", "function_call", "content_filter"} {
		if s == k {
			return k
		}
	}
	return "stop"
}

func (e *StreamEncoder) recordUsage(u gjson.Result) { e.usage = chatUsage(u) }

// chatUsage reads a chat usage object with the one chat reader (it includes the
// cache-write counts the gateway's providers report in prompt_tokens_details).
func chatUsage(u gjson.Result) provider.Usage { return usage.Chat(u) }

// start emits message_start and a ping. Chat usually reports usage only at the end,
// so input_tokens is 0 here unless the first chunk carried usage; the final counts
// come in message_delta, which Anthropic's SDKs take over message_start's.
func (e *StreamEncoder) start(dst []byte, chatID string) []byte {
	e.started = true
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	dst = jsonx.AppendString(dst, msgID(chatID))
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonx.AppendString(dst, e.model)
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	u := e.usage
	dst = jsonx.AppendInt(dst, int64(max(u.PromptTokens-u.CachedTokens-u.CacheWriteTokens, 0)))
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = jsonx.AppendInt(dst, int64(u.CacheWriteTokens))
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = jsonx.AppendInt(dst, int64(u.CachedTokens))
	dst = append(dst, `,"output_tokens":1}}}`+"\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n"...)
	return dst
}

// textDelta appends a text or thinking delta (raw is the JSON string token), opening a
// block of that kind first if another kind is open.
func (e *StreamEncoder) textDelta(dst []byte, kind uint8, raw string) []byte {
	if len(raw) <= 2 { // "" carries nothing, and an empty block is not worth opening
		return dst
	}
	if e.open != kind {
		dst = e.closeBlock(dst)
		if kind == kindText {
			dst = e.openBlock(dst, kind, `{"type":"text","text":""}`)
		} else {
			dst = e.openBlock(dst, kind, `{"type":"thinking","thinking":"","signature":""}`)
		}
	}
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	dst = jsonx.AppendInt(dst, int64(e.index))
	if kind == kindText {
		dst = append(dst, `,"delta":{"type":"text_delta","text":`...)
	} else {
		dst = append(dst, `,"delta":{"type":"thinking_delta","thinking":`...)
	}
	dst = jsonx.AppendRawString(dst, raw)
	return append(dst, "}}\n\n"...)
}

// toolDelta handles one tool_calls entry: a call index not seen before starts a
// tool_use block (with the call's id and name); argument fragments become
// input_json_delta events. pos is the entry's place in the array, the index used
// when a server leaves "index" out.
func (e *StreamEncoder) toolDelta(dst []byte, tc gjson.Result, pos int) []byte {
	call := pos
	if i := tc.Get("index"); i.Type == gjson.Number {
		call = int(i.Int())
	}
	id := tc.Get("id")
	hasID := id.Type == gjson.String && id.Str != ""
	block, slot := -1, -1
	for i, t := range e.tools {
		if t.call == call {
			block, slot = t.block, i
		}
	}
	// A known index with a different id is a new call: some servers number every
	// parallel call 0.
	if block >= 0 && hasID && e.tools[slot].id != id.Str {
		block = -1
	}
	if block < 0 {
		dst = e.closeBlock(dst)
		start := append([]byte(nil), `{"type":"tool_use","id":`...)
		ids := toolID()
		if hasID {
			ids = strings.Clone(id.Str) // kept past this chunk, whose memory is reused
		}
		start = jsonx.AppendString(start, ids)
		start = append(start, `,"name":`...)
		start = jsonx.AppendRawString(start, tc.Get("function.name").Raw)
		start = append(start, `,"input":{}}`...)
		dst = e.openBlock(dst, kindTool, string(start))
		block = e.index
		t := toolBlock{call: call, block: block, id: ids}
		if slot >= 0 {
			e.tools[slot] = t
		} else {
			e.tools = append(e.tools, t)
		}
	}
	// A fragment for a call whose block was closed (a server interleaving parallel
	// calls) still goes to that call's block: Anthropic's SDKs address deltas by index.
	if args := tc.Get("function.arguments"); args.Type == gjson.String && len(args.Raw) > 2 {
		dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
		dst = jsonx.AppendInt(dst, int64(block))
		dst = append(dst, `,"delta":{"type":"input_json_delta","partial_json":`...)
		dst = jsonx.AppendRawString(dst, args.Raw)
		dst = append(dst, "}}\n\n"...)
	}
	return dst
}

func (e *StreamEncoder) openBlock(dst []byte, kind uint8, block string) []byte {
	e.open, e.index = kind, e.next
	e.next++
	dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	dst = jsonx.AppendInt(dst, int64(e.index))
	dst = append(dst, `,"content_block":`...)
	dst = append(dst, block...)
	return append(dst, "}\n\n"...)
}

func (e *StreamEncoder) closeBlock(dst []byte) []byte {
	if e.open == kindNone {
		return dst
	}
	e.open = kindNone
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	dst = jsonx.AppendInt(dst, int64(e.index))
	return append(dst, "}\n\n"...)
}

// Finish appends the closing events: the open block's stop, message_delta with the
// stop reason and the usage, and message_stop. u is the gateway's final usage; when it
// is empty the usage the chunks reported is used.
func (e *StreamEncoder) Finish(dst []byte, u provider.Usage) []byte {
	if e.finished {
		return dst
	}
	if !e.started {
		dst = e.start(dst, "")
	}
	e.finished = true
	dst = e.closeBlock(dst)
	if u == (provider.Usage{}) {
		u = e.usage
	}
	dst = append(dst, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	dst = append(dst, stopReason(e.finish, len(e.tools) > 0)...)
	dst = append(dst, `","stop_sequence":null},"usage":`...)
	dst = appendUsage(dst, u)
	return append(dst, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

// Fail appends Anthropic's mid-stream error event. Nothing follows it: Anthropic's SDKs
// end the stream with the error. It is a valid stream even as the first event.
func (e *StreamEncoder) Fail(dst []byte, err *apierr.Error) []byte {
	if e.finished {
		return dst
	}
	e.finished = true
	dst = append(dst, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"...)
	dst = jsonx.AppendString(dst, ErrorType(err))
	dst = append(dst, `,"message":`...)
	dst = jsonx.AppendString(dst, errorMessage(err))
	return append(dst, "}}\n\n"...)
}
