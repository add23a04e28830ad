package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
)

func userInput(s string) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
}

// streamResponse runs a streamed Responses call and returns the completed response
// and the event types seen.
func streamResponse(t *testing.T, c openai.Client, p responses.ResponseNewParams) (responses.Response, []string) {
	t.Helper()
	s := c.Responses.NewStreaming(context.Background(), p)
	defer s.Close()
	var types []string
	var done responses.Response
	seq := int64(-1)
	for s.Next() {
		ev := s.Current()
		types = append(types, ev.Type)
		if ev.SequenceNumber != seq+1 {
			t.Fatalf("sequence_number %d after %d (%s)", ev.SequenceNumber, seq, ev.Type)
		}
		seq = ev.SequenceNumber
		if ev.Type == "response.completed" {
			done = ev.AsResponseCompleted().Response
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return done, types
}

// TestResponsesThroughTheMock: zero config, the official SDK's Responses API against the
// offline mock (translated through chat): plain, streamed, a function-calling loop,
// previous_response_id over three turns, Get, InputItems, Delete, input_tokens.
func TestResponsesThroughTheMock(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	c := g.client()
	ctx := context.Background()

	r1, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5", Input: userInput("hello there"),
		Instructions: openai.String("be brief")})
	if err != nil {
		t.Fatal(err)
	}
	if r1.OutputText() != "You said: hello there" || r1.Status != "completed" || r1.Model != "gpt-5" ||
		!strings.HasPrefix(r1.ID, "resp_") || r1.Usage.InputTokens == 0 || r1.Usage.OutputTokens == 0 {
		t.Fatalf("response %+v", r1)
	}

	// Streamed, continued from r1: the history reaches the (stateless) mock.
	r2, types := streamResponse(t, c, responses.ResponseNewParams{Model: "gpt-5", Input: userInput("second turn"),
		PreviousResponseID: openai.String(r1.ID)})
	if r2.OutputText() != "You said: second turn" || types[0] != "response.created" || types[len(types)-1] != "response.completed" {
		t.Fatalf("stream %q %v", r2.OutputText(), types)
	}
	r3, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5", Input: userInput("third turn"),
		PreviousResponseID: openai.String(r2.ID)})
	if err != nil || r3.OutputText() != "You said: third turn" {
		t.Fatalf("third turn %v %+v", err, r3)
	}
	items, err := c.Responses.InputItems.List(ctx, r3.ID, responses.InputItemListParams{})
	if err != nil {
		t.Fatal(err)
	}
	// r3's input is r1's input + output, r2's input + output, then its own: 5 items.
	if len(items.Data) != 5 {
		t.Fatalf("input items %d: %+v", len(items.Data), items.Data)
	}
	got, err := c.Responses.Get(ctx, r2.ID, responses.ResponseGetParams{})
	if err != nil || got.ID != r2.ID || got.OutputText() != r2.OutputText() {
		t.Fatalf("get %v %+v", err, got)
	}
	if err := c.Responses.Delete(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.Responses.Get(ctx, r2.ID, responses.ResponseGetParams{})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("get after delete: %v", err)
	}
	_, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5", Input: userInput("x"),
		PreviousResponseID: openai.String(r2.ID)})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, r2.ID) {
		t.Fatalf("continue a deleted response: %v", err)
	}

	// A function-calling loop.
	tool := responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{Name: "get_weather",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}}}
	call, _ := streamResponse(t, c, responses.ResponseNewParams{Model: "gpt-5", Input: userInput("call get_weather"),
		Tools: []responses.ToolUnionParam{tool}})
	if len(call.Output) != 1 || call.Output[0].Type != "function_call" || call.Output[0].Name != "get_weather" ||
		!strings.Contains(call.Output[0].Arguments.OfString, "city") {
		t.Fatalf("function call %+v", call.Output)
	}
	answer, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5", PreviousResponseID: openai.String(call.ID),
		Tools: []responses.ToolUnionParam{tool},
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			functionOutput(call.Output[0].CallID, "sunny")}}})
	if err != nil || !strings.Contains(answer.OutputText(), "sunny") {
		t.Fatalf("after the tool output: %v %+v", err, answer)
	}

	status, _, body := g.do("POST", "/v1/responses/input_tokens", `{"model":"gpt-5","input":"count these words please"}`, nil)
	if status != 200 || gjson.GetBytes(body, "input_tokens").Int() == 0 {
		t.Fatalf("input_tokens %d %s", status, body)
	}
	// The WebSocket mode is refused at once with 426, which Codex reads as "use SSE".
	status, _, _ = g.do("GET", "/v1/responses", "", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"})
	if status != http.StatusUpgradeRequired {
		t.Fatalf("upgrade: %d", status)
	}
	for _, r := range g.rows(t, 7) { // six requests and the 426's row
		if r.Endpoint != "/v1/responses" || r.Status == 200 && (r.Provider != "mock" || r.PromptTokens == 0) {
			t.Fatalf("row %+v", r)
		}
	}
}

func functionOutput(callID, output string) responses.ResponseInputItemUnionParam {
	u := responses.ResponseInputItemParamOfFunctionCallOutput(output)
	u.OfFunctionCallOutput.CallID = openai.String(callID)
	return u
}

// TestResponsesNativeRelay: a provider that speaks Responses gets the client's bytes and
// its recorded stream reaches the client unchanged; previous_response_id sticks to it.
func TestResponsesNativeRelay(t *testing.T) {
	streamed := testutil.ReadFile(t, "..", "internal", "dialect", "responses", "testdata", "stream-text.sse")
	plain := testutil.ReadFile(t, "..", "internal", "dialect", "responses", "testdata", "nonstream-function-call.json")
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/v1/responses" || r.Header.Get("Authorization") != "Bearer sk-upstream-secret-value" {
			w.WriteHeader(400)
			return
		}
		if gjson.GetBytes(body, "stream").Bool() {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(streamed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(plain)
	})
	g := startGateway(t, upstreamConfig(u.URL, "apis = [\"chat\", \"responses\"]\n"), nil)
	body := `{"model":"gpt-4o-mini","input":[{"type":"reasoning","id":"rs_1","encrypted_content":"opaque","summary":[]},{"role":"user","content":"hi"}],"include":["reasoning.encrypted_content"],"stream":true}`
	status, _, got := g.do("POST", "/v1/responses", body, nil)
	if status != 200 || string(got) != string(streamed) {
		t.Fatalf("stream relay %d\n%s\nwant\n%s", status, got, streamed)
	}
	if sent := u.Last(t).Body; string(sent) != body {
		t.Fatalf("upstream got %s", sent)
	}
	status, _, got = g.do("POST", "/v1/responses", `{"model":"gpt-4o-mini","input":"hi"}`, nil)
	if status != 200 || string(got) != string(plain) {
		t.Fatalf("relay %d %s", status, got)
	}
	// The streamed response is kept as "at its provider": a continuation goes there as is.
	id := gjson.Get(sseEvents(streamed)[0], "response.id").Str
	next := `{"model":"gpt-4o-mini","previous_response_id":"` + id + `","input":"more"}`
	if status, _, _ = g.do("POST", "/v1/responses", next, nil); status != 200 || string(u.Last(t).Body) != next {
		t.Fatalf("continuation %d, upstream got %s", status, u.Last(t).Body)
	}
	c := g.client()
	resp, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-4o-mini", Input: userInput("hi")})
	if err != nil || resp.Output[0].Type != "function_call" || resp.Usage.TotalTokens == 0 {
		t.Fatalf("sdk %v %+v", err, resp)
	}
	rows := g.rows(t, 4)
	if rows[0].PromptTokens == 0 || rows[0].CompletionTokens == 0 || rows[0].Dialect != "responses" || rows[0].UpstreamDialect != "responses" {
		t.Fatalf("usage not read from the native stream: %+v", rows[0])
	}
	// The gateway's copy of a native answer is written with its log row, off the
	// request path: once the rows are in, it is served.
	if status, _, got := g.do("GET", "/v1/responses/"+id, "", nil); status != 200 || gjson.GetBytes(got, "id").Str != id {
		t.Fatalf("kept native response: %d %s", status, got)
	}
}

// TestResponsesTranslatedToChatAndAnthropic: a chat-only OpenAI-compatible provider and
// an Anthropic provider both answer Responses clients, translated.
func TestResponsesTranslatedToChatAndAnthropic(t *testing.T) {
	rec := testutil.ReadHTTPRR(t, "openai", "chat-stream-text-include-usage.httprr")[0]
	var want strings.Builder
	for _, d := range sseEvents(rec.Body) {
		want.WriteString(gjson.Get(d, "choices.0.delta.content").Str)
	}
	chat := testutil.NewUpstream(t, testutil.Replay(rec, 0))
	tools := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-stream-two-tool-use.httprr")[0]
	claude := testutil.NewUpstream(t, testutil.Replay(tools, 0))
	g := startGateway(t, upstreamConfig(chat.URL, "")+`
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "`+claude.URL+`"
api_key = "sk-ant-upstream-0123456789"
models = ["claude-sonnet-4-5"]
`, nil)
	c := g.client()
	got, _ := streamResponse(t, c, responses.ResponseNewParams{Model: "gpt-3.5-turbo", Input: userInput("hello")})
	if got.OutputText() != want.String() || got.Usage.OutputTokens == 0 {
		t.Fatalf("chat-translated %q want %q", got.OutputText(), want.String())
	}
	if sent := chat.Last(t).Body; gjson.GetBytes(sent, "messages.0.role").Str != "user" || !gjson.GetBytes(sent, "stream").Bool() {
		t.Fatalf("chat upstream got %s", sent)
	}
	got, _ = streamResponse(t, c, responses.ResponseNewParams{Model: "claude-sonnet-4-5", Input: userInput("tip?")})
	var calls int
	for _, o := range got.Output {
		if o.Type == "function_call" && o.Name != "" && gjson.Valid(o.Arguments.OfString) {
			calls++
		}
	}
	if calls != 2 {
		t.Fatalf("anthropic-translated output %+v", got.Output)
	}
	if sent := claude.Last(t).Body; gjson.GetBytes(sent, "max_tokens").Int() == 0 || gjson.GetBytes(sent, "messages.0.role").Str != "user" {
		t.Fatalf("anthropic upstream got %s", sent)
	}
}
