package messages

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/testutil"
)

func decodeMessage(t *testing.T, b []byte) anthropic.Message {
	t.Helper()
	var m anthropic.Message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("SDK cannot decode %s: %v", b, err)
	}
	return m
}

func TestFromChatCaptures(t *testing.T) {
	ex := testutil.ReadHTTPRR(t, "openai", "chat-nonstream-tool-call.httprr")[0]
	out, err := FromChat(ex.Body, "claude-x", provider.Usage{PromptTokens: 81, CompletionTokens: 14, Reported: true})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, out, `{"id":"msg_C6coS1jncfSG1hcFv7v36PkpgHlBq","type":"message","role":"assistant","model":"claude-x",
		"content":[{"type":"tool_use","id":"call_olc8qHf1RDItRqwuEBNjsu3B","name":"getCurrentWeather","input":{"location":"Boston"}}],
		"stop_reason":"tool_use","stop_sequence":null,
		"usage":{"input_tokens":81,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":14}}`)
	m := decodeMessage(t, out)
	if m.StopReason != anthropic.StopReasonToolUse || m.Content[0].Name != "getCurrentWeather" || string(m.Content[0].Input) != `{"location":"Boston"}` {
		t.Errorf("%+v", m)
	}

	// Without the gateway's usage, the answer's own counts are used.
	out, _ = FromChat(ex.Body, "claude-x", provider.Usage{})
	if m := decodeMessage(t, out); m.Usage.InputTokens != 81 || m.Usage.OutputTokens != 14 {
		t.Errorf("fallback usage %+v", m.Usage)
	}

	ex = testutil.ReadHTTPRR(t, "openai", "chat-nonstream-text.httprr")[0]
	out, err = FromChat(ex.Body, "claude-x", provider.Usage{PromptTokens: 100, CompletionTokens: 7, CachedTokens: 60, CacheWriteTokens: 30, Reported: true})
	if err != nil {
		t.Fatal(err)
	}
	m = decodeMessage(t, out)
	if len(m.Content) != 1 || m.Content[0].Type != "text" || m.Content[0].Text == "" || m.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("%s", out)
	}
	if m.Usage.InputTokens != 10 || m.Usage.CacheReadInputTokens != 60 || m.Usage.CacheCreationInputTokens != 30 || m.Usage.OutputTokens != 7 {
		t.Errorf("usage %+v", m.Usage)
	}
}

func TestFromChatShapes(t *testing.T) {
	for _, tc := range []struct{ name, chat, want string }{
		{"thinking, bad args, length",
			`{"id":"x1","choices":[{"message":{"role":"assistant","reasoning_content":"ponder","content":"Hi","tool_calls":[
				{"id":"t1","type":"function","function":{"name":"a","arguments":"{\"k\": 1"}},
				{"type":"function","function":{"name":"b","arguments":""}}]},"finish_reason":"length"}]}`,
			`{"id":"msg_x1","type":"message","role":"assistant","model":"m","content":[
				{"type":"thinking","thinking":"ponder","signature":""},{"type":"text","text":"Hi"},
				{"type":"tool_use","id":"t1","name":"a","input":{}},{"type":"tool_use","id":"ID","name":"b","input":{}}],
				"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"refusal",
			`{"id":"chatcmpl-r","choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"content_filter"}]}`,
			`{"id":"msg_r","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"I can't help with that."}],
				"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"content parts",
			`{"id":"chatcmpl-p","choices":[{"message":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"finish_reason":"stop"}]}`,
			`{"id":"msg_p","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ab"}],
				"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"no choices",
			`{"id":"chatcmpl-e","choices":[]}`,
			`{"id":"msg_e","type":"message","role":"assistant","model":"m","content":[],
				"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := FromChat([]byte(tc.chat), "m", provider.Usage{})
			if err != nil {
				t.Fatal(err)
			}
			// Generated tool ids are random; pin them for the comparison.
			m := decodeMessage(t, out)
			for _, b := range m.Content {
				if b.Type == "tool_use" && strings.HasPrefix(b.ID, "toolu_") {
					out = []byte(strings.Replace(string(out), b.ID, "ID", 1))
				}
			}
			jsonEqual(t, out, tc.want)
		})
	}
	if _, err := FromChat([]byte(`{"id":`), "m", provider.Usage{}); err == nil {
		t.Error("invalid JSON: want an error")
	}
}

// TestRoundTrip: a Messages request through ToChat, a chat answer through FromChat,
// and the answer sent back as the next turn's history through ToChat again keeps the
// tool call's id, name and arguments.
func TestRoundTrip(t *testing.T) {
	chatAnswer := testutil.ReadHTTPRR(t, "openai", "chat-nonstream-tool-call.httprr")[0].Body
	msg, err := FromChat(chatAnswer, "claude-x", provider.Usage{})
	if err != nil {
		t.Fatal(err)
	}
	m := decodeMessage(t, msg)
	// ToParam is how SDK users send an answer back as history.
	asst, err := json.Marshal(m.ToParam())
	if err != nil {
		t.Fatal(err)
	}
	next := `{"model":"claude-x","max_tokens":50,"messages":[{"role":"user","content":"weather in Boston?"},
		` + string(asst) + `,
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + m.Content[0].ID + `","content":"72F"}]}]}`
	chat, dropped, err := ToChat([]byte(next))
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, chat, `{"model":"claude-x","messages":[{"role":"user","content":"weather in Boston?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"call_olc8qHf1RDItRqwuEBNjsu3B","type":"function","function":{"name":"getCurrentWeather","arguments":"{\"location\":\"Boston\"}"}}]},
		{"role":"tool","tool_call_id":"call_olc8qHf1RDItRqwuEBNjsu3B","content":"72F"}],"max_tokens":50}`)
	if len(dropped) != 0 {
		t.Errorf("dropped %q", dropped)
	}
}

func FuzzFromChat(f *testing.F) {
	f.Add([]byte(`{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"hi","reasoning_content":"r","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3}}`))
	f.Add([]byte(`{"choices":[{"message":{"content":[{"type":"text","text":"\u00e9"}],"refusal":"no"}}]}`))
	f.Fuzz(func(t *testing.T, chat []byte) {
		out, err := FromChat(chat, "m", provider.Usage{})
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("invalid JSON out of %q: %v\n%s", chat, err, out)
		}
	})
}
