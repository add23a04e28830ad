package anthropic

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/apierr"
)

func TestGoldenRequests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "requests", "*.openai.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no request fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".openai.json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				Model  string `json:"model"`
				Stream bool   `json:"stream"`
			}
			if err := json.Unmarshal(body, &head); err != nil {
				t.Fatal(err)
			}
			out, aerr := buildChatRequest(body, head.Model, head.Stream, defaultMaxTokens(head.Model))
			if aerr != nil {
				t.Fatalf("unexpected error: %v", aerr)
			}
			checkGolden(t, "requests/"+name+".anthropic.golden.json", out)
			assertNoEmptyText(t, out)
		})
	}
}

// assertNoEmptyText walks the request: the API rejects any empty text block.
func assertNoEmptyText(t *testing.T, out []byte) {
	t.Helper()
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "text" && x["text"] == "" {
				t.Errorf("empty text block in %s", out)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	_ = json.Unmarshal(out, &v)
	walk(v)
}

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, param, msg string
	}{
		{"n>1", `{"messages":[{"role":"user","content":"hi"}],"n":2}`, "n", "n > 1"},
		{"logprobs", `{"messages":[{"role":"user","content":"hi"}],"logprobs":true}`, "logprobs", "logprobs"},
		{"bad json", `{"messages":[`, "", "could not parse"},
		{"wrong type", `{"messages":"hi"}`, "messages", "could not parse"},
		{"no messages", `{"messages":[]}`, "messages", "at least one"},
		{"only system", `{"messages":[{"role":"system","content":"x"}]}`, "messages", "non-empty"},
		{"bad role", `{"messages":[{"role":"function","content":"x"}]}`, "messages[0].role", "unsupported role"},
		{"bmp image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}}]}]}`,
			"messages[0].content[0].image_url", "image/bmp"},
		{"image not base64", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`,
			"messages[0].content[0].image_url", "base64"},
		{"ftp image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`,
			"messages[0].content[0].image_url", "http(s)"},
		{"audio", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`,
			"messages[0].content[0].type", "input_audio"},
		{"invalid args", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{oops"}}]}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
			"messages[1].tool_calls[0].function.arguments", "JSON object"},
		{"array args", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
			"messages[1].tool_calls[0].function.arguments", "JSON object"},
		{"tool without id", `{"messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id", "tool_call_id"},
		{"custom tool", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type", "custom"},
		{"allowed_tools", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools"}}`,
			"tool_choice", "allowed_tools"},
		{"max_tokens 0", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, "max_tokens", "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildChatRequest([]byte(tt.body), "claude-sonnet-4-5", false, 8192)
			if err == nil {
				t.Fatal("want an error")
			}
			if err.Status != 400 || err.Type != apierr.TypeInvalidRequest || err.Retryable {
				t.Errorf("got %+v, want a non-retryable 400 invalid_request_error", err)
			}
			if err.Param != tt.param || !strings.Contains(err.Message, tt.msg) {
				t.Errorf("got param %q message %q, want param %q message containing %q", err.Param, err.Message, tt.param, tt.msg)
			}
		})
	}
}

func TestCompletionRequest(t *testing.T) {
	out, err := buildCompletionRequest([]byte(`{"model":"m","prompt":["Say hi"],"max_tokens":20,"stop":"END","temperature":2,"echo":false}`),
		"claude-haiku-4-5", true, 8192)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"claude-haiku-4-5","max_tokens":20,"messages":[{"role":"user","content":[{"type":"text","text":"Say hi"}]}],"stop_sequences":["END"],"stream":true,"temperature":1}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	for body, param := range map[string]string{
		`{"prompt":[1,2,3]}`:          "prompt",
		`{"prompt":["a","b"]}`:        "prompt",
		`{"prompt":""}`:               "prompt",
		`{"prompt":"x","n":3}`:        "n",
		`{"prompt":"x","echo":true}`:  "echo",
		`{"prompt":"x","suffix":"y"}`: "suffix",
		`{"prompt":"x","logprobs":2}`: "logprobs",
		`{"prompt":"x","best_of":2}`:  "best_of",
	} {
		if _, err := buildCompletionRequest([]byte(body), "m", false, 8192); err == nil || err.Param != param {
			t.Errorf("%s: got %v, want a 400 on %s", body, err, param)
		}
	}
}

func TestDefaultMaxTokensAndSamplingRules(t *testing.T) {
	for model, want := range map[string]int{
		"claude-3-haiku-20240307":  4096,
		"claude-3-opus-latest":     4096,
		"claude-3-5-haiku-latest":  8192,
		"claude-3-7-sonnet-latest": 8192,
		"claude-sonnet-4-5":        8192,
		"some-proxy-model":         8192,
	} {
		if got := defaultMaxTokens(model); got != want {
			t.Errorf("defaultMaxTokens(%q) = %d, want %d", model, got, want)
		}
	}
	p := New(Options{DefaultMaxTokens: 1234})
	if got := p.MaxTokensDefault("claude-3-haiku-20240307"); got != 1234 {
		t.Errorf("configured default ignored: %d", got)
	}
	for model, want := range map[string]bool{
		"claude-sonnet-4-5":         true,
		"claude-opus-4-1-20250805":  true,
		"claude-haiku-4-5-20251001": true,
		"claude-sonnet-4-20250514":  false,
		"claude-sonnet-4-0":         false,
		"claude-3-7-sonnet-latest":  false,
		"claude-3-5-haiku-20241022": false,
		"gpt-4o":                    false,
	} {
		if got := rejectsTempWithTopP(model); got != want {
			t.Errorf("rejectsTempWithTopP(%q) = %v, want %v", model, got, want)
		}
	}
	for user, personal := range map[string]bool{
		"a@b.co": true, "+1 555 010 2030": true, "5550102030": true,
		"user-1234abcd": false, "42": false, "d0c7f1e2": false,
	} {
		if looksPersonal(user) != personal {
			t.Errorf("looksPersonal(%q) != %v", user, personal)
		}
	}
}
