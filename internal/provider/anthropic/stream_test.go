package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

type wantTool struct{ id, name, args string }

type streamResult struct {
	acc    openai.ChatCompletionAccumulator
	chunks [][]byte
	err    error // the terminal error (io.EOF on success)
	usage  provider.Usage
}

// runStream drives a stream call against body served by a fake and accumulates every
// chunk with the official SDK's accumulator, failing on anything an SDK would reject.
func runStream(t *testing.T, body []byte, header http.Header, includeUsage bool) *streamResult {
	t.Helper()
	fake := newFake(t, 200, header, body)
	p := newTestProvider(t, fake.URL)
	res, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "claude-sonnet-4-5",
		ClientModel: "client-model", Stream: true, IncludeUsage: includeUsage,
		Body: []byte(`{"model":"client-model","messages":[{"role":"user","content":"hi"}],"stream":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	_ = json.Unmarshal(<-fake.gotBody, &sent)
	if sent["stream"] != true {
		t.Errorf("upstream request lacks stream:true: %v", sent)
	}
	r := &streamResult{}
	defer func() {
		if err := res.Stream.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		_ = res.Stream.Close() // twice is fine
	}()
	var id string
	var created int64
	for {
		chunk, err := res.Stream.Next()
		if err != nil {
			r.err = err
			break
		}
		r.chunks = append(r.chunks, bytes.Clone(chunk))
		if !json.Valid(chunk) {
			t.Fatalf("chunk is not JSON: %s", chunk)
		}
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal(chunk, &c); err != nil {
			t.Fatalf("SDK cannot read chunk %s: %v", chunk, err)
		}
		if id == "" {
			id, created = c.ID, c.Created
		}
		if c.ID != id || c.Created != created || c.Model != "client-model" || c.Object != "chat.completion.chunk" {
			t.Errorf("chunk envelope changed: %s", chunk)
		}
		for _, ch := range c.Choices {
			if ch.Index != 0 {
				t.Errorf("choice index %d", ch.Index)
			}
		}
		if !r.acc.AddChunk(c) {
			t.Fatalf("accumulator rejected chunk %s", chunk)
		}
	}
	// The terminal result is sticky.
	if _, err := res.Stream.Next(); err != r.err {
		t.Errorf("second terminal %v, first %v", err, r.err)
	}
	r.usage = res.Stream.Usage()
	return r
}

func (r *streamResult) check(t *testing.T, content, finish string, tools ...wantTool) {
	t.Helper()
	if r.err != io.EOF {
		t.Fatalf("stream ended with %v, want io.EOF", r.err)
	}
	if len(r.acc.Choices) != 1 {
		t.Fatalf("choices %d", len(r.acc.Choices))
	}
	msg := r.acc.Choices[0].Message
	if msg.Content != content {
		t.Errorf("content %q, want %q", msg.Content, content)
	}
	if got := r.acc.Choices[0].FinishReason; got != finish {
		t.Errorf("finish_reason %q, want %q", got, finish)
	}
	if len(msg.ToolCalls) != len(tools) {
		t.Fatalf("%d tool calls, want %d: %+v", len(msg.ToolCalls), len(tools), msg.ToolCalls)
	}
	for i, w := range tools {
		tc := msg.ToolCalls[i]
		if tc.ID != w.id || tc.Function.Name != w.name || tc.Function.Arguments != w.args || tc.Type != "function" {
			t.Errorf("tool call %d = %s %s %q, want %s %s %q", i, tc.ID, tc.Function.Name, tc.Function.Arguments, w.id, w.name, w.args)
		}
		if !json.Valid([]byte(tc.Function.Arguments)) {
			t.Errorf("tool call %d arguments are not JSON", i)
		}
	}
	// The first chunk is the role-only delta.
	if !bytes.Contains(r.chunks[0], []byte(`"delta":{"role":"assistant","content":""}`)) {
		t.Errorf("first chunk %s", r.chunks[0])
	}
}

func TestStreamCaptures(t *testing.T) {
	tests := []struct {
		capture       string
		content       string
		finish        string
		prompt, compl int
		tools         []wantTool
	}{
		{"messages-stream-text.sse", "1\n2\n3", "stop", 15, 9, nil},
		{"messages-stream-two-tool-use.httprr", "I'll calculate the tip and get the waiter's name for you.", "tool_calls", 679, 111, []wantTool{
			{"toolu_01VsaoaKxpzdz8vgY4hTGjE3", "calculateTip", `{"billAmount": 50, "tipPercentage": 15}`},
			{"toolu_01Uksi8drJHeC8rCj8yVUtCJ", "getWaiterName", `{}`},
		}},
		{"messages-stream-text-then-tool-no-args.chunks.txt", "I'll update the issue list for you.", "tool_calls", 565, 48, []wantTool{
			{"toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", `{}`},
		}},
		{"messages-stream-thinking.sse", thinkingAnswer, "stop", 80, 638, nil},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			body, header := captureSSE(t, tt.capture)
			r := runStream(t, body, header, true)
			r.check(t, tt.content, tt.finish, tt.tools...)
			want := provider.Usage{PromptTokens: tt.prompt, CompletionTokens: tt.compl, Reported: true}
			// The answer's model, tier and thinking count are read too; the captures
			// differ in those, so compare the counts the table lists.
			if got := r.usage; got.Model == "" || got.ServiceTier != "standard" {
				t.Errorf("Stream.Usage %+v: no model or tier", got)
			}
			if r.usage.ReasoningTokens > 0 && tt.capture != "messages-stream-thinking.sse" {
				t.Errorf("reasoning tokens in %s", tt.capture)
			}
			got := r.usage
			got.Model, got.ServiceTier, got.ReasoningTokens = "", "", 0
			if got != want {
				t.Errorf("Stream.Usage %+v, want %+v", r.usage, want)
			}
			if u := r.acc.Usage; u.PromptTokens != int64(tt.prompt) || u.CompletionTokens != int64(tt.compl) || u.TotalTokens != int64(tt.prompt+tt.compl) {
				t.Errorf("usage chunk %+v", u)
			}
			for _, c := range r.chunks {
				if bytes.Contains(c, []byte("thinking")) || bytes.Contains(c, []byte("signature")) {
					t.Errorf("thinking leaked: %s", c)
				}
			}
		})
	}
}

const thinkingAnswer = "I'd ask: **\"What would you say if I asked you this question?\"**\n\nIt's a question the mirror genuinely cannot answer truthfully—" +
	"to answer, it would need to already have given the answer, creating an infinite loop.\n\nWhat" +
	" this reveals about the mirror's answer:\n\nThe mirror *must* break its own logic to respond at all. It can't be" +
	" truthful because truthfulness here is impossible, not forbidden. So whatever it says—silence, a" +
	" paradoxical answer, or something outside normal logic—becomes a window into how it handles" +
	" impossibility.\n\n**The interesting part:** This might show less about my literal future and more about a" +
	" revealing constraint—that even magic systems don't escape the structure of logic itself. The answer would be whatever happens" +
	" when an oracle meets something it can't resolve.\n\nA more practical version: **\"What don't you know about my future?\"** This assumes" +
	" the mirror *has* blind spots, forcing it to either admit them (revealing its limits" +
	") or try to answer a question about its own ignorance (which it can't do truthfully).\n\nEither way, the revelation might" +
	" be less \"here's what happens\" and more \"here's what kind of system I actually am\"—which could be more useful" +
	" than a direct prophecy anyway.\n\nWhat draws you to this paradox?"

// TestStreamToolIndexesDense checks the exact tool_calls deltas: index counts tool
// blocks (the first tool is Anthropic block 1 but OpenAI index 0).
func TestStreamToolIndexesDense(t *testing.T) {
	body, header := captureSSE(t, "messages-stream-two-tool-use.httprr")
	r := runStream(t, body, header, false)
	var got []string
	for _, c := range r.chunks {
		if i := bytes.Index(c, []byte(`"tool_calls":`)); i >= 0 {
			j := bytes.Index(c, []byte(`,"logprobs"`))
			got = append(got, string(c[i:j]))
		}
	}
	want := []string{
		`"tool_calls":[{"index":0,"id":"toolu_01VsaoaKxpzdz8vgY4hTGjE3","type":"function","function":{"name":"calculateTip","arguments":""}}]}`,
		`"tool_calls":[{"index":0,"function":{"arguments":"{\"billAm"}}]}`,
		`"tool_calls":[{"index":0,"function":{"arguments":"ount\": 50"}}]}`,
		`"tool_calls":[{"index":0,"function":{"arguments":", \"tip"}}]}`,
		`"tool_calls":[{"index":0,"function":{"arguments":"Percentage\":"}}]}`,
		`"tool_calls":[{"index":0,"function":{"arguments":" 15}"}}]}`,
		`"tool_calls":[{"index":1,"id":"toolu_01Uksi8drJHeC8rCj8yVUtCJ","type":"function","function":{"name":"getWaiterName","arguments":""}}]}`,
		`"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tool deltas\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	last := r.chunks[len(r.chunks)-1]
	if !bytes.Contains(last, []byte(`"delta":{},"logprobs":null,"finish_reason":"tool_calls"`)) {
		t.Errorf("last chunk %s", last)
	}
}

func TestStreamIncludeUsage(t *testing.T) {
	body, header := captureSSE(t, "messages-stream-text.sse")
	without := runStream(t, body, header, false)
	without.check(t, "1\n2\n3", "stop")
	for _, c := range without.chunks {
		if bytes.Contains(c, []byte(`"usage"`)) || bytes.Contains(c, []byte(`"choices":[]`)) {
			t.Errorf("usage without include_usage: %s", c)
		}
	}
	if want := (provider.Usage{PromptTokens: 15, CompletionTokens: 9, Reported: true, ServiceTier: "standard", Model: "claude-haiku-4-5-20251001"}); without.usage != want {
		t.Errorf("Stream.Usage without include_usage %+v", without.usage)
	}

	with := runStream(t, body, header, true)
	n := len(with.chunks)
	if n != len(without.chunks)+1 {
		t.Fatalf("%d chunks with include_usage, %d without", n, len(without.chunks))
	}
	for _, c := range with.chunks[:n-1] {
		if !bytes.HasSuffix(c, []byte(`,"usage":null}`)) {
			t.Errorf("chunk without usage:null: %s", c)
		}
	}
	var last map[string]any
	_ = json.Unmarshal(with.chunks[n-1], &last)
	if ch, ok := last["choices"].([]any); !ok || len(ch) != 0 {
		t.Errorf("usage chunk choices: %s", with.chunks[n-1])
	}
	u, _ := last["usage"].(map[string]any)
	if u["prompt_tokens"] != float64(15) || u["completion_tokens"] != float64(9) || u["total_tokens"] != float64(24) {
		t.Errorf("usage chunk %s", with.chunks[n-1])
	}
}

// TestStreamUsageCumulativeWithCache: message_delta usage replaces, never adds, and
// cache reads count as prompt tokens.
func TestStreamUsageCumulativeWithCache(t *testing.T) {
	body := sseBody(
		`{"type":"message_start","message":{"id":"msg_c","usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Hi"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":20}}`,
		`{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":30}}`,
		`{"type":"message_stop"}`,
	)
	r := runStream(t, body, nil, true)
	r.check(t, "Hi", "length")
	want := provider.Usage{PromptTokens: 115, CompletionTokens: 30, CachedTokens: 100, CacheWriteTokens: 5, Reported: true}
	if r.usage != want {
		t.Errorf("usage %+v, want %+v", r.usage, want)
	}
	if r.acc.Usage.PromptTokensDetails.CachedTokens != 100 {
		t.Errorf("cached tokens %+v", r.acc.Usage)
	}
	finishes := 0
	for _, c := range r.chunks {
		if bytes.Contains(c, []byte(`"finish_reason":"length"`)) {
			finishes++
		}
	}
	if finishes != 1 {
		t.Errorf("%d finish chunks", finishes)
	}
}

func sseBody(datas ...string) []byte {
	var b strings.Builder
	for _, d := range datas {
		var v struct{ Type string }
		_ = json.Unmarshal([]byte(d), &v)
		b.WriteString("event: " + v.Type + "\ndata: " + d + "\n\n")
	}
	return []byte(b.String())
}

func TestStreamErrorEventMidStream(t *testing.T) {
	body, header := captureSSE(t, "messages-stream-text.sse")
	// Cut the recording after its first text delta and append the recorded error event.
	i := bytes.Index(body, []byte("event: content_block_stop"))
	errData := bytes.TrimSpace(readFile(t, "captures/stream-error-event-overloaded.data.txt"))
	body = append(bytes.Clone(body[:i]), "event: error\ndata: "+string(errData)+"\n\n"...)
	r := runStream(t, body, header, true)
	e := apierr.As(r.err)
	if e == nil {
		t.Fatalf("stream ended with %v, want *apierr.Error", r.err)
	}
	if e.Status != 503 || e.Type != apierr.TypeServer || e.Code != "overloaded" || !e.Retryable || e.Message != "Overloaded" || e.Provider != "claude" {
		t.Errorf("error %+v", e)
	}
	if r.acc.Choices[0].Message.Content != "1\n2\n3" {
		t.Errorf("content before the error %q", r.acc.Choices[0].Message.Content)
	}
	for _, c := range r.chunks {
		if bytes.Contains(c, []byte(`"finish_reason":"`)) {
			t.Errorf("a failed stream must not look finished: %s", c)
		}
	}
}

func TestStreamEOFWithoutMessageStop(t *testing.T) {
	body, header := captureSSE(t, "messages-stream-text.sse")
	body = body[:bytes.Index(body, []byte("event: message_stop"))]
	r := runStream(t, body, header, false)
	e := apierr.As(r.err)
	if e == nil || e.Status != 502 || !e.Retryable || !strings.Contains(e.Message, "message_stop") {
		t.Fatalf("got %v", r.err)
	}
	// The usage seen so far is still returned.
	if r.usage.CompletionTokens != 9 || !r.usage.Reported {
		t.Errorf("usage %+v", r.usage)
	}
}

func TestStreamErrorBeforeAnyChunk(t *testing.T) {
	body := sseBody(`{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`)
	r := runStream(t, body, nil, false)
	e := apierr.As(r.err)
	if len(r.chunks) != 0 || e == nil || e.Status != 500 || !e.Retryable {
		t.Fatalf("chunks %d, err %v", len(r.chunks), r.err)
	}
}

func TestStreamCompletions(t *testing.T) {
	body, header := captureSSE(t, "messages-stream-two-tool-use.httprr")
	fake := newFake(t, 200, header, body)
	p := newTestProvider(t, fake.URL)
	res, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Completions, Model: "claude-sonnet-4-5",
		ClientModel: "m", Stream: true, IncludeUsage: true, Body: []byte(`{"prompt":"tip?","stream":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Stream.Close()
	<-fake.gotBody
	var text, finish string
	var usage *openai.CompletionUsage
	for {
		chunk, err := res.Stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var c openai.Completion
		if err := json.Unmarshal(chunk, &c); err != nil || c.Object != "text_completion" || !strings.HasPrefix(c.ID, "cmpl-") {
			t.Fatalf("chunk %s: %v", chunk, err)
		}
		for _, ch := range c.Choices {
			text += ch.Text
			if ch.FinishReason != "" {
				finish = string(ch.FinishReason)
			}
		}
		if len(c.Choices) == 0 {
			usage = &c.Usage
		}
	}
	if text != "I'll calculate the tip and get the waiter's name for you." || finish != "stop" || usage == nil || usage.TotalTokens != 790 {
		t.Errorf("text %q finish %q usage %+v", text, finish, usage)
	}
}

// TestStreamCancelAbortsUpstream: a client that leaves mid-stream must end the
// upstream request at once (the fake sees its request context end).
func TestStreamCancelAbortsUpstream(t *testing.T) {
	upstreamDone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = w.Write((sseBody(
			`{"type":"message_start","message":{"id":"msg_x","usage":{"input_tokens":3,"output_tokens":1}}}`,
			`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`,
		)))
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
			close(upstreamDone)
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	p := newTestProvider(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := p.Do(ctx, &provider.Call{Endpoint: provider.Chat, Model: "m", Stream: true,
		Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Stream.Close()
	for range 2 { // role chunk, "Hel"
		if _, err := res.Stream.Next(); err != nil {
			t.Fatal(err)
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := res.Stream.Next() // blocks on the silent upstream
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || apierr.As(err) != nil {
			t.Errorf("Next after cancel: %v, want a wrapped context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after cancel")
	}
	select {
	case <-upstreamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not aborted")
	}
}

// newSlowServer answers "slow-headers" requests only when block closes (or the client
// leaves), and "slow-body" requests with headers at once and the events 300ms later.
func newSlowServer(t *testing.T, block chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if bytes.Contains(b, []byte("slow-headers")) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		time.Sleep(300 * time.Millisecond)
		_, _ = w.Write(sseBody(
			`{"type":"message_start","message":{"id":"msg_s","usage":{"input_tokens":3,"output_tokens":1}}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"slow"}}`,
			`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`,
			`{"type":"message_stop"}`,
		))
	}))
	t.Cleanup(srv.Close)
	return srv
}
