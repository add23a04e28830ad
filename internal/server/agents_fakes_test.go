//go:build linux

package server_test

// sessionFake is the upstream behind the gateway in the agent sessions
// (agents_sessions_test.go): one server that speaks Anthropic Messages, OpenAI chat and
// OpenAI Responses, and answers each turn by replaying a real recorded exchange from
// testdata/ (see testdata/*/README.md for where each came from) with only the values the
// session depends on rewritten: the text, the tool's name, arguments and call id. The rest of
// each capture — event order, pings, padding, usage, the fields a hand-written fake forgets —
// goes out as recorded, so the gateway relays or translates what the real APIs send.
//
// A session's turns: a request without tools (OpenCode's title) gets a short text; the first
// request offering the session's tool gets a call of it; a request whose history holds that
// call (its id carries fakeCallMarker) gets the final text, naming the secret when the tool's
// result brought it back, so the final answer proves the whole round trip.

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// fakeCallMarker is in every tool call id the fake hands out.
const fakeCallMarker = "rsfake"

// toolCall is the tool a session asks the agent to run.
type toolCall struct{ name, args string }

type sessionFake struct {
	*testutil.Upstream
	mu     sync.Mutex
	said   []string // what the fake answered, one line per request
	call   toolCall
	secret string
	tpl    fakeTemplates
}

// fakeTemplates are the recorded exchanges the fake replays.
type fakeTemplates struct {
	msgText, msgTool, msgJSON         []byte // Messages: text stream, text-then-tool stream, non-stream answer
	chatText, chatTool                []byte // chat: text stream, tool-call stream
	chatJSONText, chatJSONTool        []byte // chat: non-stream answers
	respText, respTool, respJSONTool  []byte // Responses: text stream, tool stream, non-stream call
	msgHeader, chatHeader, respHeader http.Header
}

func loadFakeTemplates(t *testing.T) fakeTemplates {
	var tp fakeTemplates
	tp.msgText = testutil.ReadFile(t, "anthropic", "captures", "messages-stream-text.sse")
	// vercel/ai's chunk dump holds the data payloads only; the event names are their types.
	var b bytes.Buffer
	for _, line := range bytes.Split(bytes.TrimSpace(testutil.ReadFile(t, "anthropic", "captures", "messages-stream-text-then-tool-no-args.chunks.txt")), []byte("\n")) {
		b.WriteString("event: " + gjson.GetBytes(line, "type").Str + "\ndata: ")
		b.Write(line)
		b.WriteString("\n\n")
	}
	tp.msgTool = b.Bytes()
	ex := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-nonstream-text.httprr")[0]
	tp.msgJSON, tp.msgHeader = ex.Body, ex.Header
	tp.chatTool = testutil.ReadFile(t, "openai", "chat-stream-tool-call-1.sse")
	tp.chatText = testutil.ReadFile(t, "openai", "chat-stream-tool-call-2.sse")
	ex = testutil.ReadHTTPRR(t, "openai", "chat-nonstream-text.httprr")[0]
	tp.chatJSONText, tp.chatHeader = ex.Body, ex.Header
	tp.chatJSONTool = testutil.ReadHTTPRR(t, "openai", "chat-nonstream-tool-call.httprr")[0].Body
	tp.respText = testutil.ReadFile(t, "openai", "responses-stream-text.sse")
	tp.respTool = testutil.ReadFile(t, "openai", "responses-stream-custom-tool.sse")
	tp.respJSONTool = testutil.ReadFile(t, "openai", "responses-nonstream-function-call.json")
	tp.respHeader = http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_fake"}, "Openai-Version": {"2020-10-01"}}
	for _, h := range []http.Header{tp.msgHeader, tp.chatHeader} {
		for _, k := range []string{"Content-Length", "Content-Encoding", "Transfer-Encoding", "Set-Cookie"} {
			h.Del(k)
		}
	}
	return tp
}

func newSessionFake(t *testing.T) *sessionFake {
	f := &sessionFake{tpl: loadFakeTemplates(t)}
	f.Upstream = testutil.NewUpstream(t, f.serve)
	return f
}

// expect sets the tool the next session's model calls and the secret its result holds.
func (f *sessionFake) expect(c toolCall, secret string) {
	f.mu.Lock()
	f.call, f.secret, f.said = c, secret, nil
	f.mu.Unlock()
}

// fakeTurn is what the model says: text, or a call of the session's tool.
type fakeTurn struct {
	text string
	call *toolCall
}

func (f *sessionFake) turn(path string, body []byte, toolNames gjson.Result) fakeTurn {
	t := f.decide(body, toolNames)
	said := t.text
	if t.call != nil {
		said = "call " + t.call.name + " " + t.call.args
	}
	f.mu.Lock()
	f.said = append(f.said, fmt.Sprintf("%s (stream %v): %s", path, gjson.GetBytes(body, "stream").Bool(), said))
	f.mu.Unlock()
	return t
}

// answers returns what the fake said since the last call.
func (f *sessionFake) answers() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := "  " + strings.Join(f.said, "\n  ")
	f.said = nil
	return s
}

// maxFakeTurns ends a session that loops (an agent calling a tool it cannot run, again and
// again) with text, so it fails on its answer in seconds instead of at the client timeout.
const maxFakeTurns = 8

func (f *sessionFake) decide(body []byte, toolNames gjson.Result) fakeTurn {
	f.mu.Lock()
	c, secret, n := f.call, f.secret, len(f.said)
	f.mu.Unlock()
	switch {
	case n >= maxFakeTurns:
		return fakeTurn{text: fmt.Sprintf("The fake ended the session after %d turns.", n)}
	case bytes.Contains(body, []byte(fakeCallMarker)):
		if bytes.Contains(body, []byte(secret)) {
			return fakeTurn{text: "The file says " + secret + "."}
		}
		return fakeTurn{text: "The tool's result did not reach me."}
	case len(toolNames.Array()) == 0:
		return fakeTurn{text: "Secret file"}
	}
	for _, n := range toolNames.Array() {
		if n.Str == c.name {
			return fakeTurn{call: &c}
		}
	}
	return fakeTurn{text: "No tool named " + c.name + " was offered."}
}

func (f *sessionFake) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	stream := gjson.GetBytes(body, "stream").Bool()
	var (
		hdr http.Header
		out []byte
	)
	switch r.URL.Path {
	case "/v1/messages":
		hdr, out = f.tpl.msgHeader, f.messages(f.turn(r.URL.Path, body, gjson.GetBytes(body, "tools.#.name")), stream)
	case "/v1/chat/completions":
		hdr, out = f.tpl.chatHeader, f.chat(f.turn(r.URL.Path, body, gjson.GetBytes(body, "tools.#.function.name")), stream)
	case "/v1/responses":
		hdr, out = f.tpl.respHeader, f.responses(f.turn(r.URL.Path, body, gjson.GetBytes(body, "tools.#.name")), stream)
	default:
		http.Error(w, `{"error":{"message":"the fake serves no `+r.URL.Path+`","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	testutil.WriteSSE(w, r, out, 0)
}

// editSSE rewrites an SSE body event by event: edit gets the event's data payload and its
// (or the payload's) type and returns the new payload, or nil to leave the event out.
func editSSE(body []byte, edit func(typ string, data []byte) []byte) []byte {
	var out bytes.Buffer
	for _, ev := range bytes.SplitAfter(body, []byte("\n\n")) {
		lines := bytes.Split(bytes.TrimRight(ev, "\n"), []byte("\n"))
		i := -1
		for j, l := range lines {
			if bytes.HasPrefix(l, []byte("data: ")) {
				i = j
			}
		}
		if i < 0 || bytes.Equal(lines[i], []byte("data: [DONE]")) {
			out.Write(ev)
			continue
		}
		data := edit(gjson.GetBytes(lines[i][6:], "type").Str, lines[i][6:])
		if data == nil {
			continue
		}
		lines[i] = append([]byte("data: "), data...)
		for j, l := range lines { // the event name follows a renamed type
			if typ := gjson.GetBytes(data, "type").Str; typ != "" && bytes.HasPrefix(l, []byte("event: ")) {
				lines[j] = []byte("event: " + typ)
			}
		}
		out.Write(bytes.Join(lines, []byte("\n")))
		out.WriteString("\n\n")
	}
	return out.Bytes()
}

// set is sjson.SetBytes for paths the capture is known to have.
func set(b []byte, path string, v any) []byte {
	out, err := sjson.SetBytes(b, path, v)
	if err != nil {
		panic(err)
	}
	return out
}

func setRaw(b []byte, path, raw string) []byte {
	out, err := sjson.SetRawBytes(b, path, []byte(raw))
	if err != nil {
		panic(err)
	}
	return out
}

// firstText puts the whole text in the first text piece and empties the others.
type firstText struct {
	text string
	done bool
}

func (ft *firstText) next() string {
	if ft.done {
		return ""
	}
	ft.done = true
	return ft.text
}

func (f *sessionFake) messages(t fakeTurn, stream bool) []byte {
	if !stream {
		b := f.tpl.msgJSON
		if t.call == nil {
			return set(b, "content.0.text", t.text)
		}
		b = setRaw(b, "content", `[{"type":"tool_use","id":"toolu_`+fakeCallMarker+`01","name":`+jsonString(t.call.name)+`,"input":`+t.call.args+`}]`)
		return set(b, "stop_reason", "tool_use")
	}
	if t.call == nil {
		ft := &firstText{text: t.text}
		return editSSE(f.tpl.msgText, func(typ string, d []byte) []byte {
			if typ == "content_block_delta" {
				return set(d, "delta.text", ft.next())
			}
			return d
		})
	}
	// Recorded: a text block, then a tool_use block whose one input_json_delta is empty.
	ft := &firstText{text: "Let me read the file."}
	return editSSE(f.tpl.msgTool, func(typ string, d []byte) []byte {
		switch {
		case typ == "content_block_delta" && gjson.GetBytes(d, "delta.type").Str == "text_delta":
			return set(d, "delta.text", ft.next())
		case typ == "content_block_start" && gjson.GetBytes(d, "content_block.type").Str == "tool_use":
			d = set(d, "content_block.id", "toolu_"+fakeCallMarker+"01")
			return set(d, "content_block.name", t.call.name)
		case typ == "content_block_delta" && gjson.GetBytes(d, "delta.type").Str == "input_json_delta":
			return set(d, "delta.partial_json", t.call.args)
		}
		return d
	})
}

func (f *sessionFake) chat(t fakeTurn, stream bool) []byte {
	if !stream {
		if t.call == nil {
			return set(f.tpl.chatJSONText, "choices.0.message.content", t.text)
		}
		b := set(f.tpl.chatJSONTool, "choices.0.message.tool_calls.0.id", "call_"+fakeCallMarker+"01")
		b = set(b, "choices.0.message.tool_calls.0.function.name", t.call.name)
		return set(b, "choices.0.message.tool_calls.0.function.arguments", t.call.args)
	}
	if t.call == nil {
		ft := &firstText{text: t.text}
		return editSSE(f.tpl.chatText, func(_ string, d []byte) []byte {
			if c := gjson.GetBytes(d, "choices.0.delta.content"); c.Type == gjson.String && c.Str != "" {
				return set(d, "choices.0.delta.content", ft.next())
			}
			return d
		})
	}
	// Recorded: the first chunk names the call, the arguments follow in pieces.
	ft := &firstText{text: t.call.args}
	return editSSE(f.tpl.chatTool, func(_ string, d []byte) []byte {
		tc := gjson.GetBytes(d, "choices.0.delta.tool_calls.0")
		if !tc.Exists() {
			return d
		}
		if tc.Get("id").Exists() {
			d = set(d, "choices.0.delta.tool_calls.0.id", "call_"+fakeCallMarker+"01")
			return set(d, "choices.0.delta.tool_calls.0.function.name", t.call.name)
		}
		return set(d, "choices.0.delta.tool_calls.0.function.arguments", ft.next())
	})
}

func (f *sessionFake) responses(t fakeTurn, stream bool) []byte {
	if !stream {
		if t.call == nil {
			// The recorded stream's final response object is the non-stream answer.
			var done []byte
			editSSE(f.responses(t, true), func(typ string, d []byte) []byte {
				if typ == "response.completed" {
					done = []byte(gjson.GetBytes(d, "response").Raw)
				}
				return d
			})
			return done
		}
		b := set(f.tpl.respJSONTool, "output.0.call_id", "call_"+fakeCallMarker+"01")
		b = set(b, "output.0.name", t.call.name)
		return set(b, "output.0.arguments", t.call.args)
	}
	if t.call == nil {
		ft := &firstText{text: t.text}
		return editSSE(f.tpl.respText, func(typ string, d []byte) []byte {
			switch typ {
			case "response.output_text.delta":
				return set(d, "delta", ft.next())
			case "response.output_text.done":
				return set(d, "text", t.text)
			case "response.content_part.done":
				return set(d, "part.text", t.text)
			case "response.output_item.done":
				return set(d, "item.content.0.text", t.text)
			case "response.completed":
				return set(d, "response.output.0.content.0.text", t.text)
			}
			return d
		})
	}
	// Recorded: a reasoning item, then a custom (freeform) tool call. Replayed as the
	// function call a function tool gets: the same events under their function_call names,
	// "input" as "arguments".
	fn := func(d []byte, path string) []byte {
		item := gjson.GetBytes(d, path)
		if item.Get("type").Str != "custom_tool_call" {
			return d
		}
		args := ""
		if item.Get("status").Str == "completed" {
			args = t.call.args
		}
		raw := item.Raw
		raw, _ = sjson.Set(raw, "type", "function_call")
		raw, _ = sjson.Set(raw, "id", "fc_"+fakeCallMarker+"01")
		raw, _ = sjson.Set(raw, "call_id", "call_"+fakeCallMarker+"01")
		raw, _ = sjson.Set(raw, "name", t.call.name)
		raw, _ = sjson.Delete(raw, "input")
		raw, _ = sjson.Set(raw, "arguments", args)
		return setRaw(d, path, raw)
	}
	ft := &firstText{text: t.call.args}
	return editSSE(f.tpl.respTool, func(typ string, d []byte) []byte {
		switch typ {
		case "response.output_item.added", "response.output_item.done":
			return fn(d, "item")
		case "response.custom_tool_call_input.delta":
			d = set(d, "type", "response.function_call_arguments.delta")
			d = set(d, "item_id", "fc_"+fakeCallMarker+"01")
			return set(d, "delta", ft.next())
		case "response.custom_tool_call_input.done":
			d = set(d, "type", "response.function_call_arguments.done")
			d = set(d, "item_id", "fc_"+fakeCallMarker+"01")
			d, _ = sjson.DeleteBytes(d, "input")
			return set(d, "arguments", t.call.args)
		case "response.completed":
			for i := range gjson.GetBytes(d, "response.output").Array() {
				d = fn(d, "response.output."+strconv.Itoa(i))
			}
		}
		return d
	})
}

func jsonString(s string) string {
	b, _ := sjson.Set(`{}`, "s", s)
	return gjson.Get(b, "s").Raw
}
