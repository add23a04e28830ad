package cassette

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/tidwall/gjson"
)

// LogEntry is what the request log keeps of a request (a store.RequestRow's fields),
// enough to rebuild a cassette.
type LogEntry struct {
	ID            string
	Started       time.Time
	Endpoint      string // "/v1/chat/completions"
	Model         string
	Provider      string // the provider that answered, as logged
	UpstreamModel string
	Status        int
	Stream        bool
	RequestBody   string // captured body; cut bodies end in "…[truncated N bytes]"
	ResponseBody  string // captured body, or for streams the reassembled text
}

// ErrNotExportable wraps the reasons a logged request cannot become a cassette.
var ErrNotExportable = errors.New("cannot export")

var truncatedMark = regexp.MustCompile(`…\[truncated \d+ bytes\]$`)

// FromLog turns a logged request into a cassette record (Recorder.Add writes it).
// A non-stream answer is the captured body. The log keeps only the reassembled text of
// a stream, so FromLog synthesizes the stream in the endpoint's dialect (chat and
// completions chunks, Anthropic Messages events) from that text and its
// "[tool_call name(args)]" lines; timings are lost (every offset is 0) and so are
// fields the text does not carry (usage, logprobs). Other streamed endpoints are
// refused. The record's Note says it was rebuilt.
func FromLog(e LogEntry) (*Record, error) {
	fail := func(format string, args ...any) (*Record, error) {
		return nil, fmt.Errorf("%w %s: %s", ErrNotExportable, e.ID, fmt.Sprintf(format, args...))
	}
	switch {
	case e.RequestBody == "":
		return fail("no captured request body (is log.capture_bodies off?)")
	case !json.Valid([]byte(e.RequestBody)):
		return fail("the captured request body is not complete JSON (cut at log.max_body_capture?)")
	case e.Status == 0:
		return fail("no status was logged")
	case truncatedMark.MatchString(e.ResponseBody):
		return fail("the captured response was cut at log.max_body_capture")
	}
	endpoint := e.Endpoint
	if endpoint == "" {
		endpoint = "/v1/chat/completions"
	}
	rec := &Record{Version: Version, Note: "rebuilt from request log entry " + e.ID, Provider: e.Provider}
	rec.Request.Endpoint, rec.Request.Method = endpoint, "POST"
	rec.Request.setBody([]byte(e.RequestBody))
	rec.Response.Status = e.Status
	stream := e.Stream || gjson.Get(e.RequestBody, "stream").Bool()
	if !stream || e.Status >= 300 {
		if e.ResponseBody == "" {
			return fail("no captured response body")
		}
		rec.Response.setBody([]byte(e.ResponseBody))
		ct := "application/json"
		if rec.Response.Body == nil {
			ct = "text/plain; charset=utf-8"
		}
		rec.Response.Headers = map[string]string{"content-type": ct}
		return rec, nil
	}
	model := e.UpstreamModel
	if model == "" {
		model = e.Model
	}
	text, tools := splitLogText(e.ResponseBody)
	var events []Event
	switch endpoint {
	case "/v1/chat/completions":
		events = chatFrames("chatcmpl-"+e.ID, e.Started.Unix(), model, text, tools)
	case "/v1/completions":
		if len(tools) > 0 {
			return fail("a completions stream with tool calls")
		}
		events = completionFrames("cmpl-"+e.ID, e.Started.Unix(), model, text)
	case "/v1/messages":
		events = messagesFrames("msg_"+e.ID, model, text, tools)
	default:
		return fail("the log keeps only the text of a %s stream, and its events cannot be rebuilt from it", endpoint)
	}
	rec.Note += " (stream synthesized from the logged text: one text event, no timings, no usage)"
	rec.Response.Stream = true
	rec.Response.Headers = map[string]string{"content-type": "text/event-stream; charset=utf-8"}
	rec.Response.Events = events
	return rec, nil
}

type logTool struct{ name, args string }

// toolLine matches the request log's renderings of a streamed tool call:
// "[tool_call name(args)]" (reqlog.TextCapture) and "[tool_call name] args" (the
// gateway's stream sink).
var (
	toolParen   = regexp.MustCompile(`(?s)\[tool_call ([^\]\(\s]+)\((.*?)\)\]`)
	toolBracket = regexp.MustCompile(`\[tool_call ([^\]\s]+)\] ?`)
)

func splitLogText(s string) (string, []logTool) {
	var tools []logTool
	if locs := toolParen.FindAllStringSubmatchIndex(s, -1); len(locs) > 0 {
		for _, l := range locs {
			tools = append(tools, logTool{s[l[2]:l[3]], s[l[4]:l[5]]})
		}
		return strings.TrimRight(s[:locs[0][0]], "\n"), tools
	}
	if locs := toolBracket.FindAllStringSubmatchIndex(s, -1); len(locs) > 0 {
		for i, l := range locs {
			end := len(s)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			tools = append(tools, logTool{s[l[2]:l[3]], s[l[1]:end]})
		}
		return s[:locs[0][0]], tools
	}
	return s, nil
}

func str(s string) string { return string(jsonx.AppendString(nil, s)) }

func chatFrames(id string, created int64, model, text string, tools []logTool) []Event {
	head := fmt.Sprintf(`{"id":%s,"object":"chat.completion.chunk","created":%d,"model":%s,"choices":[`, str(id), created, str(model))
	var out []Event
	add := func(choice string) { out = append(out, Event{Data: head + choice + "]}"}) }
	add(`{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}`)
	if text != "" {
		add(`{"index":0,"delta":{"content":` + str(text) + `},"finish_reason":null}`)
	}
	for i, t := range tools {
		add(fmt.Sprintf(`{"index":0,"delta":{"tool_calls":[{"index":%d,"id":%s,"type":"function","function":{"name":%s,"arguments":%s}}]},"finish_reason":null}`,
			i, str(fmt.Sprintf("call_%s_%d", strings.TrimPrefix(id, "chatcmpl-"), i)), str(t.name), str(t.args)))
	}
	finish := "stop"
	if len(tools) > 0 {
		finish = "tool_calls"
	}
	add(`{"index":0,"delta":{},"finish_reason":"` + finish + `"}`)
	return append(out, Event{Data: "[DONE]"})
}

func completionFrames(id string, created int64, model, text string) []Event {
	head := fmt.Sprintf(`{"id":%s,"object":"text_completion","created":%d,"model":%s,"choices":[`, str(id), created, str(model))
	return []Event{
		{Data: head + `{"index":0,"text":` + str(text) + `,"logprobs":null,"finish_reason":null}]}`},
		{Data: head + `{"index":0,"text":"","logprobs":null,"finish_reason":"stop"}]}`},
		{Data: "[DONE]"},
	}
}

func messagesFrames(id, model, text string, tools []logTool) []Event {
	ev := func(name, data string) Event { return Event{Event: name, Data: data} }
	out := []Event{ev("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":%s,"type":"message","role":"assistant","model":%s,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`, str(id), str(model)))}
	idx := 0
	if text != "" {
		out = append(out,
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+str(text)+`}}`),
			ev("content_block_stop", `{"type":"content_block_stop","index":0}`))
		idx++
	}
	for i, t := range tools {
		out = append(out,
			ev("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":%s,"name":%s,"input":{}}}`, idx, str(fmt.Sprintf("toolu_%s_%d", id, i)), str(t.name))),
			ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%s}}`, idx, str(t.args))),
			ev("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, idx)))
		idx++
	}
	stop := "end_turn"
	if len(tools) > 0 {
		stop = "tool_use"
	}
	return append(out,
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null},"usage":{"output_tokens":0}}`),
		ev("message_stop", `{"type":"message_stop"}`))
}
