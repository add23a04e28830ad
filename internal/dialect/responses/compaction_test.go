package responses

import (
	"slices"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

const compactReq = `{"model":"m","stream":true,"tools":[{"type":"function","name":"f"}],"input":[
	{"role":"user","content":"run it"},{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
	{"type":"function_call_output","call_id":"c1","output":"ok"},{"type":"compaction_trigger"}]}`

// TestCompactionRoundTrip: a compaction_trigger asks the chat model for a summary
// (no tools), the answer is one compaction item in the body and in the stream, and
// the item sent back becomes the summary as a user message.
func TestCompactionRoundTrip(t *testing.T) {
	chat, dropped, err := ToChat([]byte(compactReq))
	if err != nil {
		t.Fatal(err)
	}
	msgs := gjson.GetBytes(chat, "messages")
	if gjson.GetBytes(chat, "tools").Exists() || msgs.Get("#").Int() != 4 || msgs.Get("3.content").Str != compactionPrompt {
		t.Fatalf("%s", chat)
	}
	if !slices.Equal(dropped, []string{"tools (compaction: the summary is asked for without tools)"}) {
		t.Errorf("dropped %q", dropped)
	}
	r := ParseRequest([]byte(compactReq))
	body, err := r.FromChat([]byte(`{"choices":[{"message":{"role":"assistant","content":"S: \"ran\" it"},"finish_reason":"stop"}]}`), "m", provider.Usage{})
	if err != nil {
		t.Fatal(err)
	}
	item := gjson.GetBytes(body, "output")
	if item.Get("#").Int() != 1 || item.Get("0.type").Str != "compaction" {
		t.Fatalf("%s", body)
	}
	enc := r.NewStreamEncoder("m")
	var sse []byte
	for _, c := range []string{`{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"S: \"ran\""}}]}`, `{"choices":[{"index":0,"delta":{"content":" it"},"finish_reason":"stop"}]}`} {
		sse = enc.Chunk(sse, []byte(c))
	}
	sse = enc.Finish(sse, provider.Usage{})
	if strings.Contains(string(sse), "output_text") || gjson.GetBytes(enc.Response(), "output.#").Int() != 1 ||
		gjson.GetBytes(enc.Response(), "output.0.encrypted_content").Str != item.Get("0.encrypted_content").Str {
		t.Fatalf("stream:\n%s", sse)
	}
	next := `{"model":"m","input":[` + item.Get("0").Raw + `,{"role":"user","content":"go on"}]}`
	chat, dropped, err = ToChat([]byte(next))
	if err != nil || len(dropped) != 0 || gjson.GetBytes(chat, "messages.0.content").Str != summaryIntro+`S: "ran" it` {
		t.Fatalf("%v %q %s", err, dropped, chat)
	}
	if ParseRequest([]byte(next)).compacting() {
		t.Error("a request carrying a compaction item is not a compaction request")
	}
}

// TestCodexItemsAndFields: items and top-level fields Codex sends that chat cannot
// carry are recorded, never refused; additional_tools join the tools.
func TestCodexItemsAndFields(t *testing.T) {
	body := `{"model":"m","client_metadata":{"x":"y"},"prompt_cache_key":"k","future_knob":1,"store":false,"input":[
		{"type":"agent_message","content":[{"type":"input_text","text":"hi"}]},
		{"type":"additional_tools","tools":[{"type":"function","name":"late"},{"type":"web_search"},5]},
		{"type":"tool_search_call","id":"t"},{"type":"multi_agent_call"},{"type":"context_compaction","encrypted_content":"gAAA"},
		{"type":"local_shell_call","call_id":"l"},{"type":"web_search_call"},{"type":"something_new"},
		{"role":"user","content":"x"}]}`
	chat, dropped, err := ToChat([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"input[0].agent_message", "input[1].tools[2]", "input[2].tool_search_call", "input[3].multi_agent_call",
		"input[4].context_compaction", "input[5].local_shell_call", "input[6].web_search_call", "input[7].something_new",
		"tools[1].web_search", "client_metadata", "prompt_cache_key", "future_knob"}
	if !slices.Equal(dropped, want) {
		t.Errorf("dropped %q\nwant    %q", dropped, want)
	}
	if gjson.GetBytes(chat, "tools.0.function.name").Str != "late" || gjson.GetBytes(chat, "messages.#").Int() != 1 {
		t.Errorf("%s", chat)
	}
}
