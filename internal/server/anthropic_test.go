package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
)

// TestAnthropicBehindTheOpenAISDK drives Claude-shaped traffic end to end: the SDK
// talks OpenAI to the gateway, the gateway talks Anthropic to a fake replaying
// recorded Messages API answers.
func TestAnthropicBehindTheOpenAISDK(t *testing.T) {
	plain := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-nonstream-text.httprr")[0]
	tools := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-stream-two-tool-use.httprr")[0]
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/v1/messages" || r.Header.Get("X-Api-Key") != "sk-ant-test" || r.Header.Get("Anthropic-Version") == "" {
			w.WriteHeader(400)
			return
		}
		if gjson.GetBytes(body, "stream").Bool() {
			testutil.Replay(tools, 0)(w, r, body)
			return
		}
		testutil.Replay(plain, 0)(w, r, body)
	})
	g := startGateway(t, `
[auth]
enabled = false
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "`+u.URL+`"
api_key = "sk-ant-test"
models = ["claude-sonnet-4-5"]
`, nil)
	c := g.client()
	ctx := context.Background()
	p := openai.ChatCompletionNewParams{Model: "claude-sonnet-4-5", Messages: []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage("be brief"), openai.UserMessage("hello")}}
	res, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	want := gjson.GetBytes(plain.Body, "content.0.text").String()
	if res.Choices[0].Message.Content != want || res.Model != "claude-sonnet-4-5" || res.Choices[0].FinishReason != "stop" ||
		!strings.HasPrefix(res.ID, "chatcmpl-") || res.Usage.TotalTokens == 0 {
		t.Fatalf("translated answer %+v", res)
	}
	sent := u.Last(t).Body
	if gjson.GetBytes(sent, "system.0.text").String() != "be brief" || gjson.GetBytes(sent, "max_tokens").Int() == 0 {
		t.Fatalf("anthropic request %s", sent)
	}

	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := c.Chat.Completions.NewStreaming(ctx, p)
	acc := openai.ChatCompletionAccumulator{}
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 2 || acc.Choices[0].FinishReason != "tool_calls" || acc.Usage.CompletionTokens == 0 {
		t.Fatalf("stream: %d calls, finish %q, usage %+v", len(calls), acc.Choices[0].FinishReason, acc.Usage)
	}
	for _, call := range calls {
		if call.ID == "" || call.Function.Name == "" || !gjson.Valid(call.Function.Arguments) {
			t.Fatalf("tool call %+v", call)
		}
	}
	// Embeddings are not an Anthropic feature: a clear 400.
	status, _, body := g.do("POST", "/v1/embeddings", `{"model":"claude-sonnet-4-5","input":"x"}`, nil)
	if status != 400 || !strings.Contains(gjson.GetBytes(body, "error.message").String(), "embeddings") {
		t.Fatalf("embeddings: %d %s", status, body)
	}
}
