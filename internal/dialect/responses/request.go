package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unsafe"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/tidwall/gjson"
)

// Inspect validates an inbound body just enough to route it: a JSON object with a
// string model, input as a string or an array (it may be absent when the request
// continues a stored conversation), and a boolean stream if present.
func Inspect(body []byte) (model string, stream bool, err *apierr.Error) {
	if !gjson.ValidBytes(body) {
		return "", false, apierr.BadRequest("", "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.")
	}
	return InspectChecked(body)
}

// InspectChecked is Inspect for a body the caller has already validated as JSON
// (the gateway's jsonx.Check in readBody): it skips the second validating pass.
func InspectChecked(body []byte) (model string, stream bool, err *apierr.Error) {
	js := unsafe.String(unsafe.SliceData(body), len(body))
	root := gjson.Parse(js)
	if !root.IsObject() {
		return "", false, apierr.BadRequest("", "The request body must be a JSON object.")
	}
	m := root.Get("model")
	if m.Type != gjson.String || m.Str == "" {
		return "", false, apierr.BadRequest("model", "Missing required parameter: 'model'.")
	}
	in := root.Get("input")
	switch {
	case in.Type == gjson.String, in.IsArray():
	case !in.Exists() || in.Type == gjson.Null:
		if !root.Get("previous_response_id").Exists() && !root.Get("conversation").Exists() &&
			!root.Get("prompt").Exists() {
			return "", false, apierr.BadRequest("input", "Missing required parameter: 'input'.")
		}
	default:
		return "", false, apierr.BadRequest("input", "Invalid type for 'input': expected a string or an array of input items.")
	}
	s := root.Get("stream")
	switch s.Type {
	case gjson.True:
		stream = true
	case gjson.False, gjson.Null:
	default:
		if s.Exists() {
			return "", false, apierr.BadRequest("stream", "Invalid type for 'stream': expected a boolean.")
		}
	}
	// Copy: js aliases the caller's buffer, which may be reused after routing.
	return strings.Clone(m.Str), stream, nil
}

// inRequest is every Responses request field the translation reads. Fields a
// provider cannot use are still decoded so they can be reported as dropped.
type inRequest struct {
	Model             string            `json:"model"`
	Input             json.RawMessage   `json:"input"`
	Instructions      json.RawMessage   `json:"instructions"`
	Tools             []json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage   `json:"tool_choice"`
	ParallelToolCalls *bool             `json:"parallel_tool_calls"`
	Text              *struct {
		Format    json.RawMessage `json:"format"`
		Verbosity json.RawMessage `json:"verbosity"`
	} `json:"text"`
	MaxOutputTokens *int `json:"max_output_tokens"`
	Reasoning       *struct {
		Effort          string          `json:"effort"`
		Summary         json.RawMessage `json:"summary"`
		GenerateSummary json.RawMessage `json:"generate_summary"`
	} `json:"reasoning"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"top_p"`
	User               string          `json:"user"`
	SafetyIdentifier   string          `json:"safety_identifier"`
	Stream             bool            `json:"stream"`
	Background         bool            `json:"background"`
	PreviousResponseID string          `json:"previous_response_id"`
	Conversation       json.RawMessage `json:"conversation"`
	Prompt             json.RawMessage `json:"prompt"`
}

// translated are the request fields ToChat reads (inRequest) or the gateway keeps for
// itself (store, metadata: it keeps responses itself). Every other field with a value
// (include, truncation, service_tier, prompt_cache_key, Codex's client_metadata, and
// whatever the API adds next) has no chat meaning and is reported as dropped.
var translated = map[string]bool{"model": true, "input": true, "instructions": true, "tools": true,
	"tool_choice": true, "parallel_tool_calls": true, "text": true, "max_output_tokens": true,
	"reasoning": true, "temperature": true, "top_p": true, "user": true, "safety_identifier": true,
	"stream": true, "background": true, "previous_response_id": true, "conversation": true,
	"prompt": true, "store": true, "metadata": true}

// chatRequest is the neutral body ToChat produces.
type chatRequest struct {
	Model             string          `json:"model"`
	Messages          []chatMessage   `json:"messages"`
	Tools             []chatTool      `json:"tools,omitempty"`
	ToolChoice        json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat    json.RawMessage `json:"response_format,omitempty"`
	MaxTokens         *int            `json:"max_tokens,omitempty"`
	ReasoningEffort   string          `json:"reasoning_effort,omitempty"`
	Temperature       *float64        `json:"temperature,omitempty"`
	TopP              *float64        `json:"top_p,omitempty"`
	User              string          `json:"user,omitempty"`
	Stream            bool            `json:"stream,omitempty"`
	StreamOptions     *streamOptions  `json:"stream_options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role string `json:"role"`
	// Content is a JSON string, an array of parts, or null (assistant with tool calls).
	Content    json.RawMessage `json:"content"`
	ToolCalls  []chatToolCall  `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

type chatToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type chatTool struct {
	Type     string      `json:"type"`
	Function chatToolDef `json:"function"`
}

type chatToolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// customParams is the schema a custom (freeform) tool gets as a chat function: one
// string argument carrying the freeform input.
var customParams = json.RawMessage(`{"type":"object","properties":{"input":{"type":"string"}},"required":["input"]}`)

// translator accumulates one ToChat conversion.
type translator struct {
	out     chatRequest
	dropped []string
	// compact is set by a compaction_trigger item: Codex asks for its history to be
	// compacted (see compaction.go).
	compact bool
	// extraTools are the tools of additional_tools items, added after the request's.
	extraTools []json.RawMessage
}

func (t *translator) drop(what string) { t.dropped = append(t.dropped, what) }

// ToChat converts a Responses request body into a Chat Completions request body.
// dropped names what could not be carried (e.g. "input[3].reasoning",
// "tools[1].web_search"); err is a 400 *apierr.Error naming the field when the body is
// malformed for the Responses API. previous_response_id must already have been
// resolved by the caller (WithHistory); if it is still present it is reported as
// dropped.
func ToChat(body []byte) (chat []byte, dropped []string, err error) {
	return toChat(body, false)
}

// toChat is ToChat; compact asks for a summary of the input (CompactToChat) whether
// or not it holds a compaction_trigger item.
func toChat(body []byte, compact bool) (chat []byte, dropped []string, err error) {
	var in inRequest
	if e := json.Unmarshal(body, &in); e != nil {
		return nil, nil, badJSON(e)
	}
	if in.Model == "" {
		return nil, nil, apierr.BadRequest("model", "Missing required parameter: 'model'.")
	}
	if in.Background {
		return nil, nil, apierr.BadRequest("background",
			"Background responses are not supported for this model: Runestone translates it to Chat Completions. Send background=false.")
	}
	t := &translator{out: chatRequest{Model: in.Model, Stream: in.Stream}, compact: compact}
	if in.Stream {
		t.out.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	if aerr := t.instructions(in.Instructions); aerr != nil {
		return nil, nil, aerr
	}
	if aerr := t.input(in.Input); aerr != nil {
		return nil, nil, aerr
	}
	custom, aerr := t.tools(append(in.Tools, t.extraTools...))
	if aerr != nil {
		return nil, nil, aerr
	}
	if aerr := t.toolChoice(in.ToolChoice, custom); aerr != nil {
		return nil, nil, aerr
	}
	if len(t.out.Tools) > 0 {
		t.out.ParallelToolCalls = in.ParallelToolCalls
	} else if in.ParallelToolCalls != nil {
		t.drop("parallel_tool_calls")
	}
	if in.Text != nil {
		if aerr := t.textFormat(in.Text.Format); aerr != nil {
			return nil, nil, aerr
		}
		if isSet(in.Text.Verbosity) {
			t.drop("text.verbosity")
		}
	}
	if in.MaxOutputTokens != nil {
		t.out.MaxTokens = in.MaxOutputTokens
	}
	if r := in.Reasoning; r != nil {
		t.out.ReasoningEffort = r.Effort
		if isSet(r.Summary) || isSet(r.GenerateSummary) {
			t.drop("reasoning.summary")
		}
	}
	t.out.Temperature, t.out.TopP = in.Temperature, in.TopP
	t.out.User = in.User
	if t.out.User == "" {
		t.out.User = in.SafetyIdentifier
	}
	if in.PreviousResponseID != "" {
		t.drop("previous_response_id")
	}
	if isSet(in.Conversation) {
		t.drop("conversation")
	}
	if isSet(in.Prompt) {
		t.drop("prompt")
	}
	gjson.ParseBytes(body).ForEach(func(k, v gjson.Result) bool {
		if !translated[k.Str] && v.Type != gjson.Null {
			t.drop(k.Str)
		}
		return true
	})
	if t.compact {
		t.compactionRequest()
	}
	if len(t.out.Messages) == 0 {
		return nil, nil, apierr.BadRequest("input", "The request has no input: send input as a string or a non-empty array of items.")
	}
	chat, e := json.Marshal(&t.out)
	if e != nil {
		// Only a RawMessage from the client that is not valid JSON can get here.
		return nil, nil, apierr.BadRequest("", "The request contains invalid JSON: %v", e)
	}
	return chat, t.dropped, nil
}

func isSet(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

func badJSON(err error) *apierr.Error {
	e := apierr.BadRequest("", "We could not parse the JSON body of your request: %v", err)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		e.Param = te.Field
	}
	return e
}

func stringJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// instructions become the leading system message: a string, or (as the API also
// accepts) an array of input messages whose text is joined.
func (t *translator) instructions(raw json.RawMessage) *apierr.Error {
	if !isSet(raw) {
		return nil
	}
	v := gjson.ParseBytes(raw)
	var text string
	switch {
	case v.Type == gjson.String:
		text = v.Str
	case v.IsArray():
		var b strings.Builder
		for _, it := range v.Array() {
			s, _ := partsText(it.Get("content"))
			if s != "" {
				if b.Len() > 0 {
					b.WriteString("\n\n")
				}
				b.WriteString(s)
			}
		}
		text = b.String()
	default:
		return apierr.BadRequest("instructions", "Invalid type for 'instructions': expected a string.")
	}
	if text != "" {
		t.out.Messages = append(t.out.Messages, chatMessage{Role: "system", Content: stringJSON(text)})
	}
	return nil
}

// partsText joins the text of a content value (a string or an array of text parts);
// ok is false when some part was not text.
func partsText(c gjson.Result) (string, bool) {
	if c.Type == gjson.String {
		return c.Str, true
	}
	var b strings.Builder
	ok := true
	for _, p := range c.Array() {
		switch p.Get("type").Str {
		case "input_text", "output_text", "text", "summary_text", "reasoning_text":
			b.WriteString(p.Get("text").Str)
		case "refusal":
			b.WriteString(p.Get("refusal").Str)
		default:
			ok = false
		}
	}
	return b.String(), ok
}

func (t *translator) input(raw json.RawMessage) *apierr.Error {
	if !isSet(raw) {
		return nil
	}
	v := gjson.ParseBytes(raw)
	if v.Type == gjson.String {
		t.out.Messages = append(t.out.Messages, chatMessage{Role: "user", Content: stringJSON(v.Str)})
		return nil
	}
	if !v.IsArray() {
		return apierr.BadRequest("input", "Invalid type for 'input': expected a string or an array of input items.")
	}
	for i, it := range v.Array() {
		if aerr := t.item(i, it); aerr != nil {
			return aerr
		}
	}
	return nil
}

func (t *translator) item(i int, it gjson.Result) *apierr.Error {
	at := "input[" + strconv.Itoa(i) + "]"
	if !it.IsObject() {
		return apierr.BadRequest(at, "Invalid type for '%s': expected an object.", at)
	}
	typ := it.Get("type").Str
	if typ == "" && it.Get("role").Exists() {
		typ = "message"
	}
	switch typ {
	case "message":
		return t.message(at, it)
	case "function_call", "custom_tool_call":
		callID, name := it.Get("call_id").Str, it.Get("name").Str
		if callID == "" || name == "" {
			return apierr.BadRequest(at, "Missing required parameter: '%s.call_id' and '%s.name' are required for a %s item.", at, at, typ)
		}
		args := it.Get("arguments").Str
		if typ == "custom_tool_call" {
			args = `{"input":` + string(stringJSON(it.Get("input").Str)) + `}`
		} else if args == "" {
			args = "{}"
		}
		t.toolCall(chatToolCall{ID: callID, Type: "function", Function: chatFunction{Name: name, Arguments: args}})
	case "function_call_output", "custom_tool_call_output":
		callID := it.Get("call_id").Str
		if callID == "" {
			return apierr.BadRequest(at+".call_id", "Missing required parameter: '%s.call_id'.", at)
		}
		out := it.Get("output")
		text, ok := partsText(out)
		if !ok {
			t.drop(at + ".output.non_text")
		}
		t.out.Messages = append(t.out.Messages, chatMessage{Role: "tool", ToolCallID: callID, Content: stringJSON(text)})
	case "reasoning":
		// Encrypted reasoning belongs to the model that made it and cannot cross.
		t.drop(at + ".reasoning")
	case "compaction_trigger":
		// Codex's remote compaction (its built-in OpenAI provider): answered with one
		// compaction item holding a summary the chat model writes (compaction.go).
		t.compact = true
	case "compaction", "context_compaction":
		if summary, ok := summaryOf(it); ok {
			t.out.Messages = append(t.out.Messages, chatMessage{Role: "user", Content: stringJSON(summaryIntro + summary)})
		} else {
			// OpenAI's own compaction is encrypted for OpenAI's models.
			t.drop(at + "." + typ)
		}
	case "additional_tools":
		// Tools Codex makes available mid-session: chat has only one tools list.
		if tl := it.Get("tools"); tl.IsArray() {
			for j, tool := range tl.Array() {
				if tool.IsObject() {
					t.extraTools = append(t.extraTools, json.RawMessage(tool.Raw))
				} else {
					t.drop(at + ".tools[" + strconv.Itoa(j) + "]")
				}
			}
		} else {
			t.drop(at + "." + typ)
		}
	case "":
		return apierr.BadRequest(at+".type", "Missing required parameter: '%s.type'.", at)
	default:
		t.drop(at + "." + typ)
	}
	return nil
}

// toolCall appends a call to the preceding assistant message, so consecutive calls
// (and a text turn followed by calls) become one assistant message as chat expects.
func (t *translator) toolCall(tc chatToolCall) {
	if n := len(t.out.Messages); n > 0 && t.out.Messages[n-1].Role == "assistant" {
		m := &t.out.Messages[n-1]
		if string(m.Content) == `""` {
			m.Content = nil
		}
		m.ToolCalls = append(m.ToolCalls, tc)
		return
	}
	t.out.Messages = append(t.out.Messages, chatMessage{Role: "assistant", ToolCalls: []chatToolCall{tc}})
}

func (t *translator) message(at string, it gjson.Result) *apierr.Error {
	role := it.Get("role").Str
	c := it.Get("content")
	if c.Type != gjson.String && !c.IsArray() {
		return apierr.BadRequest(at+".content", "Invalid type for '%s.content': expected a string or an array of content parts.", at)
	}
	switch role {
	case "system", "developer":
		// "developer" is mapped to "system": many chat-only servers reject the newer role.
		text, ok := partsText(c)
		if !ok {
			t.drop(at + ".content.non_text")
		}
		t.out.Messages = append(t.out.Messages, chatMessage{Role: "system", Content: stringJSON(text)})
	case "assistant":
		text, ok := partsText(c)
		if !ok {
			t.drop(at + ".content.non_text")
		}
		t.out.Messages = append(t.out.Messages, chatMessage{Role: "assistant", Content: stringJSON(text)})
	case "user":
		content, aerr := t.userContent(at, c)
		if aerr != nil {
			return aerr
		}
		t.out.Messages = append(t.out.Messages, chatMessage{Role: "user", Content: content})
	default:
		return apierr.BadRequest(at+".role", "Invalid value for '%s.role': expected one of user, assistant, system or developer.", at)
	}
	return nil
}

// userContent maps user parts to chat parts: text, images by URL or data URL, and
// files sent inline. Uploaded-file references (file_id) mean nothing to another
// provider and are dropped.
func (t *translator) userContent(at string, c gjson.Result) (json.RawMessage, *apierr.Error) {
	if c.Type == gjson.String {
		return stringJSON(c.Str), nil
	}
	var b []byte
	b = append(b, '[')
	n := 0
	add := func(part []byte) {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, part...)
		n++
	}
	for j, p := range c.Array() {
		pat := at + ".content[" + strconv.Itoa(j) + "]"
		switch typ := p.Get("type").Str; typ {
		case "input_text", "output_text", "text":
			add(mustJSON(map[string]string{"type": "text", "text": p.Get("text").Str}))
		case "input_image":
			url := p.Get("image_url")
			if url.Type == gjson.String && url.Str != "" {
				img := map[string]string{"url": url.Str}
				if d := p.Get("detail").Str; d != "" {
					img["detail"] = d
				}
				add(mustJSON(map[string]any{"type": "image_url", "image_url": img}))
			} else {
				t.drop(pat + ".file_id")
			}
		case "input_file":
			if fd := p.Get("file_data").Str; fd != "" {
				f := map[string]string{"file_data": fd}
				if name := p.Get("filename").Str; name != "" {
					f["filename"] = name
				}
				add(mustJSON(map[string]any{"type": "file", "file": f}))
			} else if p.Get("file_url").Exists() {
				t.drop(pat + ".file_url")
			} else {
				t.drop(pat + ".file_id")
			}
		default:
			if typ == "" {
				typ = "unknown"
			}
			t.drop(pat + "." + typ)
		}
	}
	if n == 0 {
		return stringJSON(""), nil
	}
	return append(b, ']'), nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// tools maps function tools as they are, custom tools to one-string-argument
// functions, and flattens namespaces; built-in tools (web_search, file_search,
// code_interpreter, ...) run inside OpenAI and are dropped. It returns the names of
// the custom tools.
func (t *translator) tools(list []json.RawMessage) (map[string]bool, *apierr.Error) {
	var custom map[string]bool
	var add func(at string, tool gjson.Result, nested bool)
	add = func(at string, v gjson.Result, nested bool) {
		switch typ := v.Get("type").Str; typ {
		case "function":
			def := chatToolDef{Name: v.Get("name").Str, Description: v.Get("description").Str}
			if p := v.Get("parameters"); p.Exists() && p.Type != gjson.Null {
				def.Parameters = json.RawMessage(p.Raw)
			} else {
				def.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
			}
			if s := v.Get("strict"); s.Type == gjson.True || s.Type == gjson.False {
				b := s.Bool()
				def.Strict = &b
			}
			t.out.Tools = append(t.out.Tools, chatTool{Type: "function", Function: def})
		case "custom":
			name := v.Get("name").Str
			if custom == nil {
				custom = make(map[string]bool)
			}
			custom[name] = true
			t.out.Tools = append(t.out.Tools, chatTool{Type: "function", Function: chatToolDef{
				Name: name, Description: customDescription(v), Parameters: customParams}})
		case "namespace":
			if nested {
				t.drop(at)
				return
			}
			for j, inner := range v.Get("tools").Array() {
				add(at+".tools["+strconv.Itoa(j)+"]", inner, true)
			}
		default:
			if typ == "" {
				typ = "unknown"
			}
			t.drop(at + "." + typ)
		}
	}
	for i, raw := range list {
		v := gjson.ParseBytes(raw)
		at := "tools[" + strconv.Itoa(i) + "]"
		if !v.IsObject() {
			return nil, apierr.BadRequest(at, "Invalid type for '%s': expected an object.", at)
		}
		if typ := v.Get("type").Str; (typ == "function" || typ == "custom") && v.Get("name").Str == "" {
			return nil, apierr.BadRequest(at+".name", "Missing required parameter: '%s.name'.", at)
		}
		add(at, v, false)
	}
	return custom, nil
}

// customDescription tells the model, which now sees a plain function, what the
// freeform input must look like: the tool's grammar when it has one.
func customDescription(v gjson.Result) string {
	d := v.Get("description").Str
	f := v.Get("format")
	if f.Get("type").Str == "grammar" {
		def := f.Get("definition").Str
		if def != "" {
			syntax := f.Get("syntax").Str
			if syntax == "" {
				syntax = "lark"
			}
			d += "\n\nPass the input as the string argument \"input\"; it must match this " + syntax + " grammar:\n" + def
		}
	}
	return d
}

func (t *translator) toolChoice(raw json.RawMessage, custom map[string]bool) *apierr.Error {
	if !isSet(raw) {
		return nil
	}
	if len(t.out.Tools) == 0 {
		// Chat rejects a tool_choice without tools (all of them may have been dropped).
		t.drop("tool_choice")
		return nil
	}
	v := gjson.ParseBytes(raw)
	if v.Type == gjson.String {
		switch v.Str {
		case "auto", "none", "required":
			t.out.ToolChoice = stringJSON(v.Str)
			return nil
		}
		return apierr.BadRequest("tool_choice", "Invalid value for 'tool_choice': expected auto, none, required or an object.")
	}
	switch typ := v.Get("type").Str; typ {
	case "function", "custom":
		name := v.Get("name").Str
		if name == "" {
			return apierr.BadRequest("tool_choice.name", "Missing required parameter: 'tool_choice.name'.")
		}
		t.out.ToolChoice = mustJSON(map[string]any{"type": "function", "function": map[string]string{"name": name}})
	case "allowed_tools":
		mode := v.Get("mode").Str
		if mode != "required" {
			mode = "auto"
		}
		t.out.ToolChoice = stringJSON(mode)
		t.drop("tool_choice.tools")
	default:
		t.drop("tool_choice." + typ)
	}
	return nil
}

func (t *translator) textFormat(raw json.RawMessage) *apierr.Error {
	if !isSet(raw) {
		return nil
	}
	v := gjson.ParseBytes(raw)
	switch typ := v.Get("type").Str; typ {
	case "text", "":
	case "json_object":
		t.out.ResponseFormat = json.RawMessage(`{"type":"json_object"}`)
	case "json_schema":
		name := v.Get("name").Str
		if name == "" {
			return apierr.BadRequest("text.format.name", "Missing required parameter: 'text.format.name'.")
		}
		js := map[string]any{"name": name}
		if s := v.Get("schema"); s.Exists() {
			js["schema"] = json.RawMessage(s.Raw)
		}
		if s := v.Get("strict"); s.Type == gjson.True || s.Type == gjson.False {
			js["strict"] = s.Bool()
		}
		if d := v.Get("description").Str; d != "" {
			js["description"] = d
		}
		t.out.ResponseFormat = mustJSON(map[string]any{"type": "json_schema", "json_schema": js})
	default:
		t.drop("text.format." + typ)
	}
	return nil
}
