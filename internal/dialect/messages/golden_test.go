package messages

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (run with -update after checking):\n got %s\nwant %s", name, got, want)
	}
}

// TestStreamGolden pins the complete event stream made from each recorded chat stream.
func TestStreamGolden(t *testing.T) {
	for _, tc := range []struct {
		file   string
		stream int
		golden string
	}{
		{"chat-stream-tool-call-then-text.yaml", 0, "tool-call.messages.sse"},
		{"chat-stream-tool-call-then-text.yaml", 1, "text-after-tool.messages.sse"},
		{"chat-stream-text-include-usage.httprr", 0, "text-include-usage.messages.sse"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out := encode(t, "claude-sonnet-4-5", chatChunks(t, tc.file)[tc.stream], finishWith(provider.Usage{}))
			if _, err := parseFrames(out); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, out)
		})
	}
}

// TestFromChatGolden pins the Message made from each recorded chat answer.
func TestFromChatGolden(t *testing.T) {
	for _, name := range []string{"chat-nonstream-text", "chat-nonstream-tool-call"} {
		t.Run(name, func(t *testing.T) {
			body := testutil.ReadHTTPRR(t, "openai", name+".httprr")[0].Body
			u := provider.Usage{PromptTokens: int(gjson.GetBytes(body, "usage.prompt_tokens").Int()),
				CompletionTokens: int(gjson.GetBytes(body, "usage.completion_tokens").Int()), Reported: true}
			out, err := FromChat(body, "claude-sonnet-4-5", u)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".message.json", append(out, '\n'))
		})
	}
}

// TestToChatProviderGoldens converts every Anthropic request the Anthropic provider's
// own translator produced (testdata/anthropic/requests) back to chat, and checks the
// invariants chat providers enforce: valid for the OpenAI SDK, every tool_use id kept,
// and every tool message directly after the assistant message that called it.
func TestToChatProviderGoldens(t *testing.T) {
	files, err := filepath.Glob(testutil.Testdata("anthropic", "requests", "*.anthropic.golden.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			chat, _, err := ToChat(body)
			if err != nil {
				t.Fatal(err)
			}
			var p openai.ChatCompletionNewParams
			if err := json.Unmarshal(chat, &p); err != nil {
				t.Fatalf("openai-go: %v", err)
			}
			for _, id := range gjson.GetBytes(body, `messages.#.content.#(type=="tool_use")#.id|@flatten`).Array() {
				if !strings.Contains(string(chat), `"id":"`+id.Str+`"`) {
					t.Errorf("tool_use %s lost", id.Str)
				}
			}
			pending := map[string]bool{}
			prev := ""
			for i, m := range gjson.GetBytes(chat, "messages").Array() {
				role := m.Get("role").Str
				if role == "tool" {
					if prev != "assistant" && prev != "tool" {
						t.Errorf("message %d: tool message after %s", i, prev)
					}
					if !pending[m.Get("tool_call_id").Str] {
						t.Errorf("message %d: result for unknown call %s", i, m.Get("tool_call_id").Str)
					}
					delete(pending, m.Get("tool_call_id").Str)
				}
				for _, tc := range m.Get("tool_calls").Array() {
					pending[tc.Get("id").Str] = true
				}
				prev = role
			}
		})
	}
}
