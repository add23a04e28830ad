package responses

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/sse"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
)

// encode runs chunks through a fresh encoder for req and finishes with u (or fails
// with fail when set).
func encode(req *Request, chunks []string, u provider.Usage, fail *apierr.Error) (*StreamEncoder, []byte) {
	e := req.NewStreamEncoder("test-model")
	var out []byte
	for _, c := range chunks {
		out = e.Chunk(out, []byte(c))
	}
	if fail != nil {
		return e, e.Fail(out, fail)
	}
	return e, e.Finish(out, u)
}

type frame struct {
	name string
	data []byte
}

// frames parses an SSE body, checking every frame is "event: X" + "data: JSON" with
// the data's type equal to X and sequence numbers counting from 0.
func frames(t testing.TB, body []byte) []frame {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(body))
	var out []frame
	for {
		name, data, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read SSE: %v", err)
		}
		if !gjson.ValidBytes(data) {
			t.Fatalf("frame %d: invalid JSON %s", len(out), data)
		}
		if typ := gjson.GetBytes(data, "type").Str; typ != string(name) {
			t.Fatalf("frame %d: event %q but type %q", len(out), name, typ)
		}
		if seq := gjson.GetBytes(data, "sequence_number"); seq.Type != gjson.Number || seq.Int() != int64(len(out)) {
			t.Fatalf("frame %d: sequence_number %s", len(out), seq.Raw)
		}
		out = append(out, frame{string(name), bytes.Clone(data)})
	}
	return out
}

func names(fs []frame) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.name)
	}
	return n
}

func chunk(delta string) string {
	return `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":null}]}`
}

func finishChunk(reason string) string {
	return `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{},"finish_reason":"` + reason + `"}]}`
}

// TestStreamMatchesRecording replays the text of a recorded api.openai.com stream as
// chat chunks and checks the encoder emits the same events, in the same order, with
// the same fields.
func TestStreamMatchesRecording(t *testing.T) {
	rec, err := os.ReadFile("testdata/stream-text.sse")
	if err != nil {
		t.Fatal(err)
	}
	want := frames(t, rec)
	chunks := []string{chunk(`{"role":"assistant","content":"","refusal":null}`)}
	for _, f := range want {
		if f.name == "response.output_text.delta" {
			chunks = append(chunks, chunk(`{"content":`+gjson.GetBytes(f.data, "delta").Raw+`}`))
		}
	}
	chunks = append(chunks, finishChunk("stop"),
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":12,"total_tokens":25}}`)
	e, out := encode(nil, chunks, provider.Usage{}, nil)
	got := frames(t, out)
	if !slices.Equal(names(got), names(want)) {
		t.Fatalf("events:\n got %q\nwant %q", names(got), names(want))
	}
	for i := range want {
		compareShape(t, want[i].name, gjson.ParseBytes(want[i].data), gjson.ParseBytes(got[i].data))
	}
	final := gjson.GetBytes(got[len(got)-1].data, "response")
	if final.Raw != string(e.Response()) {
		t.Fatal("Response() differs from the response.completed object")
	}
	recFinal := gjson.GetBytes(want[len(want)-1].data, "response")
	for _, p := range []string{"output.0.content.0.text", "usage", "status"} {
		if final.Get(p).Raw != recFinal.Get(p).Raw {
			t.Errorf("%s = %s, recorded %s", p, final.Get(p).Raw, recFinal.Get(p).Raw)
		}
	}
}

// compareShape checks got has every field the recording has (recursively through
// objects; obfuscation is OpenAI's padding and not sent), and for items and parts
// exactly the same fields.
func compareShape(t *testing.T, at string, want, got gjson.Result) {
	t.Helper()
	if !want.IsObject() {
		if want.IsArray() && len(want.Array()) > 0 && got.IsArray() && len(got.Array()) > 0 {
			compareShape(t, at+"[0]", want.Array()[0], got.Array()[0])
		}
		return
	}
	wk, gk := keys(want), keys(got)
	for _, k := range wk {
		if k == "obfuscation" {
			continue
		}
		if !slices.Contains(gk, k) {
			t.Errorf("%s: missing field %q (have %q)", at, k, gk)
			continue
		}
		compareShape(t, at+"."+k, want.Get(k), got.Get(k))
	}
}

func keys(v gjson.Result) []string {
	var k []string
	v.ForEach(func(key, _ gjson.Result) bool {
		k = append(k, key.Str)
		return true
	})
	sort.Strings(k)
	return k
}

// sdkStream serves body as a Responses event stream and reads it with the official
// SDK, returning every event and the stream's error.
func sdkStream(t *testing.T, body []byte) ([]responses.ResponseStreamEventUnion, error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sse.Headers(w.Header())
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0),
		option.WithHTTPClient(srv.Client()))
	s := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model: "test-model", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	defer s.Close()
	var evs []responses.ResponseStreamEventUnion
	for s.Next() {
		evs = append(evs, s.Current())
	}
	return evs, s.Err()
}

func TestStreamSDKConformance(t *testing.T) {
	req := ParseRequest([]byte(`{"model":"m","input":"x","instructions":"sys","temperature":0.5,
		"tools":[{"type":"function","name":"lookup","parameters":{"type":"object"}},{"type":"custom","name":"apply_patch"}]}`))
	chunks := []string{
		chunk(`{"role":"assistant","content":""}`),
		chunk(`{"reasoning_content":"Let me think."}`),
		chunk(`{"content":"Hello, \"world\"\n"}`),
		chunk(`{"content":"ünïcode ✓"}`),
		chunk(`{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"lookup","arguments":""}}]}`),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\":"}}]}`),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"x\"}"}}]}`),
		chunk(`{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"apply_patch","arguments":"{\"input\":\"*** Begin"}}]}`),
		chunk(`{"tool_calls":[{"index":1,"function":{"arguments":" Patch\\n\"}"}}]}`),
		finishChunk("tool_calls"),
	}
	u := provider.Usage{PromptTokens: 40, CompletionTokens: 12, CachedTokens: 8, Reported: true}
	e, out := encode(req, chunks, u, nil)
	frames(t, out)
	evs, err := sdkStream(t, out)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Type != "response.completed" {
		t.Fatalf("last event %q", last.Type)
	}
	resp := last.AsResponseCompleted().Response
	if resp.ID != e.ID() || !strings.HasPrefix(resp.ID, "resp_") || resp.Status != "completed" || resp.Model != "test-model" {
		t.Fatalf("response header %+v", resp)
	}
	if got := resp.OutputText(); got != "Hello, \"world\"\nünïcode ✓" {
		t.Fatalf("output text %q", got)
	}
	if resp.Instructions.OfString != "sys" || resp.Temperature != 0.5 || len(resp.Tools) != 2 {
		t.Fatalf("echo fields: instructions %q temperature %v tools %d", resp.Instructions.OfString, resp.Temperature, len(resp.Tools))
	}
	if resp.Usage.InputTokens != 40 || resp.Usage.OutputTokens != 12 || resp.Usage.InputTokensDetails.CachedTokens != 8 || resp.Usage.TotalTokens != 52 {
		t.Fatalf("usage %+v", resp.Usage)
	}
	var types []string
	for _, it := range resp.Output {
		types = append(types, it.Type)
	}
	if !slices.Equal(types, []string{"reasoning", "message", "function_call", "custom_tool_call"}) {
		t.Fatalf("output items %q", types)
	}
	if s := resp.Output[0].Summary; len(s) != 1 || s[0].Text != "Let me think." {
		t.Fatalf("reasoning summary %+v", s)
	}
	fc := resp.Output[2]
	if fc.CallID != "call_a" || fc.Name != "lookup" || fc.Arguments.OfString != `{"q":"x"}` || !strings.HasPrefix(fc.ID, "fc_") {
		t.Fatalf("function call %+v", fc)
	}
	cc := resp.Output[3]
	if cc.CallID != "call_b" || cc.Name != "apply_patch" || cc.Input != "*** Begin Patch\n" || !strings.HasPrefix(cc.ID, "ctc_") {
		t.Fatalf("custom tool call %+v", cc)
	}
	// The incremental events add up to the same answer.
	var text, args strings.Builder
	for _, ev := range evs {
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.function_call_arguments.delta":
			args.WriteString(ev.Delta)
		}
	}
	if text.String() != resp.OutputText() || args.String() != `{"q":"x"}` {
		t.Fatalf("deltas: text %q args %q", text.String(), args.String())
	}
	if !bytes.Equal([]byte(last.AsResponseCompleted().Response.RawJSON()), e.Response()) {
		t.Fatal("Response() is not the completed event's object")
	}
}

func TestStreamIncompleteAndEmpty(t *testing.T) {
	_, out := encode(nil, []string{chunk(`{"content":"cut"}`), finishChunk("length")}, provider.Usage{PromptTokens: 1, CompletionTokens: 1}, nil)
	fs := frames(t, out)
	last := fs[len(fs)-1]
	if last.name != "response.incomplete" || gjson.GetBytes(last.data, "response.status").Str != "incomplete" ||
		gjson.GetBytes(last.data, "response.incomplete_details.reason").Str != "max_output_tokens" {
		t.Fatalf("last %s %s", last.name, last.data)
	}
	evs, err := sdkStream(t, out)
	if err != nil || evs[len(evs)-1].AsResponseIncomplete().Response.OutputText() != "cut" {
		t.Fatalf("sdk: %v", err)
	}
	// Finish with no chunk at all still opens and closes the response.
	e := NewStreamEncoder("m")
	fs = frames(t, e.Finish(nil, provider.Usage{}))
	if !slices.Equal(names(fs), []string{"response.created", "response.in_progress", "response.completed"}) {
		t.Fatalf("empty stream: %q", names(fs))
	}
	if len(e.Finish(nil, provider.Usage{})) != 0 || len(e.Chunk(nil, []byte(chunk(`{"content":"late"}`)))) != 0 {
		t.Fatal("events after Finish")
	}
}

func TestStreamFail(t *testing.T) {
	aerr := &apierr.Error{Status: 429, Type: apierr.TypeRateLimit, Code: apierr.CodeRateLimitExceeded, Message: "slow down"}
	e, out := encode(nil, []string{chunk(`{"content":"partial"}`)}, provider.Usage{}, aerr)
	fs := frames(t, out)
	last := fs[len(fs)-1]
	if last.name != "response.failed" {
		t.Fatalf("last event %s", last.name)
	}
	evs, err := sdkStream(t, out)
	if err != nil {
		t.Fatal(err)
	}
	resp := evs[len(evs)-1].AsResponseFailed().Response
	if resp.Status != "failed" || resp.Error.Code != "rate_limit_exceeded" || resp.Error.Message != "slow down" {
		t.Fatalf("failed response %+v", resp.Error)
	}
	if gjson.GetBytes(e.Response(), "status").Str != "failed" {
		t.Fatal("Response() is not the failed object")
	}
	// Fail before anything was sent still makes a complete, valid stream.
	e2 := NewStreamEncoder("m")
	fs = frames(t, e2.Fail(nil, &apierr.Error{Status: 502, Message: "upstream broke"}))
	if !slices.Equal(names(fs), []string{"response.created", "response.in_progress", "response.failed"}) ||
		gjson.GetBytes(fs[2].data, "response.error.code").Str != "server_error" {
		t.Fatalf("fail first: %q %s", names(fs), fs[len(fs)-1].data)
	}
}

func TestStreamSkipsMalformedChunks(t *testing.T) {
	_, out := encode(nil, []string{`not json`, `{"choices":"x"}`, `{"choices":[{"delta":{"content":"a\u0000\ud800"}}]}`,
		chunk(`{"content":"ok"}`), `{"choices":[{"delta":{"content":"bad \x"}}]}`}, provider.Usage{}, nil)
	fs := frames(t, out)
	var final struct {
		Response struct {
			Output []struct {
				Content []struct{ Text string }
			}
		}
	}
	if err := json.Unmarshal(fs[len(fs)-1].data, &final); err != nil {
		t.Fatal(err)
	}
	if len(final.Response.Output) != 1 || !strings.Contains(final.Response.Output[0].Content[0].Text, "ok") {
		t.Fatalf("final %s", fs[len(fs)-1].data)
	}
}

func TestLiteralHelpers(t *testing.T) {
	for _, tt := range []struct {
		raw string
		ok  bool
	}{
		{`{"content":"hi"}`, true},
		{`{"content":"a\"b"}`, true},
		{`{"content":"a\\"}`, true},
		{`{"content":"a\"}`, false},
		{`{"content":"a","x":"b"}`, false},
		{`{"content":""}`, true},
		{`{"role":"assistant"}`, false},
	} {
		if _, ok := contentOnly(tt.raw); ok != tt.ok {
			t.Errorf("contentOnly(%s) = %v", tt.raw, ok)
		}
	}
}

// BenchmarkStreamEncoderText is the steady-state cost of one text delta.
func BenchmarkStreamEncoderText(b *testing.B) {
	e := NewStreamEncoder("gpt-4o")
	c := []byte(`{"id":"chatcmpl-BkXYZ","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_07871e2ad8","choices":[{"index":0,"delta":{"content":" hello"},"logprobs":null,"finish_reason":null}]}`)
	dst := e.Chunk(nil, c)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		dst = e.Chunk(dst[:0], c)
	}
}

// BenchmarkStreamEncoderTextEscaped is the same with a delta that has escapes.
func BenchmarkStreamEncoderTextEscaped(b *testing.B) {
	e := NewStreamEncoder("gpt-4o")
	c := []byte(`{"id":"chatcmpl-BkXYZ","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"line\n\"quoted\" \u00e9"},"logprobs":null,"finish_reason":null}]}`)
	dst := e.Chunk(nil, c)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		dst = e.Chunk(dst[:0], c)
	}
}

// A pretty-printed request must not break the SSE frames its echo fields go into.
func TestStreamPrettyRequest(t *testing.T) {
	req := ParseRequest([]byte("{\n  \"model\": \"m\",\n  \"input\": \"x\",\n  \"tools\": [\n    {\"type\": \"function\", \"name\": \"f\"}\n  ],\n  \"metadata\": {\n    \"a\": \"b\"\n  }\n}"))
	_, out := encode(req, []string{chunk(`{"content":"hi"}`)}, provider.Usage{}, nil)
	fs := frames(t, out)
	if got := gjson.GetBytes(fs[len(fs)-1].data, "response.tools.0.name").Str; got != "f" {
		t.Fatalf("tools echo lost: %s", fs[len(fs)-1].data)
	}
	if bytes.Count(out, []byte("\n\n")) != len(fs) {
		t.Fatal("stray blank lines in the stream")
	}
}

// A tool call's name and id are kept across chunks while the caller reuses one read
// buffer for every chunk (the Anthropic provider's stream does): the encoder must copy
// them. Seen with real Codex and OpenCode as tool names like "_tok" of the right length.
func TestStreamToolCallSurvivesBufferReuse(t *testing.T) {
	e := ParseRequest([]byte(`{"model":"m","input":"x"}`)).NewStreamEncoder("m")
	buf := make([]byte, 0, 512)
	feed := func(chunk string) []byte {
		buf = append(buf[:0], chunk...)
		out := e.Chunk(nil, buf)
		for i := range buf { // the caller's next read overwrites the buffer
			buf[i] = '_'
		}
		return out
	}
	var out []byte
	out = append(out, feed(`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"read","arguments":""}}]}}]}`)...)
	out = append(out, feed(`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"a\"}"}}]}}]}`)...)
	out = append(out, feed(`{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`)...)
	out = e.Finish(out, provider.Usage{})
	s := string(out)
	if !strings.Contains(s, `"type":"response.output_item.done"`) {
		t.Fatalf("no output_item.done in:\n%s", s)
	}
	done := s[strings.Index(s, `"type":"response.output_item.done"`):]
	if !strings.Contains(done, `"name":"read"`) || !strings.Contains(done, `"call_id":"call_abc"`) {
		t.Fatalf("tool call name or id lost after buffer reuse:\n%s", done)
	}
}
