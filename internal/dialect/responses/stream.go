package responses

import (
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
)

// Open item kinds.
const (
	kindNone = iota
	kindMessage
	kindReasoning
)

// toolItem is one function_call or custom_tool_call item being streamed.
type toolItem struct {
	chatIndex int64 // the chat tool_calls index it came from
	outIndex  int
	id        string
	callID    string
	name      string
	custom    bool
	args      []byte // escaped JSON string contents
}

// StreamEncoder turns a chat.completion.chunk stream into Responses API server-sent
// events ("event: NAME\ndata: JSON\n\n", every event with its sequence_number), in the
// order api.openai.com sends them: response.created, response.in_progress, then per
// output item output_item.added, its part/delta/done events and output_item.done,
// and last response.completed (response.incomplete when the answer was cut short,
// response.failed after Fail). It is not safe for concurrent use.
type StreamEncoder struct {
	req     *Request
	model   string
	core    string
	id      string
	created int64
	seq     int64

	opened, finished bool

	items  []byte // finished output items, comma-separated
	nItems int    // output_index of the next item

	kind     int
	curIndex int
	curID    string
	text     []byte // current message/reasoning text, escaped
	tools    []toolItem
	finish   string
	usage    provider.Usage
	final    []byte
	scratch  []byte
}

// NewStreamEncoder returns an encoder with no request known (see
// Request.NewStreamEncoder).
func NewStreamEncoder(model string) *StreamEncoder {
	return (*Request)(nil).NewStreamEncoder(model)
}

// NewStreamEncoder returns an encoder reporting model, echoing r's fields and mapping
// calls of r's custom tools to custom_tool_call items.
func (r *Request) NewStreamEncoder(model string) *StreamEncoder {
	core := newIDCore()
	return &StreamEncoder{req: r, model: model, core: core, id: "resp_" + core, created: time.Now().Unix(),
		text: make([]byte, 0, 1024), scratch: make([]byte, 0, 1024)}
}

// ID is the response id ("resp_…") the stream announces.
func (e *StreamEncoder) ID() string { return e.id }

// Response is the final response object as sent in the terminal event
// (response.completed, response.incomplete or response.failed); nil before Finish or
// Fail. The gateway stores it for GET /v1/responses/{id} and previous_response_id.
func (e *StreamEncoder) Response() []byte { return e.final }

// begin starts one event frame: the event line and the data object up to and
// including its sequence_number.
func (e *StreamEncoder) begin(dst []byte, name string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, name...)
	dst = append(dst, `","sequence_number":`...)
	dst = strconv.AppendInt(dst, e.seq, 10)
	e.seq++
	return dst
}

func end(dst []byte) []byte { return append(dst, "}\n\n"...) }

// itemRef appends `,"item_id":ID,"output_index":N`.
func itemRef(dst []byte, id string, index int) []byte {
	dst = append(dst, `,"item_id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"output_index":`...)
	return strconv.AppendInt(dst, int64(index), 10)
}

func (e *StreamEncoder) open(dst []byte) []byte {
	if e.opened {
		return dst
	}
	e.opened = true
	o := object{id: e.id, created: e.created, status: "in_progress", model: e.model}
	for _, name := range [...]string{"response.created", "response.in_progress"} {
		dst = e.begin(dst, name)
		dst = append(dst, `,"response":`...)
		dst = appendResponse(dst, e.req, &o, nil, nil)
		dst = end(dst)
	}
	return dst
}

// Chunk appends the events for one chat.completion.chunk payload. The first call also
// emits response.created and response.in_progress. Malformed chunks are skipped.
func (e *StreamEncoder) Chunk(dst, chunk []byte) []byte {
	if e.finished {
		return dst
	}
	dst = e.open(dst)
	// A string view, not a copy: everything read from it is written to dst (or
	// copied into e's buffers) before the caller reuses chunk.
	js := unsafe.String(unsafe.SliceData(chunk), len(chunk))
	ch := firstChoice(js)
	if !ch.Exists() {
		if u := gjson.Get(js, "usage"); u.IsObject() {
			e.usage = chatUsage(u)
		}
		return dst
	}
	delta := ch.Get("delta")
	if lit, ok := contentOnly(delta.Raw); ok {
		// The common case, {"content":"..."}, without gjson's unescaping copy.
		dst = e.textDelta(dst, kindMessage, lit)
	} else if delta.IsObject() {
		dst = e.delta(dst, delta)
	}
	if f := ch.Get("finish_reason"); f.Type == gjson.String {
		e.finish = strings.Clone(f.Str)
		// Some servers put usage on the last choice chunk instead of a chunk of its own.
		if u := gjson.Get(js, "usage"); u.IsObject() {
			e.usage = chatUsage(u)
		}
	}
	return dst
}

// firstChoice returns choices[0] of a chunk. It jumps to the "choices" key when it
// can find it (a key, since inside strings the quotes would be escaped) instead of
// letting gjson walk the id/model/fingerprint fields first: most of a delta's cost.
func firstChoice(js string) gjson.Result {
	const key = `"choices":[`
	if i := strings.Index(js, key); i >= 0 {
		return gjson.Get(js[i+len(key)-1:], "0")
	}
	return gjson.Get(js, "choices.0")
}

// chatUsage reads a chat usage object with the one chat reader.
func chatUsage(u gjson.Result) provider.Usage { return usage.Chat(u) }

// delta handles a delta other than plain content: reasoning, content, refusal and
// tool calls, in that order.
func (e *StreamEncoder) delta(dst []byte, delta gjson.Result) []byte {
	if r := delta.Get("reasoning_content"); r.Type == gjson.String && r.Str != "" {
		dst = e.textDelta(dst, kindReasoning, r.Raw)
	}
	if c := delta.Get("content"); c.Type == gjson.String && c.Str != "" {
		dst = e.textDelta(dst, kindMessage, c.Raw)
	}
	if c := delta.Get("refusal"); c.Type == gjson.String && c.Str != "" {
		dst = e.textDelta(dst, kindMessage, c.Raw)
	}
	delta.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		dst = e.toolDelta(dst, tc)
		return true
	})
	return dst
}

// textDelta appends a message or reasoning text delta; lit is the JSON string
// literal as the upstream sent it (quotes included).
func (e *StreamEncoder) textDelta(dst []byte, kind int, lit string) []byte {
	if len(lit) <= 2 {
		return dst // empty string (the role-only first chunk)
	}
	if e.req.compacting() {
		// The summary is sent whole in the compaction item at Finish.
		if kind == kindMessage {
			start := len(e.scratch)
			e.scratch = jsonx.AppendRawString(e.scratch, lit)
			e.text = append(e.text, e.scratch[start+1:len(e.scratch)-1]...)
			e.scratch = e.scratch[:start]
		}
		return dst
	}
	if e.kind != kind {
		dst = e.closeText(dst)
		dst = e.closeTools(dst)
		dst = e.openText(dst, kind)
	}
	if kind == kindMessage {
		dst = e.begin(dst, "response.output_text.delta")
		dst = itemRef(dst, e.curID, e.curIndex)
		dst = append(dst, `,"content_index":0,"delta":`...)
	} else {
		dst = e.begin(dst, "response.reasoning_summary_text.delta")
		dst = itemRef(dst, e.curID, e.curIndex)
		dst = append(dst, `,"summary_index":0,"delta":`...)
	}
	start := len(dst)
	dst = jsonx.AppendRawString(dst, lit)
	e.text = append(e.text, dst[start+1:len(dst)-1]...)
	if kind == kindMessage {
		dst = append(dst, `,"logprobs":[]`...)
	}
	return end(dst)
}

func (e *StreamEncoder) openText(dst []byte, kind int) []byte {
	e.kind, e.curIndex = kind, e.nItems
	e.nItems++
	e.text = e.text[:0]
	dst = e.begin(dst, "response.output_item.added")
	dst = append(dst, `,"output_index":`...)
	dst = strconv.AppendInt(dst, int64(e.curIndex), 10)
	dst = append(dst, `,"item":`...)
	if kind == kindMessage {
		e.curID = itemID("msg_", e.core, e.curIndex)
		dst = appendMessageItem(dst, e.curID, "in_progress", nil, false)
		dst = end(dst)
		dst = e.begin(dst, "response.content_part.added")
		dst = itemRef(dst, e.curID, e.curIndex)
		dst = append(dst, `,"content_index":0,"part":`...)
		dst = appendTextPart(dst, nil, false)
		return end(dst)
	}
	e.curID = itemID("rs_", e.core, e.curIndex)
	dst = appendReasoningItem(dst, e.curID, nil, false)
	dst = end(dst)
	dst = e.begin(dst, "response.reasoning_summary_part.added")
	dst = itemRef(dst, e.curID, e.curIndex)
	dst = append(dst, `,"summary_index":0,"part":`...)
	dst = appendSummaryPart(dst, nil)
	return end(dst)
}

// closeText ends the open message or reasoning item, if any.
func (e *StreamEncoder) closeText(dst []byte) []byte {
	switch e.kind {
	case kindMessage:
		dst = e.begin(dst, "response.output_text.done")
		dst = itemRef(dst, e.curID, e.curIndex)
		dst = append(dst, `,"content_index":0,"text":"`...)
		dst = append(dst, e.text...)
		dst = append(dst, `","logprobs":[]`...)
		dst = end(dst)
		dst = e.begin(dst, "response.content_part.done")
		dst = itemRef(dst, e.curID, e.curIndex)
		dst = append(dst, `,"content_index":0,"part":`...)
		dst = appendTextPart(dst, e.text, false)
		dst = end(dst)
		dst = e.itemDone(dst, appendMessageItem(e.scratch[:0], e.curID, "completed", e.text, false), e.curIndex)
	case kindReasoning:
		dst = e.begin(dst, "response.reasoning_summary_text.done")
		dst = itemRef(dst, e.curID, e.curIndex)
		dst = append(dst, `,"summary_index":0,"text":"`...)
		dst = append(dst, e.text...)
		dst = append(dst, '"')
		dst = end(dst)
		dst = e.begin(dst, "response.reasoning_summary_part.done")
		dst = itemRef(dst, e.curID, e.curIndex)
		dst = append(dst, `,"summary_index":0,"part":`...)
		dst = appendSummaryPart(dst, e.text)
		dst = end(dst)
		dst = e.itemDone(dst, appendReasoningItem(e.scratch[:0], e.curID, e.text, true), e.curIndex)
	default:
		return dst
	}
	e.kind = kindNone
	return dst
}

// itemDone emits response.output_item.done for the finished item at output index
// index and keeps it for the final response. item is e.scratch's storage.
func (e *StreamEncoder) itemDone(dst, item []byte, index int) []byte {
	e.scratch = item[:0]
	dst = e.begin(dst, "response.output_item.done")
	dst = append(dst, `,"output_index":`...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, `,"item":`...)
	dst = append(dst, item...)
	if len(e.items) > 0 {
		e.items = append(e.items, ',')
	}
	e.items = append(e.items, item...)
	return end(dst)
}

func (e *StreamEncoder) toolDelta(dst []byte, tc gjson.Result) []byte {
	idx := tc.Get("index").Int()
	var t *toolItem
	for i := range e.tools {
		if e.tools[i].chatIndex == idx {
			t = &e.tools[i]
			break
		}
	}
	if t == nil {
		dst = e.closeText(dst)
		// Copies: both are kept past this chunk, whose memory the caller reuses (a view
		// kept here showed later events' bytes under the same length: "read" → "_tok").
		name := strings.Clone(tc.Get("function.name").Str)
		callID := strings.Clone(tc.Get("id").Str)
		if callID == "" {
			callID = "call_" + e.core + strconv.Itoa(int(idx))
		}
		e.tools = append(e.tools, toolItem{chatIndex: idx, outIndex: e.nItems, callID: callID, name: name,
			custom: e.req.isCustom(name)})
		e.nItems++
		t = &e.tools[len(e.tools)-1]
		dst = e.begin(dst, "response.output_item.added")
		dst = append(dst, `,"output_index":`...)
		dst = strconv.AppendInt(dst, int64(t.outIndex), 10)
		dst = append(dst, `,"item":`...)
		if t.custom {
			t.id = itemID("ctc_", e.core, t.outIndex)
			dst = appendCustomCallItem(dst, t.id, "in_progress", t.callID, t.name, nil)
		} else {
			t.id = itemID("fc_", e.core, t.outIndex)
			dst = appendFunctionCallItem(dst, t.id, "in_progress", t.callID, t.name, nil)
		}
		dst = end(dst)
	}
	args := tc.Get("function.arguments")
	if args.Type != gjson.String || args.Str == "" {
		return dst
	}
	if t.custom {
		// The freeform input is inside {"input": ...}: it is sent whole at the end.
		t.args = append(t.args, escaped(args.Str)...)
		return dst
	}
	dst = e.begin(dst, "response.function_call_arguments.delta")
	dst = itemRef(dst, t.id, t.outIndex)
	dst = append(dst, `,"delta":`...)
	start := len(dst)
	dst = jsonx.AppendRawString(dst, args.Raw)
	t.args = append(t.args, dst[start+1:len(dst)-1]...)
	return end(dst)
}

// closeTools ends every open tool item, in output order.
func (e *StreamEncoder) closeTools(dst []byte) []byte {
	for i := range e.tools {
		t := &e.tools[i]
		if t.custom {
			input := escaped(customInput(unescape(t.args)))
			dst = e.begin(dst, "response.custom_tool_call_input.delta")
			dst = itemRef(dst, t.id, t.outIndex)
			dst = append(dst, `,"delta":"`...)
			dst = append(dst, input...)
			dst = append(dst, '"')
			dst = end(dst)
			dst = e.begin(dst, "response.custom_tool_call_input.done")
			dst = itemRef(dst, t.id, t.outIndex)
			dst = append(dst, `,"input":"`...)
			dst = append(dst, input...)
			dst = append(dst, '"')
			dst = end(dst)
			dst = e.itemDone(dst, appendCustomCallItem(e.scratch[:0], t.id, "completed", t.callID, t.name, input), t.outIndex)
			continue
		}
		dst = e.begin(dst, "response.function_call_arguments.done")
		dst = itemRef(dst, t.id, t.outIndex)
		dst = append(dst, `,"arguments":"`...)
		dst = append(dst, t.args...)
		dst = append(dst, '"')
		dst = end(dst)
		dst = e.itemDone(dst, appendFunctionCallItem(e.scratch[:0], t.id, "completed", t.callID, t.name, t.args), t.outIndex)
	}
	e.tools = e.tools[:0]
	return dst
}

// unescape turns escaped JSON string contents back into the string.
func unescape(b []byte) string {
	lit := make([]byte, 0, len(b)+2)
	lit = append(lit, '"')
	lit = append(lit, b...)
	lit = append(lit, '"')
	return gjson.ParseBytes(lit).Str
}

// Finish appends the closing events after the upstream's clean end: the open items'
// done events and response.completed (response.incomplete when the finish reason was
// length or content_filter) carrying usage u. It emits the opening events too when
// Chunk was never called.
func (e *StreamEncoder) Finish(dst []byte, u provider.Usage) []byte {
	if e.finished {
		return dst
	}
	dst = e.open(dst)
	if e.req.compacting() {
		dst = e.compactionItem(dst)
	}
	dst = e.closeText(dst)
	dst = e.closeTools(dst)
	e.finished = true
	if u == (provider.Usage{}) {
		u = e.usage
	}
	o := object{id: e.id, created: e.created, model: e.model}
	o.status, o.incomplete = statusFor(e.finish)
	name := "response.completed"
	if o.status == "incomplete" {
		name = "response.incomplete"
	} else {
		o.completed = time.Now().Unix()
	}
	e.final = appendResponse(make([]byte, 0, 512+len(e.items)), e.req, &o, e.items, &u)
	dst = e.begin(dst, name)
	dst = append(dst, `,"response":`...)
	dst = append(dst, e.final...)
	return end(dst)
}

// Fail appends response.failed for err: the response so far with status "failed"
// and error {code, message}. Items still open are left out. It emits the opening
// events first when nothing was sent yet.
func (e *StreamEncoder) Fail(dst []byte, err *apierr.Error) []byte {
	if e.finished {
		return dst
	}
	dst = e.open(dst)
	e.finished = true
	o := object{id: e.id, created: e.created, status: "failed", model: e.model, errJSON: appendErrorObject(nil, err)}
	e.final = appendResponse(make([]byte, 0, 512+len(e.items)), e.req, &o, e.items, nil)
	dst = e.begin(dst, "response.failed")
	dst = append(dst, `,"response":`...)
	dst = append(dst, e.final...)
	return end(dst)
}

// appendErrorObject appends a failed response's error: {code, message}, the code being
// the gateway error's code, else its type.
func appendErrorObject(dst []byte, err *apierr.Error) []byte {
	code := err.Code
	if code == "" {
		code = err.Type
	}
	if code == "" {
		code = apierr.TypeServer
	}
	dst = append(dst, `{"code":`...)
	dst = jsonx.AppendString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = jsonx.AppendString(dst, err.Message)
	return append(dst, '}')
}

// contentOnly recognises a delta that is exactly {"content":"..."} (OpenAI's and the
// mock's shape for a text token) and returns the string literal.
func contentOnly(raw string) (string, bool) {
	const head = `{"content":"`
	if len(raw) < len(head)+2 || raw[:len(head)] != head || raw[len(raw)-2:] != `"}` {
		return "", false
	}
	lit := raw[len(head)-1 : len(raw)-1]
	// The literal must end exactly at the last quote: no unescaped quote inside.
	for i := 1; i < len(lit)-1; i++ {
		switch lit[i] {
		case '\\':
			i++
		case '"':
			return "", false
		}
	}
	if len(lit) < 2 || lit[len(lit)-1] != '"' || escapedQuoteAtEnd(lit) {
		return "", false
	}
	return lit, true
}

// escapedQuoteAtEnd reports whether the final quote of lit is escaped (an odd run of
// backslashes before it), i.e. the literal is not closed.
func escapedQuoteAtEnd(lit string) bool {
	n := 0
	for i := len(lit) - 2; i >= 1 && lit[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// compactionItem emits the one output item of a compaction answer: the summary the
// chat model streamed, sent whole.
func (e *StreamEncoder) compactionItem(dst []byte) []byte {
	index := e.nItems
	e.nItems++
	item := appendCompactionItem(e.scratch[:0], itemID("cmp_", e.core, index), unescape(e.text))
	dst = e.begin(dst, "response.output_item.added")
	dst = append(dst, `,"output_index":`...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, `,"item":`...)
	dst = append(dst, item...)
	dst = end(dst)
	return e.itemDone(dst, item, index)
}
