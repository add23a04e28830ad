package responses

import (
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

func TestInputItems(t *testing.T) {
	items := gjson.ParseBytes(InputItems([]byte(`{"model":"m","input":"hello"}`)))
	if n := len(items.Array()); n != 1 {
		t.Fatalf("%d items", n)
	}
	it := items.Get("0")
	if !strings.HasPrefix(it.Get("id").Str, "msg_") || it.Get("type").Str != "message" || it.Get("role").Str != "user" ||
		it.Get("status").Str != "completed" || it.Get("content").Raw != `[{"type":"input_text","text":"hello"}]` {
		t.Fatalf("string input: %s", it.Raw)
	}
	body := `{"model":"m","input":[
		{"role":"user","content":"q"},
		{"type":"message","role":"assistant","id":"msg_keep","content":"a"},
		{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
		{"type":"function_call_output","call_id":"c1","output":"r"},
		{"type":"reasoning","id":"rs_1","summary":[]},
		{"type":"item_reference"},
		7]}`
	items = gjson.ParseBytes(InputItems([]byte(body)))
	arr := items.Array()
	if len(arr) != 6 {
		t.Fatalf("%d items: %s", len(arr), items.Raw)
	}
	seen := map[string]bool{}
	for _, it := range arr {
		id := it.Get("id").Str
		if id == "" || seen[id] {
			t.Fatalf("missing or repeated id in %s", items.Raw)
		}
		seen[id] = true
	}
	if arr[1].Get("id").Str != "msg_keep" || arr[1].Get("content").Raw != `[{"type":"output_text","annotations":[],"text":"a"}]` {
		t.Fatalf("assistant: %s", arr[1].Raw)
	}
	if !strings.HasPrefix(arr[2].Get("id").Str, "fc_") || arr[2].Get("call_id").Str != "c1" || arr[3].Get("output").Str != "r" {
		t.Fatalf("calls: %s %s", arr[2].Raw, arr[3].Raw)
	}
	if arr[4].Raw != `{"type":"reasoning","id":"rs_1","summary":[]}` {
		t.Fatalf("reasoning changed: %s", arr[4].Raw)
	}
	if got := string(InputItems([]byte(`not json`))); got != "[]" {
		t.Fatalf("invalid body: %s", got)
	}
	// Stored items are valid input again: ToChat reads them.
	if _, _, err := ToChat([]byte(`{"model":"m","input":` + string(InputItems([]byte(body))) + `}`)); err != nil {
		t.Fatalf("stored items are not valid input: %v", err)
	}
}

// TestConversationRoundTrip follows a two-turn conversation through the gateway's
// steps: translate, answer, store; then continue with previous_response_id.
func TestConversationRoundTrip(t *testing.T) {
	first := []byte(`{"model":"m","instructions":"Be terse.","input":"What is 2+2?",
		"tools":[{"type":"function","name":"calc","parameters":{"type":"object"}}]}`)
	if _, _, err := ToChat(first); err != nil {
		t.Fatal(err)
	}
	answer, err := ParseRequest(first).FromChat([]byte(`{"choices":[{"message":{"content":"Let me compute.",
		"tool_calls":[{"id":"call_9","type":"function","function":{"name":"calc","arguments":"{\"e\":\"2+2\"}"}}]},"finish_reason":"tool_calls"}]}`),
		"m", provider.Usage{})
	if err != nil {
		t.Fatal(err)
	}
	storedInput := InputItems(first)
	respID := gjson.GetBytes(answer, "id").Str

	second := []byte(`{"model":"m","previous_response_id":"` + respID + `","instructions":"Be kind.",
		"input":[{"type":"function_call_output","call_id":"call_9","output":"4"}]}`)
	full, err := WithHistory(second, storedInput, answer)
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(full, "previous_response_id").Exists() {
		t.Fatal("previous_response_id kept")
	}
	chat, dropped, err := ToChat(full)
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 0 {
		t.Fatalf("dropped %q", dropped)
	}
	want := `[{"role":"system","content":"Be kind."},{"role":"user","content":[{"text":"What is 2+2?","type":"text"}]},` +
		`{"role":"assistant","content":"Let me compute.","tool_calls":[{"id":"call_9","type":"function","function":{"name":"calc","arguments":"{\"e\":\"2+2\"}"}}]},` +
		`{"role":"tool","content":"4","tool_call_id":"call_9"}]`
	if got := gjson.GetBytes(chat, "messages").Raw; got != want {
		t.Fatalf("messages\n got %s\nwant %s", got, want)
	}
	// The next turn's stored input holds the whole conversation, ids kept.
	items := gjson.ParseBytes(InputItems(full)).Array()
	if len(items) != 4 || items[0].Get("id").Str != gjson.Get(string(storedInput), "0.id").Str ||
		items[1].Get("id").Str != gjson.GetBytes(answer, "output.0.id").Str {
		t.Fatalf("stored conversation %v", items)
	}
	// A string input continues too, and a bare output array works as prevOutput.
	full, err = WithHistory([]byte(`{"model":"m","input":"thanks"}`), nil, []byte(gjson.GetBytes(answer, "output").Raw))
	if err != nil || gjson.GetBytes(full, "input.#").Int() != 3 || gjson.GetBytes(full, "input.2.content").Str != "thanks" {
		t.Fatalf("string continuation: %s %v", full, err)
	}
	for _, bad := range [][3]string{{`nope`, `[]`, `{}`}, {`{"input":"x"}`, `{}`, `{}`}, {`{"input":"x"}`, `[]`, `{"output":`}} {
		if _, err := WithHistory([]byte(bad[0]), []byte(bad[1]), []byte(bad[2])); err == nil {
			t.Errorf("WithHistory(%q) accepted", bad)
		}
	}
}

func TestStoreAndPrevious(t *testing.T) {
	for body, want := range map[string]bool{`{}`: true, `{"store":true}`: true, `{"store":null}`: true, `{"store":false}`: false} {
		if StoreRequested([]byte(body)) != want {
			t.Errorf("StoreRequested(%s) != %v", body, want)
		}
	}
	if PreviousResponseID([]byte(`{"previous_response_id":"resp_1"}`)) != "resp_1" || PreviousResponseID([]byte(`{}`)) != "" {
		t.Error("PreviousResponseID")
	}
}

func TestPreviousNotFound(t *testing.T) {
	e := PreviousNotFound("resp_1")
	if e.Status != 400 || e.Code != "previous_response_not_found" || e.Param != "previous_response_id" ||
		e.Message != "Previous response with id 'resp_1' not found." {
		t.Fatalf("%+v", e)
	}
}
