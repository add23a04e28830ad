package anthropic

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

func TestGoldenResponses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "responses", "*.anthropic.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no response fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".anthropic.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, u, aerr := translateResponse(raw, "client-model", 1700000000, false)
			if aerr != nil {
				t.Fatal(aerr)
			}
			checkGolden(t, "responses/"+name+".openai.golden.json", out)
			// The official SDK must read it, and the provider Usage must match the body.
			var cc openai.ChatCompletion
			if err := json.Unmarshal(out, &cc); err != nil {
				t.Fatal(err)
			}
			if !u.Reported || int64(u.PromptTokens) != cc.Usage.PromptTokens || int64(u.CompletionTokens) != cc.Usage.CompletionTokens ||
				int64(u.CachedTokens) != cc.Usage.PromptTokensDetails.CachedTokens {
				t.Errorf("usage %+v disagrees with body %+v", u, cc.Usage)
			}
			for _, tc := range cc.Choices[0].Message.ToolCalls {
				if !json.Valid([]byte(tc.Function.Arguments)) {
					t.Errorf("tool call arguments are not JSON: %q", tc.Function.Arguments)
				}
			}
		})
	}
}

func TestResponseUsageWithCache(t *testing.T) {
	raw := readFile(t, "responses/max-tokens-cached.anthropic.json")
	_, u, err := translateResponse(raw, "m", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Usage{PromptTokens: 3210, CompletionTokens: 64, CachedTokens: 3000, CacheWriteTokens: 200, Reported: true,
		ServiceTier: "standard", Model: "claude-sonnet-4-5-20250929"}
	if u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
}

// TestDoNonStream runs the recorded answer through the whole provider: request
// headers, translation, forwarded headers.
func TestDoNonStream(t *testing.T) {
	_, resp, body := httprrResponse(t, "captures/messages-nonstream-thinking-parallel-tool-use.httprr")
	fake := newFake(t, resp.StatusCode, resp.Header, body)
	p := newTestProvider(t, fake.URL)
	call := &provider.Call{Endpoint: provider.Chat, Model: "claude-sonnet-4-5", ClientModel: "smart",
		Body: []byte(`{"model":"smart","messages":[{"role":"user","content":"What's the weather and time in Boston?"}]}`)}
	res, err := p.Do(context.Background(), call)
	if err != nil {
		t.Fatal(err)
	}
	sent := <-fake.gotBody
	var req map[string]any
	_ = json.Unmarshal(sent, &req)
	if req["model"] != "claude-sonnet-4-5" || req["max_tokens"] != float64(8192) || req["stream"] != nil {
		t.Errorf("upstream request %s", sent)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(res.Body, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.ID != "chatcmpl-msg_01PAH28ZD28BrJKtY8YPZzMv" || cc.Model != "smart" || cc.Object != "chat.completion" {
		t.Errorf("envelope id=%q model=%q object=%q", cc.ID, cc.Model, cc.Object)
	}
	if d := time.Since(time.Unix(cc.Created, 0)); d < 0 || d > time.Minute {
		t.Errorf("created %d is not now", cc.Created)
	}
	ch := cc.Choices[0]
	if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 2 ||
		ch.Message.ToolCalls[1].Function.Name != "get_time" || ch.Message.ToolCalls[1].Function.Arguments != `{"location":"Boston"}` {
		t.Errorf("choice %+v", ch)
	}
	if res.Usage != (provider.Usage{PromptTokens: 797, CompletionTokens: 200, Reported: true, ServiceTier: "standard", Model: "claude-sonnet-4-5-20250929"}) {
		t.Errorf("usage %+v", res.Usage)
	}
	h := res.Header
	if h.Get("x-upstream-request-id") != "req_011CXWs7iSL9xT6oejBka3DG" || h.Get("x-ratelimit-limit-requests") != "4000" ||
		h.Get("x-ratelimit-remaining-requests") != "3997" || h.Get("x-ratelimit-remaining-input-tokens") != "2000000" {
		t.Errorf("forwarded headers %v", h)
	}
	// The recorded reset is in the past now: it must read as a zero duration.
	if h.Get("x-ratelimit-reset-tokens") != "0s" {
		t.Errorf("reset %q", h.Get("x-ratelimit-reset-tokens"))
	}
}

func TestForwardHeadersReset(t *testing.T) {
	now := time.Date(2026, 1, 26, 23, 34, 10, 0, time.UTC)
	h := http.Header{}
	h.Set("Anthropic-Ratelimit-Tokens-Reset", "2026-01-26T23:34:11.5Z")
	h.Set("Anthropic-Ratelimit-Requests-Reset", "2026-01-26T23:40:10Z")
	h.Set("Anthropic-Ratelimit-Output-Tokens-Limit", "400000")
	h.Set("Retry-After", "7")
	h.Set("Request-Id", "req_1")
	h.Set("Set-Cookie", "no")
	got := forwardHeaders(h, now)
	want := http.Header{}
	want.Set("x-ratelimit-reset-tokens", "1.5s")
	want.Set("x-ratelimit-reset-requests", "6m0s")
	want.Set("x-ratelimit-limit-output-tokens", "400000")
	want.Set("retry-after", "7")
	want.Set("x-upstream-request-id", "req_1")
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k := range want {
		if got.Get(k) != want.Get(k) {
			t.Errorf("%s = %q, want %q", k, got.Get(k), want.Get(k))
		}
	}
}

func TestDoEmbeddingsIsRejected(t *testing.T) {
	p := newTestProvider(t, "http://127.0.0.1:1")
	_, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Embeddings, Model: "x", Body: []byte(`{"input":"hi"}`)})
	e := apierr.As(err)
	if e == nil || e.Status != 400 || e.Retryable || e.Provider != "claude" ||
		e.Message != "provider claude (anthropic) does not offer embeddings" {
		t.Fatalf("got %#v", err)
	}
}

func TestDoCompletions(t *testing.T) {
	_, resp, body := httprrResponse(t, "captures/messages-nonstream-text.httprr")
	fake := newFake(t, resp.StatusCode, resp.Header, body)
	p := newTestProvider(t, fake.URL)
	res, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Completions, Model: "claude-3-opus-20240229",
		ClientModel: "opus", Body: []byte(`{"model":"opus","prompt":"Hello, how are you?"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var c openai.Completion
	if err := json.Unmarshal(res.Body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Object != "text_completion" || c.ID != "cmpl-msg_014pVpaDLxzAdWjwpuN7rQQX" || c.Model != "opus" ||
		!strings.HasPrefix(c.Choices[0].Text, "Hello! As an AI") || c.Choices[0].FinishReason != "stop" || c.Usage.TotalTokens != 48 {
		t.Errorf("completion %s", res.Body)
	}
	var req map[string]any
	_ = json.Unmarshal(<-fake.gotBody, &req)
	if req["max_tokens"] != float64(4096) {
		t.Errorf("claude-3 default max_tokens not applied: %v", req["max_tokens"])
	}
}

func TestDoHeaderTimeoutButLongStreamsLive(t *testing.T) {
	block := make(chan struct{})
	srv := newSlowServer(t, block)
	p := New(Options{Name: "claude", BaseURL: srv.URL, APIKey: "test-key", Timeout: 100 * time.Millisecond})
	t.Cleanup(p.CloseIdleConnections)

	// Headers never come: a retryable 502 after Timeout.
	start := time.Now()
	_, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "m",
		Body: []byte(`{"messages":[{"role":"user","content":"slow-headers"}]}`)})
	e := apierr.As(err)
	if e == nil || e.Status != 502 || !e.Retryable || e.Cause == nil || !strings.Contains(e.Message, "timed out") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("timeout took %v", time.Since(start))
	}
	close(block)

	// Headers at once, body slower than Timeout: the stream must survive.
	res, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "m", Stream: true,
		Body: []byte(`{"messages":[{"role":"user","content":"slow-body"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Stream.Close()
	var content string
	for {
		chunk, err := res.Stream.Next()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("stream: %v", err)
			}
			break
		}
		var c openai.ChatCompletionChunk
		_ = json.Unmarshal(chunk, &c)
		if len(c.Choices) > 0 {
			content += c.Choices[0].Delta.Content
		}
	}
	if content != "slow" {
		t.Errorf("content %q", content)
	}
}
