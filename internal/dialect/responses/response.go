package responses

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

// Request is what a translated answer needs from the client's Responses request: the
// fields a response object repeats ("echo" fields: instructions, tools, tool_choice,
// temperature, ...) and the names of the custom (freeform) tools, whose calls must go
// back as custom_tool_call items. A nil *Request is valid: no custom tools and the
// API's defaults for every echo field.
type Request struct {
	custom map[string]bool
	echo   []byte // `"instructions":…,…,"metadata":{…}`: the object's tail, built once
	// compact is set for a compaction request (compaction.go): the answer is one
	// compaction item holding the chat answer's text.
	compact bool
}

// compacting reports whether the answer must be a compaction item.
func (r *Request) compacting() bool { return r != nil && r.compact }

// echoFields are the request fields a response object repeats, with the value a
// response shows when the request did not set them (as api.openai.com answers).
var echoFields = [...]struct{ name, def string }{
	{"instructions", "null"},
	{"max_output_tokens", "null"},
	{"max_tool_calls", "null"},
	{"parallel_tool_calls", "true"},
	{"previous_response_id", "null"},
	{"prompt_cache_key", "null"},
	{"reasoning", `{"effort":null,"summary":null}`},
	{"safety_identifier", "null"},
	{"service_tier", `"default"`},
	{"store", "true"},
	{"temperature", "1.0"},
	{"text", `{"format":{"type":"text"},"verbosity":"medium"}`},
	{"tool_choice", `"auto"`},
	{"tools", "[]"},
	{"top_logprobs", "0"},
	{"top_p", "1.0"},
	{"truncation", `"disabled"`},
	{"user", "null"},
	{"metadata", "{}"},
}

var defaultEcho = (*Request)(nil).buildEcho(gjson.Result{})

// ParseRequest reads the echo fields and the custom tool names of a Responses
// request body (the client's body as received, before WithHistory). It never fails:
// an unreadable body gives the defaults.
func ParseRequest(body []byte) *Request {
	r := &Request{}
	var root gjson.Result
	if gjson.ValidBytes(body) {
		root = gjson.ParseBytes(body)
	}
	root.Get("tools").ForEach(func(_, t gjson.Result) bool {
		r.addCustom(t)
		if t.Get("type").Str == "namespace" {
			t.Get("tools").ForEach(func(_, in gjson.Result) bool {
				r.addCustom(in)
				return true
			})
		}
		return true
	})
	r.echo = r.buildEcho(root)
	r.compact = hasCompactionTrigger(body)
	return r
}

func (r *Request) addCustom(t gjson.Result) {
	if t.Get("type").Str != "custom" {
		return
	}
	if r.custom == nil {
		r.custom = make(map[string]bool)
	}
	r.custom[t.Get("name").Str] = true
}

func (r *Request) buildEcho(root gjson.Result) []byte {
	var b []byte
	for i, f := range echoFields {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, f.name)
		b = append(b, ':')
		v := root.Get(f.name)
		if f.name == "service_tier" || !v.Exists() || v.Type == gjson.Null {
			b = append(b, f.def...)
		} else {
			// Compact: a pretty-printed request would otherwise put raw newlines into
			// an SSE data line and break the frame.
			var c bytes.Buffer
			if json.Compact(&c, []byte(v.Raw)) == nil {
				b = append(b, c.Bytes()...)
			} else {
				b = append(b, f.def...)
			}
		}
	}
	return b
}

// isCustom reports whether name was a custom tool in the request.
func (r *Request) isCustom(name string) bool { return r != nil && r.custom[name] }

func (r *Request) echoTail() []byte {
	if r == nil || r.echo == nil {
		return defaultEcho
	}
	return r.echo
}

// object is the header of one response object.
type object struct {
	id         string
	created    int64
	status     string // in_progress, completed, incomplete, failed
	model      string
	completed  int64  // completed_at, 0 = null
	errJSON    []byte // error object, nil = null
	incomplete string // incomplete_details.reason, "" = null
}

// appendResponse writes a response object: header fields, output (the items already
// written as a comma-separated list), usage (nil = null) and the request's echo.
func appendResponse(dst []byte, r *Request, o *object, items []byte, u *provider.Usage) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, o.id)
	dst = append(dst, `,"object":"response","created_at":`...)
	dst = strconv.AppendInt(dst, o.created, 10)
	dst = append(dst, `,"status":`...)
	dst = jsonx.AppendString(dst, o.status)
	dst = append(dst, `,"background":false,"completed_at":`...)
	if o.completed > 0 {
		dst = strconv.AppendInt(dst, o.completed, 10)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"error":`...)
	if o.errJSON != nil {
		dst = append(dst, o.errJSON...)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"incomplete_details":`...)
	if o.incomplete != "" {
		dst = append(dst, `{"reason":`...)
		dst = jsonx.AppendString(dst, o.incomplete)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"model":`...)
	dst = jsonx.AppendString(dst, o.model)
	dst = append(dst, `,"output":[`...)
	dst = append(dst, items...)
	dst = append(dst, `],"usage":`...)
	if u != nil {
		dst = appendUsage(dst, *u)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, ',')
	dst = append(dst, r.echoTail()...)
	return append(dst, '}')
}

func appendUsage(dst []byte, u provider.Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"input_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedTokens), 10)
	dst = append(dst, `},"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"output_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.ReasoningTokens), 10)
	dst = append(dst, `},"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens+u.CompletionTokens), 10)
	return append(dst, '}')
}

// The output items. text, args and input are JSON string contents already escaped
// (without the quotes): the encoder accumulates them that way so a done event is a
// copy, not an encode.

func appendMessageItem(dst []byte, id, status string, text []byte, refusal bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"type":"message","status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","content":[`...)
	if status != "in_progress" {
		dst = appendTextPart(dst, text, refusal)
	}
	return append(dst, `],"role":"assistant"}`...)
}

func appendTextPart(dst, text []byte, refusal bool) []byte {
	if refusal {
		dst = append(dst, `{"type":"refusal","refusal":"`...)
	} else {
		dst = append(dst, `{"type":"output_text","annotations":[],"logprobs":[],"text":"`...)
	}
	dst = append(dst, text...)
	return append(dst, `"}`...)
}

func appendReasoningItem(dst []byte, id string, text []byte, done bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"type":"reasoning","summary":[`...)
	if done {
		dst = appendSummaryPart(dst, text)
	}
	return append(dst, "]}"...)
}

func appendSummaryPart(dst, text []byte) []byte {
	dst = append(dst, `{"type":"summary_text","text":"`...)
	dst = append(dst, text...)
	return append(dst, `"}`...)
}

func appendFunctionCallItem(dst []byte, id, status, callID, name string, args []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"type":"function_call","status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","arguments":"`...)
	dst = append(dst, args...)
	dst = append(dst, `","call_id":`...)
	dst = jsonx.AppendString(dst, callID)
	dst = append(dst, `,"name":`...)
	dst = jsonx.AppendString(dst, name)
	return append(dst, '}')
}

func appendCustomCallItem(dst []byte, id, status, callID, name string, input []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"type":"custom_tool_call","status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","call_id":`...)
	dst = jsonx.AppendString(dst, callID)
	dst = append(dst, `,"input":"`...)
	dst = append(dst, input...)
	dst = append(dst, `","name":`...)
	dst = jsonx.AppendString(dst, name)
	return append(dst, '}')
}

// escaped returns s as JSON string contents (escaped, without quotes).
func escaped(s string) []byte {
	b := jsonx.AppendString(nil, s)
	return b[1 : len(b)-1]
}

// customInput is the freeform input of a custom tool call that went through chat as
// a function call with arguments {"input": "..."}; arguments that are not that shape
// are passed on whole, so nothing the model wrote is lost.
func customInput(args string) string {
	if v := gjson.Get(args, "input"); v.Type == gjson.String && gjson.Valid(args) {
		return v.Str
	}
	return args
}

// statusFor maps a chat finish_reason to the response status and the
// incomplete_details reason.
func statusFor(finish string) (status, incomplete string) {
	switch finish {
	case "length":
		return "incomplete", "max_output_tokens"
	case "content_filter":
		return "incomplete", "content_filter"
	}
	return "completed", ""
}

// chatAnswer is the part of a chat.completion FromChat reads.
type chatAnswer struct {
	Choices []struct {
		Message struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			Refusal          string          `json:"refusal"`
			ToolCalls        []chatToolCall  `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

// FromChat converts a complete chat.completion answer into a Responses object with
// no request known (see Request.FromChat).
func FromChat(chat []byte, model string, u provider.Usage) ([]byte, error) {
	return (*Request)(nil).FromChat(chat, model, u)
}

// FromChat converts a complete chat.completion JSON answer into a Responses response
// object reporting model and usage u, echoing r's fields and mapping calls of r's
// custom tools to custom_tool_call items. The response id is new ("resp_…").
func (r *Request) FromChat(chat []byte, model string, u provider.Usage) ([]byte, error) {
	var a chatAnswer
	if err := json.Unmarshal(chat, &a); err != nil {
		return nil, err
	}
	core := newIDCore()
	now := time.Now().Unix()
	o := object{id: "resp_" + core, created: now, completed: now, model: model}
	var items []byte
	n := 0
	next := func() []byte {
		if n > 0 {
			items = append(items, ',')
		}
		n++
		return items
	}
	finish := ""
	if len(a.Choices) > 0 {
		c := &a.Choices[0]
		finish = c.FinishReason
		m := &c.Message
		if r.compacting() {
			// The answer is the summary, as the one compaction item.
			text, _ := partsText(gjson.ParseBytes(m.Content))
			items = appendCompactionItem(next(), itemID("cmp_", core, n), text)
		} else {
			if m.ReasoningContent != "" {
				items = appendReasoningItem(next(), itemID("rs_", core, n), escaped(m.ReasoningContent), true)
			}
			text, _ := partsText(gjson.ParseBytes(m.Content))
			if text != "" {
				items = appendMessageItem(next(), itemID("msg_", core, n), "completed", escaped(text), false)
			} else if m.Refusal != "" {
				items = appendMessageItem(next(), itemID("msg_", core, n), "completed", escaped(m.Refusal), true)
			}
			for _, tc := range m.ToolCalls {
				if r.isCustom(tc.Function.Name) {
					items = appendCustomCallItem(next(), itemID("ctc_", core, n), "completed", tc.ID, tc.Function.Name,
						escaped(customInput(tc.Function.Arguments)))
				} else {
					items = appendFunctionCallItem(next(), itemID("fc_", core, n), "completed", tc.ID, tc.Function.Name,
						escaped(tc.Function.Arguments))
				}
			}
		}
	}
	o.status, o.incomplete = statusFor(finish)
	if o.status != "completed" {
		o.completed = 0
	}
	if u == (provider.Usage{}) {
		// Nothing accounted: report what the chat answer itself says.
		if cu := gjson.GetBytes(chat, "usage"); cu.IsObject() {
			u = chatUsage(cu)
		}
	}
	return appendResponse(make([]byte, 0, 512+len(items)), r, &o, items, &u), nil
}

// itemID is prefix + the response's id core + the item's output index.
func itemID(prefix, core string, index int) string {
	return prefix + core + strconv.Itoa(index)
}
