package responses

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestInspect(t *testing.T) {
	tests := []struct {
		body   string
		param  string // "" = accepted
		stream bool
		bad    bool
	}{
		{body: `{"model":"m","input":"hi"}`},
		{body: `{"model":"m","input":[{"role":"user","content":"hi"}],"stream":true}`, stream: true},
		{body: `{"model":"m","previous_response_id":"resp_1"}`},
		{body: `{"model":"m","conversation":"conv_1"}`},
		{body: `{"model":"m","input":"x","stream":null}`},
		{body: `{"input":"hi"}`, param: "model", bad: true},
		{body: `{"model":"","input":"hi"}`, param: "model", bad: true},
		{body: `{"model":5,"input":"hi"}`, param: "model", bad: true},
		{body: `{"model":"m"}`, param: "input", bad: true},
		{body: `{"model":"m","input":5}`, param: "input", bad: true},
		{body: `{"model":"m","input":"x","stream":"yes"}`, param: "stream", bad: true},
		{body: `[1]`, bad: true},
		{body: `{"model":"m","input":"x"} trailing`, bad: true},
	}
	for _, tt := range tests {
		model, stream, err := Inspect([]byte(tt.body))
		if (err != nil) != tt.bad {
			t.Fatalf("%s: err %v", tt.body, err)
		}
		if err != nil {
			if err.Status != 400 || err.Param != tt.param || err.Type != apierr.TypeInvalidRequest {
				t.Fatalf("%s: %+v", tt.body, err)
			}
			continue
		}
		if model != "m" || stream != tt.stream {
			t.Fatalf("%s: model %q stream %v", tt.body, model, stream)
		}
	}
}

// TestToChatGolden translates recorded Responses requests and compares with the
// golden chat bodies (go test -update rewrites them).
func TestToChatGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/request-*.json")
	if len(files) == 0 {
		t.Fatal("no recorded requests")
	}
	wantDropped := map[string][]string{
		"request-custom-tool-followup.json":   {"input[1].reasoning", "include"},
		"request-function-call-followup.json": nil,
	}
	for _, f := range files {
		name := filepath.Base(f)
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		chat, dropped, err := ToChat(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(dropped, wantDropped[name]) {
			t.Errorf("%s: dropped %q, want %q", name, dropped, wantDropped[name])
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, chat, "", "  "); err != nil {
			t.Fatalf("%s: invalid chat JSON: %v", name, err)
		}
		pretty.WriteByte('\n')
		golden := filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".json")+".chat.json")
		if *update {
			if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if !bytes.Equal(pretty.Bytes(), want) {
			t.Errorf("%s: chat body differs from %s:\n%s", name, golden, pretty.Bytes())
		}
	}
}

func TestToChatMapping(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    map[string]string // gjson path -> raw JSON value in the chat body
		dropped []string
	}{
		{"string input and instructions",
			`{"model":"m","instructions":"Be brief.","input":"hi","max_output_tokens":50,"temperature":0.2,"top_p":0.9,"user":"u1"}`,
			map[string]string{"messages": `[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]`,
				"max_tokens": "50", "temperature": "0.2", "top_p": "0.9", "user": `"u1"`, "stream": "", "stream_options": ""}, nil},
		{"stream asks for usage",
			`{"model":"m","input":"hi","stream":true}`,
			map[string]string{"stream": "true", "stream_options": `{"include_usage":true}`}, nil},
		{"safety_identifier becomes user; metadata and store are the gateway's",
			`{"model":"m","input":"hi","safety_identifier":"s1","metadata":{"a":"b"},"store":false}`,
			map[string]string{"user": `"s1"`, "metadata": "", "store": ""}, nil},
		{"message roles and parts",
			`{"model":"m","input":[
				{"type":"message","role":"developer","content":[{"type":"input_text","text":"dev"}]},
				{"role":"user","content":[{"type":"input_text","text":"look"},{"type":"input_image","image_url":"https://x/y.png","detail":"low"},{"type":"input_image","file_id":"file_1"},{"type":"input_file","file_data":"data:application/pdf;base64,QQ==","filename":"a.pdf"},{"type":"input_file","file_id":"file_2"}]},
				{"type":"message","role":"assistant","content":[{"type":"output_text","text":"seen","annotations":[]}]}]}`,
			map[string]string{
				"messages.0":         `{"role":"system","content":"dev"}`,
				"messages.1.content": `[{"text":"look","type":"text"},{"image_url":{"detail":"low","url":"https://x/y.png"},"type":"image_url"},{"file":{"file_data":"data:application/pdf;base64,QQ==","filename":"a.pdf"},"type":"file"}]`,
				"messages.2":         `{"role":"assistant","content":"seen"}`},
			[]string{"input[1].content[2].file_id", "input[1].content[4].file_id"}},
		{"function calls merge, outputs become tool messages, reasoning and unknown items dropped",
			`{"model":"m","input":[
				{"role":"user","content":"go"},
				{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"x"},
				{"type":"function_call","call_id":"c1","name":"a","arguments":"{\"x\":1}"},
				{"type":"function_call","call_id":"c2","name":"b","arguments":""},
				{"type":"function_call_output","call_id":"c1","output":"one"},
				{"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"two"}]},
				{"type":"web_search_call","id":"ws_1","status":"completed"},
				{"type":"item_reference","id":"msg_9"}]}`,
			map[string]string{
				"messages.1": `{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"a","arguments":"{\"x\":1}"}},{"id":"c2","type":"function","function":{"name":"b","arguments":"{}"}}]}`,
				"messages.2": `{"role":"tool","content":"one","tool_call_id":"c1"}`,
				"messages.3": `{"role":"tool","content":"two","tool_call_id":"c2"}`,
				"messages.#": "4"},
			[]string{"input[1].reasoning", "input[6].web_search_call", "input[7].item_reference"}},
		{"custom tool (Codex apply_patch) becomes a one-string function; calls round-trip",
			`{"model":"m","input":[{"role":"user","content":"patch"},
				{"type":"custom_tool_call","call_id":"c1","name":"apply_patch","input":"*** Begin Patch\n*** End Patch"},
				{"type":"custom_tool_call_output","call_id":"c1","output":"Done!"}],
			"tools":[{"type":"custom","name":"apply_patch","description":"Edit files.","format":{"type":"grammar","syntax":"lark","definition":"start: begin_patch"}}],
			"tool_choice":{"type":"custom","name":"apply_patch"}}`,
			map[string]string{
				"tools.0.function.name":                      `"apply_patch"`,
				"tools.0.function.parameters":                `{"type":"object","properties":{"input":{"type":"string"}},"required":["input"]}`,
				"tools.0.function.description":               `"Edit files.\n\nPass the input as the string argument \"input\"; it must match this lark grammar:\nstart: begin_patch"`,
				"messages.1.tool_calls.0.function.arguments": `"{\"input\":\"*** Begin Patch\\n*** End Patch\"}"`,
				"messages.2":  `{"role":"tool","content":"Done!","tool_call_id":"c1"}`,
				"tool_choice": `{"function":{"name":"apply_patch"},"type":"function"}`},
			nil},
		{"function, namespace and built-in tools; strict, parallel, effort, json_schema",
			`{"model":"m","input":"q","parallel_tool_calls":false,"reasoning":{"effort":"high","summary":"auto"},
			"tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"},"strict":true},
				{"type":"web_search"},
				{"type":"namespace","name":"mcp__fs","description":"files","tools":[{"type":"function","name":"mcp__fs__read","parameters":{"type":"object","properties":{"p":{"type":"string"}}}}]},
				{"type":"file_search","vector_store_ids":["v"]}],
			"tool_choice":"required",
			"text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true},"verbosity":"low"}}`,
			map[string]string{
				"tools.#":               "2",
				"tools.0":               `{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}}`,
				"tools.1.function.name": `"mcp__fs__read"`,
				"tool_choice":           `"required"`,
				"parallel_tool_calls":   "false",
				"reasoning_effort":      `"high"`,
				"response_format":       `{"json_schema":{"name":"out","schema":{"type":"object"},"strict":true},"type":"json_schema"}`,
			},
			[]string{"tools[1].web_search", "tools[3].file_search", "text.verbosity", "reasoning.summary"}},
		{"json_object; tool_choice without any usable tool is dropped",
			`{"model":"m","input":"q","text":{"format":{"type":"json_object"}},"tools":[{"type":"web_search"}],"tool_choice":"auto","parallel_tool_calls":true}`,
			map[string]string{"response_format": `{"type":"json_object"}`, "tools": "", "tool_choice": "", "parallel_tool_calls": ""},
			[]string{"tools[0].web_search", "tool_choice", "parallel_tool_calls"}},
		{"unresolved previous_response_id and other fields are reported",
			`{"model":"m","input":"q","previous_response_id":"resp_1","include":["reasoning.encrypted_content"],"truncation":"auto","service_tier":"flex","prompt_cache_key":"k"}`,
			map[string]string{"messages.#": "1"},
			[]string{"previous_response_id", "include", "truncation", "service_tier", "prompt_cache_key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chat, dropped, err := ToChat([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !gjson.ValidBytes(chat) {
				t.Fatalf("invalid JSON %s", chat)
			}
			if gjson.GetBytes(chat, "model").Str != "m" {
				t.Fatalf("model lost: %s", chat)
			}
			for path, want := range tt.want {
				got := gjson.GetBytes(chat, path).Raw
				if got != want {
					t.Errorf("%s = %s, want %s\nin %s", path, got, want, chat)
				}
			}
			if !slices.Equal(dropped, tt.dropped) {
				t.Errorf("dropped %q, want %q", dropped, tt.dropped)
			}
		})
	}
}

func TestToChatErrors(t *testing.T) {
	tests := []struct{ body, param string }{
		{`{"input":"x"}`, "model"},
		{`not json`, ""},
		{`{"model":"m","input":5}`, "input"},
		{`{"model":"m","input":[5]}`, "input[0]"},
		{`{"model":"m","input":[{"role":"user","content":5}]}`, "input[0].content"},
		{`{"model":"m","input":[{"role":"tool","content":"x"}]}`, "input[0].role"},
		{`{"model":"m","input":[{"type":"function_call","name":"f"}]}`, "input[0]"},
		{`{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id"},
		{`{"model":"m","input":[{"content":"x"}]}`, "input[0].type"},
		{`{"model":"m","input":"x","tools":"f"}`, "tools"},
		{`{"model":"m","input":"x","tools":[{"type":"function"}]}`, "tools[0].name"},
		{`{"model":"m","input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":"sometimes"}`, "tool_choice"},
		{`{"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}`, "text.format.name"},
		{`{"model":"m","input":"x","instructions":5}`, "instructions"},
		{`{"model":"m","input":"x","background":true}`, "background"},
		{`{"model":"m","input":[]}`, "input"},
	}
	for _, tt := range tests {
		_, _, err := ToChat([]byte(tt.body))
		e := apierr.As(err)
		if e == nil || e.Status != 400 || e.Param != tt.param || e.Message == "" {
			t.Errorf("%s: %#v, want a 400 naming %q", tt.body, err, tt.param)
		}
	}
}

// TestToChatSDKParams builds requests with the official SDK's param types, so the
// shapes ToChat reads are the ones real clients send.
func TestToChatSDKParams(t *testing.T) {
	output := responses.ResponseInputItemParamOfFunctionCallOutput("18C")
	output.OfFunctionCallOutput.CallID = openai.String("call_1")
	params := responses.ResponseNewParams{
		Model:        shared.ResponsesModel("gpt-5"),
		Instructions: openai.String("Answer in French."),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("Quel temps fait-il ?", responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfFunctionCall(`{"city":"Paris"}`, "call_1", "weather"),
			output,
		}},
		Tools: []responses.ToolUnionParam{
			responses.ToolParamOfFunction("weather", map[string]any{"type": "object",
				"properties": map[string]any{"city": map[string]any{"type": "string"}}}, true),
			{OfCustom: &responses.CustomToolParam{Name: "apply_patch", Description: openai.String("patch")}},
		},
		MaxOutputTokens: openai.Int(300),
		Reasoning:       shared.ReasoningParam{Effort: shared.ReasoningEffortLow},
	}
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	chat, dropped, err := ToChat(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	checks := map[string]string{
		"model":                   `"gpt-5"`,
		"messages.0":              `{"role":"system","content":"Answer in French."}`,
		"messages.1":              `{"role":"user","content":"Quel temps fait-il ?"}`,
		"messages.2.tool_calls.0": `{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}`,
		"messages.3":              `{"role":"tool","content":"18C","tool_call_id":"call_1"}`,
		"tools.0.function.strict": "true",
		"tools.1.function.name":   `"apply_patch"`,
		"max_tokens":              "300",
		"reasoning_effort":        `"low"`,
	}
	for path, want := range checks {
		if got := gjson.GetBytes(chat, path).Raw; got != want {
			t.Errorf("%s = %s, want %s\nfrom %s", path, got, want, body)
		}
	}
	if len(dropped) != 0 {
		t.Errorf("dropped %q", dropped)
	}
	if r := ParseRequest(body); !r.isCustom("apply_patch") || r.isCustom("weather") {
		t.Error("custom tool bookkeeping lost")
	}
}

// TestToChatSDKCodexTurn is a Codex-like turn built with the SDK: image input, a
// reasoning item, a custom tool call and its output.
func TestToChatSDKCodexTurn(t *testing.T) {
	img := responses.ResponseInputContentParamOfInputImage(responses.ResponseInputImageDetailHigh)
	img.OfInputImage.ImageURL = openai.String("data:image/png;base64,iVBORw0KGgo=")
	params := responses.ResponseNewParams{
		Model: "gpt-5-codex",
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
				{OfInputText: &responses.ResponseInputTextParam{Text: "fix the bug shown here"}}, img,
			}, responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfReasoning("rs_1", []responses.ResponseReasoningItemSummaryParam{{Text: "plan"}}),
			responses.ResponseInputItemParamOfCustomToolCall("call_p", "*** Begin Patch\n*** End Patch\n", "apply_patch"),
			responses.ResponseInputItemParamOfCustomToolCallOutput("call_p", "Success."),
		}},
		Tools: []responses.ToolUnionParam{{OfCustom: &responses.CustomToolParam{Name: "apply_patch"}}},
		Store: openai.Bool(false),
	}
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	chat, dropped, err := ToChat(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	checks := map[string]string{
		"messages.0.content.1":                       `{"image_url":{"detail":"high","url":"data:image/png;base64,iVBORw0KGgo="},"type":"image_url"}`,
		"messages.1.tool_calls.0.function.arguments": `"{\"input\":\"*** Begin Patch\\n*** End Patch\\n\"}"`,
		"messages.2": `{"role":"tool","content":"Success.","tool_call_id":"call_p"}`,
		"messages.#": "3",
	}
	for path, want := range checks {
		if got := gjson.GetBytes(chat, path).Raw; got != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
	if !slices.Equal(dropped, []string{"input[1].reasoning"}) {
		t.Errorf("dropped %q", dropped)
	}
}
