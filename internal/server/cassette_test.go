package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
)

// recordedCalls is one request per endpoint and dialect, streamed and not.
var recordedCalls = []struct{ path, body string }{
	{"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`},
	{"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"stream please"}]}`},
	{"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"call get_weather"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`},
	{"/v1/embeddings", `{"model":"text-embedding-3-small","input":"embed me"}`},
	{"/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi claude"}]}`},
	{"/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"stream claude"}]}`},
	{"/v1/responses", `{"model":"gpt-5","input":"hi responses"}`},
	{"/v1/responses", `{"model":"gpt-5","stream":true,"input":"stream responses","store":false}`},
}

// TestRecordThenReplay records real exchanges (the mock as the upstream) in every
// dialect, then replays them from a gateway with no provider at all: the same bodies
// byte for byte and the same SSE events; a changed request is a strict miss that the
// SDK surfaces as a 400 without retrying; planted secrets never reach a cassette.
func TestRecordThenReplay(t *testing.T) {
	tapes := t.TempDir()
	const planted = "sk-proj-PLANTEDsecret0123"
	rec := startGateway(t, "[auth]\nkeys = [\"sk-test-static-key-0123456789abcdef\"]\n[record]\ndir = \""+tapes+"\"\n", nil)
	var recorded [][]byte
	for _, c := range recordedCalls {
		status, _, body := rec.do("POST", c.path, c.body, map[string]string{"X-Secret-Note": planted})
		if status != 200 {
			t.Fatalf("%s: %d %s", c.path, status, body)
		}
		recorded = append(recorded, body)
	}
	files, _ := filepath.Glob(filepath.Join(tapes, "*.json"))
	if len(files) != len(recordedCalls) {
		t.Fatalf("%d cassettes for %d calls", len(files), len(recordedCalls))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), planted) || strings.Contains(string(b), "sk-test-static-key") {
			t.Fatalf("%s holds a secret", f)
		}
	}

	// A gateway that knows no provider answers everything from the tapes.
	play := startGateway(t, "[auth]\nkeys = [\"sk-test-static-key-0123456789abcdef\"]\n[[providers]]\nname = \"none\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodels = [\"unused\"]\n[replay]\ndir = \""+tapes+"\"\nstrict = true\n", nil)
	for i, c := range recordedCalls {
		status, hdr, body := play.do("POST", c.path, c.body, nil)
		if status != 200 || hdr.Get("X-Runestone-Provider") != "replay" {
			t.Fatalf("replay %s: %d %s", c.path, status, body)
		}
		if strings.Contains(c.body, `"stream":true`) {
			if fmt.Sprint(sseEvents(body)) != fmt.Sprint(sseEvents(recorded[i])) {
				t.Fatalf("replayed stream %s differs:\n%s\nrecorded:\n%s", c.path, body, recorded[i])
			}
			continue
		}
		if string(body) != string(recorded[i]) {
			t.Fatalf("replayed body %s differs:\n%s\nrecorded:\n%s", c.path, body, recorded[i])
		}
	}

	// 32 goroutines replay the same set at once.
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := recordedCalls[w%len(recordedCalls)]
			req, _ := http.NewRequest("POST", play.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+play.Key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("%s: %d", c.path, resp.StatusCode)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// A changed prompt: strict miss, 400 cassette_miss naming the path, not retried.
	var calls int
	c := play.client()
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello!")}},
		optionMiddleware(&calls))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "cassette_miss" ||
		!strings.Contains(apiErr.Message, `messages[0].content: "hello!" ≠ "hello"`) || calls != 1 {
		t.Fatalf("miss: %v (%d calls)", err, calls)
	}
	// The same miss in the Anthropic dialect.
	status, _, body := play.do("POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"other"}]}`, nil)
	if status != 400 || gjson.GetBytes(body, "error.type").Str != "invalid_request_error" || !strings.Contains(string(body), "cassette") {
		t.Fatalf("messages miss: %d %s", status, body)
	}
	for _, r := range play.rows(t, len(recordedCalls)+32+2) {
		if r.Status == 200 && r.Provider != "replay" {
			t.Fatalf("replayed row %+v", r)
		}
	}
}

// TestSDKToolLoopRecordedThenReplayed: the official SDKs run a multi-turn tool loop
// against a recording gateway, then the same loop runs against a replaying one with
// the upstream gone and gets the same answers.
func TestSDKToolLoopRecordedThenReplayed(t *testing.T) {
	tapes := t.TempDir()
	loop := func(g *gw) (string, string) {
		ctx := context.Background()
		tool := responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{Name: "get_weather",
			Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}}}
		c := g.client()
		first, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5", Input: userInput("call get_weather"),
			Tools: []responses.ToolUnionParam{tool}, Store: openai.Bool(false)})
		if err != nil || len(first.Output) == 0 || first.Output[0].Type != "function_call" {
			t.Fatalf("first turn %v %+v", err, first)
		}
		second, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5", Tools: []responses.ToolUnionParam{tool},
			Store: openai.Bool(false), Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
				{OfMessage: &responses.EasyInputMessageParam{Role: "user", Content: responses.EasyInputMessageContentUnionParam{OfString: openai.String("call get_weather")}}},
				{OfFunctionCall: &responses.ResponseFunctionToolCallParam{CallID: first.Output[0].CallID, Name: "get_weather", Arguments: first.Output[0].Arguments.OfString}},
				functionOutput(first.Output[0].CallID, "sunny")}}})
		if err != nil {
			t.Fatal(err)
		}
		ac := g.anthropicClient()
		msg, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-haiku-4-5", MaxTokens: 64,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello claude"))}})
		if err != nil {
			t.Fatal(err)
		}
		return second.OutputText(), msg.Content[0].Text
	}
	rec := startGateway(t, "[auth]\nenabled = false\n[record]\ndir = \""+tapes+"\"\n", nil)
	wantR, wantM := loop(rec)
	play := startGateway(t, "[auth]\nenabled = false\n[replay]\ndir = \""+tapes+"\"\nstrict = true\n", nil)
	gotR, gotM := loop(play)
	if gotR != wantR || gotM != wantM || !strings.Contains(gotR, "sunny") {
		t.Fatalf("replayed %q %q, recorded %q %q", gotR, gotM, wantR, wantM)
	}
	for _, r := range play.rows(t, 3) {
		if r.Provider != "replay" {
			t.Fatalf("row %+v", r)
		}
	}
}

// optionMiddleware counts the HTTP calls an SDK makes (to see it does not retry).
func optionMiddleware(n *int) option.RequestOption {
	return option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		*n++
		return next(r)
	})
}
