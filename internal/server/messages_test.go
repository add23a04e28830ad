package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

// anthropicClient is the official Anthropic SDK pointed at the gateway, without retries.
func (g *gw) anthropicClient(opts ...aoption.RequestOption) anthropic.Client {
	key := g.Key
	if key == "" {
		key = "unused"
	}
	base := []aoption.RequestOption{aoption.WithBaseURL(g.URL), aoption.WithAPIKey(key), aoption.WithMaxRetries(0),
		aoption.WithHTTPClient(&http.Client{Transport: &http.Transport{}})}
	return anthropic.NewClient(append(base, opts...)...)
}

const claudeProvider = `
[auth]
keys = ["sk-test-static-key-0123456789abcdef"]
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "%s"
api_key = "sk-ant-upstream-0123456789"
models = ["claude-sonnet-4-5"]
`

// TestMessagesNativeRelay: an Anthropic SDK client talks Messages to the gateway, which
// relays to an Anthropic fake replaying recorded answers: the client gets the upstream's
// bytes, the upstream gets the client's body and anthropic-* headers with the gateway's key.
func TestMessagesNativeRelay(t *testing.T) {
	plain := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-nonstream-text.httprr")[0]
	tools := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-stream-two-tool-use.httprr")[0]
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/v1/messages" || r.Header.Get("X-Api-Key") != "sk-ant-upstream-0123456789" {
			w.WriteHeader(400)
			return
		}
		if gjson.GetBytes(body, "stream").Bool() {
			testutil.Replay(tools, 0)(w, r, body)
			return
		}
		testutil.Replay(plain, 0)(w, r, body)
	})
	g := startGateway(t, strings.Replace(claudeProvider, "%s", u.URL, 1), nil)
	ctx := context.Background()

	// Raw bytes: the client's body reaches the upstream untouched, the answer comes back untouched.
	body := `{"model":"claude-sonnet-4-5","max_tokens":64,"system":[{"type":"text","text":"a"},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`
	status, hdr, got := g.do("POST", "/v1/messages?beta=true", body, map[string]string{
		"x-api-key": g.Key, "Authorization": "", "anthropic-version": "2023-06-01",
		"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,some-future-beta"})
	if status != 200 || string(got) != string(plain.Body) {
		t.Fatalf("non-stream relay: %d %s\nwant %s", status, got, plain.Body)
	}
	sent := u.Last(t)
	if string(sent.Body) != body || sent.Header.Get("Anthropic-Beta") != "claude-code-20250219,interleaved-thinking-2025-05-14,some-future-beta" ||
		sent.Header.Get("Anthropic-Version") != "2023-06-01" || sent.Query != "beta=true" {
		t.Fatalf("upstream saw %s %v %s", sent.Query, sent.Header, sent.Body)
	}
	if hdr.Get("X-Runestone-Provider") != "claude" {
		t.Fatalf("headers %v", hdr)
	}

	c := g.anthropicClient()
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != gjson.GetBytes(plain.Body, "content.0.text").String() || msg.Usage.InputTokens == 0 {
		t.Fatalf("sdk message %+v", msg)
	}

	// Streamed: the SSE body equals the recorded one frame for frame, event lines included.
	status, _, got = g.do("POST", "/v1/messages", string(tools.RequestBody), map[string]string{"anthropic-version": "2023-06-01"})
	if status != 200 || string(got) != string(tools.Body) {
		t.Fatalf("stream relay: %d\n%s\nwant\n%s", status, got, tools.Body)
	}
	stream := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("tip?"))}})
	acc := anthropic.Message{}
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	var uses int
	for _, b := range acc.Content {
		if b.Type == "tool_use" {
			uses++
		}
	}
	if uses != 2 || acc.StopReason != "tool_use" || acc.Usage.OutputTokens == 0 {
		t.Fatalf("accumulated %+v", acc)
	}
	rows := g.rows(t, 4)
	for _, r := range rows {
		if r.Endpoint != "/v1/messages" || r.PromptTokens == 0 || r.CompletionTokens == 0 || r.Provider != "claude" ||
			r.Dialect != "messages" || r.UpstreamDialect != "messages" {
			t.Fatalf("log row %+v", r)
		}
	}
}

// rows waits until the request log holds n rows and returns them.
func (g *gw) rows(t *testing.T, n int) []store.RequestRow {
	t.Helper()
	st := openStore(t, g.Home)
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, err := st.ListRequests(context.Background(), store.RequestFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) >= n || time.Now().After(deadline) {
			if len(rows) != n {
				t.Fatalf("%d log rows, want %d", len(rows), n)
			}
			return rows
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMessagesUpstreamErrorsRelayed: a provider speaking Messages that refuses gets its
// own status and words to the client (Claude Code matches on them), key redacted.
func TestMessagesUpstreamErrorsRelayed(t *testing.T) {
	rl := testutil.ReadFile(t, "anthropic", "captures", "error-429-rate-limit.body.json")
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(429)
		_, _ = w.Write(rl)
	})
	g := startGateway(t, strings.Replace(claudeProvider, "%s", u.URL, 1)+"[router]\nretries = 0\n", nil)
	status, hdr, got := g.do("POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if status != 429 || string(got) != string(rl) || hdr.Get("Retry-After") != "7" {
		t.Fatalf("%d %v %s", status, hdr, got)
	}
	c := g.anthropicClient()
	_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 8,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("sdk error %v", err)
	}
}

// TestMessagesThroughTheMock: zero config, the Anthropic SDK runs a tool loop against the
// offline mock, translated through chat both ways.
func TestMessagesThroughTheMock(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	c := g.anthropicClient()
	ctx := context.Background()
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
		System:   []anthropic.TextBlockParam{{Text: "be brief"}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "You said: hello there" || msg.StopReason != "end_turn" ||
		msg.Model != "claude-sonnet-4-5" || msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
		t.Fatalf("message %+v", msg)
	}

	tool := anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("weather"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}
	params := anthropic.MessageNewParams{Model: "claude-haiku-4-5", MaxTokens: 100,
		Tools:    []anthropic.ToolUnionParam{{OfTool: &tool}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("call get_weather"))}}
	stream := c.Messages.NewStreaming(ctx, params)
	acc := anthropic.Message{}
	var events []string
	for stream.Next() {
		ev := stream.Current()
		events = append(events, ev.Type)
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.StopReason != "tool_use" || len(acc.Content) != 1 || acc.Content[0].Type != "tool_use" || acc.Content[0].Name != "get_weather" ||
		!strings.Contains(string(acc.Content[0].Input), `"city"`) || acc.Usage.OutputTokens == 0 {
		t.Fatalf("streamed tool use %+v (events %v)", acc, events)
	}
	if events[0] != "message_start" || events[len(events)-1] != "message_stop" {
		t.Fatalf("events %v", events)
	}
	// Second turn: the tool result goes back, the mock answers with text.
	params.Messages = append(params.Messages, acc.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(acc.Content[0].ID, "sunny", false)))
	msg, err = c.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != "end_turn" || len(msg.Content) != 1 || !strings.Contains(msg.Content[0].Text, "sunny") {
		t.Fatalf("second turn %+v", msg)
	}
	n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "claude-sonnet-4-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("count these words please"))}})
	if err != nil || n.InputTokens == 0 {
		t.Fatalf("count_tokens %v %+v", err, n)
	}
	rows := g.rows(t, 3)
	for _, r := range rows {
		if r.Endpoint != "/v1/messages" || r.Provider != "mock" || r.PromptTokens == 0 {
			t.Fatalf("row %+v", r)
		}
	}
}

// TestMessagesGatewayErrors: errors made by Runestone on /v1/messages use Anthropic's
// envelope and statuses, so the SDK raises its typed errors.
func TestMessagesGatewayErrors(t *testing.T) {
	g := startGateway(t, strings.Replace(claudeProvider, "%s", "http://127.0.0.1:1", 1), nil)
	status, _, body := g.do("POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[]}`, map[string]string{"Authorization": "Bearer sk-wrong"})
	if status != 401 || gjson.GetBytes(body, "type").Str != "error" || gjson.GetBytes(body, "error.type").Str != "authentication_error" ||
		gjson.GetBytes(body, "request_id").Str == "" {
		t.Fatalf("401: %d %s", status, body)
	}
	status, _, body = g.do("POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"x-api-key": "sk-other-key"})
	if status != 401 || !strings.Contains(gjson.GetBytes(body, "error.message").Str, "different keys") {
		t.Fatalf("two keys: %d %s", status, body)
	}
	status, _, body = g.do("POST", "/v1/messages", `{"model":"nope","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if status != 404 || gjson.GetBytes(body, "error.type").Str != "not_found_error" {
		t.Fatalf("404: %d %s", status, body)
	}
	status, _, body = g.do("POST", "/v1/messages", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`, nil)
	if status != 400 || gjson.GetBytes(body, "error.type").Str != "invalid_request_error" || !strings.Contains(string(body), "max_tokens") {
		t.Fatalf("400: %d %s", status, body)
	}
	bad := g.anthropicClient(aoption.WithAPIKey("sk-wrong"))
	_, err := bad.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 8, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("sdk: %v", err)
	}
	// Probes: HEAD / and GET / answer without a key.
	if status, _, _ := g.do("HEAD", "/", "", map[string]string{"Authorization": ""}); status != 200 {
		t.Fatalf("HEAD / %d", status)
	}
}

// TestMessagesFailoverAcrossDialects: a Claude model whose Anthropic provider is
// overloaded fails over (before the first byte) to an OpenAI-compatible backup; the
// client keeps speaking Messages and gets the backup's recorded answer, translated.
func TestMessagesFailoverAcrossDialects(t *testing.T) {
	overloaded := testutil.ReadFile(t, "anthropic", "captures", "error-529-overloaded.body.json")
	claude := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(529)
		_, _ = w.Write(overloaded)
	})
	rec := testutil.ReadHTTPRR(t, "openai", "chat-stream-text-include-usage.httprr")[0]
	var want strings.Builder
	for _, d := range sseEvents(rec.Body) {
		want.WriteString(gjson.Get(d, "choices.0.delta.content").Str)
	}
	backup := testutil.NewUpstream(t, testutil.Replay(rec, 0))
	g := startGateway(t, `
[auth]
keys = ["sk-test-static-key-0123456789abcdef"]
[router]
retries = 0
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "`+claude.URL+`"
api_key = "sk-ant-upstream-0123456789"
models = ["claude-sonnet-4-5"]
[[providers]]
name = "backup"
kind = "openai"
base_url = "`+backup.URL+`/v1"
api_key = "sk-upstream-secret-value"
models = ["gpt-3.5-turbo"]
[[routes]]
model = "claude-sonnet-4-5"
targets = ["claude:claude-sonnet-4-5", "backup:gpt-3.5-turbo"]
`, nil)
	c := g.anthropicClient()
	stream := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}})
	acc := anthropic.Message{}
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 1 || acc.Content[0].Text != want.String() || acc.Model != "claude-sonnet-4-5" ||
		acc.StopReason != "end_turn" || acc.Usage.OutputTokens == 0 {
		t.Fatalf("failed-over answer %+v, want text %q", acc, want.String())
	}
	sent := backup.Last(t).Body
	if gjson.GetBytes(sent, "messages.0.content").Str != "hello" && gjson.GetBytes(sent, "messages.0.content.0.text").Str != "hello" {
		t.Fatalf("backup got %s", sent)
	}
	row := g.rows(t, 1)[0]
	if row.Provider != "backup" || row.Attempts != 2 || row.Endpoint != "/v1/messages" || row.CompletionTokens == 0 ||
		row.Dialect != "messages" || row.UpstreamDialect != "chat" {
		t.Fatalf("row %+v", row)
	}
}

// TestDialectBodiesGetTheSameChecks: the hardening checks (duplicate keys, model name
// cap, content type) cover the new endpoints, with errors in each dialect's envelope.
func TestDialectBodiesGetTheSameChecks(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	long := strings.Repeat("m", 300)
	for _, c := range []struct{ path, body, want string }{
		{"/v1/messages", `{"model":"claude-x","max_tokens":8,"model":"other","messages":[{"role":"user","content":"hi"}]}`, "model"},
		{"/v1/responses", `{"model":"gpt-5","input":"a","input":"b"}`, "input"},
		{"/v1/messages", `{"model":"` + long + `","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, "model"},
		{"/v1/responses", `{"model":"` + long + `","input":"x"}`, "model"},
	} {
		status, _, body := g.do("POST", c.path, c.body, nil)
		if status != 400 || !strings.Contains(string(body), c.want) {
			t.Fatalf("%s %s: %d %s", c.path, c.body[:40], status, body)
		}
		if strings.HasPrefix(c.path, "/v1/messages") && gjson.GetBytes(body, "type").Str != "error" {
			t.Fatalf("not Anthropic's envelope: %s", body)
		}
	}
	status, _, body := g.do("POST", "/v1/messages", `{}`, map[string]string{"Content-Type": "text/plain"})
	if status != 415 || gjson.GetBytes(body, "error.type").Str == "" || gjson.GetBytes(body, "type").Str != "error" {
		t.Fatalf("415: %d %s", status, body)
	}
}
