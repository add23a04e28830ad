package mock

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func call(ep provider.Endpoint, body string, stream, usage bool, hdr map[string]string) *provider.Call {
	h := http.Header{}
	for k, v := range hdr {
		h.Set(k, v)
	}
	return &provider.Call{Endpoint: ep, Model: "mock", ClientModel: "mock", Body: []byte(body), Stream: stream, IncludeUsage: usage, Header: h}
}

func TestChatEchoesLastUserMessage(t *testing.T) {
	p := New(Options{})
	resp, err := p.Do(context.Background(), call(provider.Chat,
		`{"model":"mock","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello there"}]}]}`, false, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Object  string
		Choices []struct {
			Message      struct{ Content string }
			FinishReason string `json:"finish_reason"`
		}
		Usage struct{ PromptTokens, CompletionTokens, TotalTokens int } `json:"usage"`
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		t.Fatalf("invalid JSON: %s", resp.Body)
	}
	if v.Object != "chat.completion" || v.Choices[0].Message.Content != "You said: hello there" || v.Choices[0].FinishReason != "stop" {
		t.Fatalf("%s", resp.Body)
	}
	if resp.Usage.CompletionTokens != 4 || !resp.Usage.Reported {
		t.Fatalf("usage %+v", resp.Usage)
	}
}

func collect(t *testing.T, s provider.Stream) []string {
	t.Helper()
	var out []string
	for {
		b, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if !gjson.ValidBytes(b) {
			t.Fatalf("invalid chunk %s", b)
		}
		out = append(out, string(b))
	}
}

func TestStreamWordByWordWithRoleFirstAndUsageWhenAsked(t *testing.T) {
	for _, usage := range []bool{false, true} {
		resp, err := New(Options{}).Do(context.Background(), call(provider.Chat, `{"messages":[{"role":"user","content":"one two"}]}`, true, usage, nil))
		if err != nil {
			t.Fatal(err)
		}
		chunks := collect(t, resp.Stream)
		// role, "You", " said:", " one", " two", finish, [usage]
		want := 6
		if usage {
			want = 7
		}
		if len(chunks) != want {
			t.Fatalf("usage=%v: %d chunks: %v", usage, len(chunks), chunks)
		}
		if gjson.Get(chunks[0], "choices.0.delta.role").String() != "assistant" {
			t.Fatalf("first chunk %s", chunks[0])
		}
		var text string
		for _, c := range chunks {
			text += gjson.Get(c, "choices.0.delta.content").String()
		}
		if text != "You said: one two" {
			t.Fatalf("text %q", text)
		}
		if gjson.Get(chunks[5], "choices.0.finish_reason").String() != "stop" {
			t.Fatalf("finish chunk %s", chunks[5])
		}
		if usage && gjson.Get(chunks[6], "usage.completion_tokens").Int() != 4 {
			t.Fatalf("usage chunk %s", chunks[6])
		}
		if !usage && strings.Contains(strings.Join(chunks, ""), `"usage"`) {
			t.Fatal("usage key present without include_usage")
		}
		resp.Stream.Close()
	}
}

func TestKnobs(t *testing.T) {
	p := New(Options{})
	_, err := p.Do(context.Background(), call(provider.Chat, `{"messages":[]}`, false, false, map[string]string{"x-mock-status": "429"}))
	if e := apierr.As(err); e == nil || e.Status != 429 || !e.Retryable || e.RetryAfter != time.Second {
		t.Fatalf("429: %#v", err)
	}
	start := time.Now()
	resp, err := p.Do(context.Background(), call(provider.Chat, `{"messages":[{"role":"user","content":"a"}]}`, true, false,
		map[string]string{"x-mock-latency-ms": "50", "x-mock-chunks": "5", "x-mock-chunk-delay-ms": "10"}))
	if err != nil || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("latency not applied: %v", err)
	}
	chunks := collect(t, resp.Stream)
	if len(chunks) != 7 || time.Since(start) < 90*time.Millisecond {
		t.Fatalf("want 5 paced content chunks (+role, finish), got %d in %v", len(chunks), time.Since(start))
	}
	resp, _ = p.Do(context.Background(), call(provider.Chat, `{"messages":[{"role":"user","content":"a b c d"}]}`, true, false,
		map[string]string{"x-mock-cut-after": "2"}))
	n := 0
	for {
		_, err := resp.Stream.Next()
		if err != nil {
			if err == io.EOF || apierr.As(err) == nil {
				t.Fatalf("want an upstream error after the cut, got %v", err)
			}
			break
		}
		n++
	}
	if n != 3 { // role + 2 content chunks
		t.Fatalf("cut after %d chunks", n)
	}
}

func TestToolCallWhenAsked(t *testing.T) {
	body := `{"messages":[{"role":"user","content":"call get_weather"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}}}]}`
	resp, err := New(Options{}).Do(context.Background(), call(provider.Chat, body, false, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	tc := gjson.GetBytes(resp.Body, "choices.0.message.tool_calls.0")
	if tc.Get("function.name").String() != "get_weather" || gjson.GetBytes(resp.Body, "choices.0.finish_reason").String() != "tool_calls" {
		t.Fatalf("%s", resp.Body)
	}
	args := tc.Get("function.arguments").String()
	if gjson.Get(args, "city").String() != "example" || gjson.Get(args, "days").Int() != 0 || !gjson.Valid(args) {
		t.Fatalf("args %s", args)
	}
}

// TestToolCallWithGivenArgs: "call NAME {JSON}" calls NAME with those arguments, verbatim,
// so an agent's real tool (a file read, a shell command) has something to work on; anything
// else after NAME falls back to the placeholders.
func TestToolCallWithGivenArgs(t *testing.T) {
	tools := `"tools":[{"type":"function","function":{"name":"Read","parameters":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}}}]`
	for msg, want := range map[string]string{
		`call Read {"file_path": "/tmp/x/secret.txt"}`: `{"file_path": "/tmp/x/secret.txt"}`,
		`call Read please {"file_path":"/a"}`:          `{"file_path":"example"}`,
		`call Read {"file_path":`:                      `{"file_path":"example"}`,
		`call Read ["/a"]`:                             `{"file_path":"example"}`,
	} {
		body, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": msg}}})
		body = append(body[:len(body)-1], ","+tools+"}"...)
		resp, err := New(Options{}).Do(context.Background(), call(provider.Chat, string(body), false, false, nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := gjson.GetBytes(resp.Body, "choices.0.message.tool_calls.0.function.arguments").String(); got != want {
			t.Errorf("%s: arguments %s, want %s", msg, got, want)
		}
	}
}

func TestEmbeddingsStableUnitAndBase64(t *testing.T) {
	p := New(Options{})
	r1, err := p.Do(context.Background(), call(provider.Embeddings, `{"input":["a","b"],"dimensions":8}`, false, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := p.Do(context.Background(), call(provider.Embeddings, `{"input":["a","b"],"dimensions":8,"encoding_format":"base64"}`, false, false, nil))
	floats := gjson.GetBytes(r1.Body, "data.0.embedding").Array()
	if len(floats) != 8 {
		t.Fatalf("dims %d", len(floats))
	}
	var norm float64
	for _, f := range floats {
		norm += f.Float() * f.Float()
	}
	if math.Abs(norm-1) > 1e-3 {
		t.Fatalf("not unit length: %v", norm)
	}
	raw, err := base64.StdEncoding.DecodeString(gjson.GetBytes(r2.Body, "data.0.embedding").String())
	if err != nil || len(raw) != 32 {
		t.Fatalf("base64 %v %d", err, len(raw))
	}
	for i, f := range floats {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); math.Abs(float64(got)-f.Float()) > 1e-6 {
			t.Fatalf("base64 dim %d = %v want %v", i, got, f.Float())
		}
	}
	if gjson.GetBytes(r1.Body, "data.1.embedding.0").Float() == floats[0].Float() {
		t.Fatal("different inputs gave the same vector")
	}
	if d := gjson.GetBytes(r1.Body, "data.0.embedding").Raw; len(Vector("a", 1536)) != 1536 || d == "" {
		t.Fatal("default dims")
	}
}

func TestServesModel(t *testing.T) {
	p := New(Options{})
	if !p.ServesModel("mock-large") || p.ServesModel("gpt-4o") || !New(Options{CatchAll: true}).ServesModel("gpt-4o") {
		t.Fatal("model matching")
	}
}

// TestToolLoop: the mock behaves like a model in an agent's tool loop: it honours
// tool_choice, answers a tool result with text instead of calling again, and gives
// each conversation state its own call id.
func TestToolLoop(t *testing.T) {
	p := New(Options{Name: "mock", CatchAll: true, Tokens: func(s string) int { return len(s) / 4 }})
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`
	do := func(body string) string {
		resp, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "m", ClientModel: "m", Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		return string(resp.Body)
	}
	first := do(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"<reminder>"},{"type":"text","text":"call get_weather"}]}],` + tools + `}`)
	if gjson.Get(first, "choices.0.message.tool_calls.0.function.name").Str != "get_weather" {
		t.Fatalf("first turn: %s", first)
	}
	id := gjson.Get(first, "choices.0.message.tool_calls.0.id").Str
	second := do(`{"model":"m","messages":[{"role":"user","content":"call get_weather"},{"role":"assistant","tool_calls":[{"id":"` + id +
		`","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"` + id + `","content":"sunny"}],` + tools + `}`)
	if gjson.Get(second, "choices.0.message.content").Str != "The tool returned: sunny" {
		t.Fatalf("after the tool result: %s", second)
	}
	none := do(`{"model":"m","tool_choice":"none","messages":[{"role":"user","content":"call get_weather"}],` + tools + `}`)
	if gjson.Get(none, "choices.0.message.tool_calls").Exists() {
		t.Fatalf("tool_choice none: %s", none)
	}
	named := do(`{"model":"m","tool_choice":{"type":"function","function":{"name":"get_weather"}},"messages":[{"role":"user","content":"hello"}],` + tools + `}`)
	other := do(`{"model":"m","tool_choice":{"type":"function","function":{"name":"get_weather"}},"messages":[{"role":"user","content":"hello again"}],` + tools + `}`)
	a, b := gjson.Get(named, "choices.0.message.tool_calls.0.id").Str, gjson.Get(other, "choices.0.message.tool_calls.0.id").Str
	if a == "" || a == b || a == id {
		t.Fatalf("named tool_choice ids %q %q %q: %s", a, b, id, named)
	}
}
