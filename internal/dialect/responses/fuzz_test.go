package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/sse"
)

func FuzzToChat(f *testing.F) {
	files, _ := filepath.Glob("testdata/request-*.json")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte(`{"model":"m","input":"hi","instructions":"x","stream":true}`))
	f.Add([]byte(`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"u"}]}],"tools":[{"type":"namespace","tools":[{"type":"custom","name":"c"}]}]}`))
	f.Add([]byte(`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"n"}],"text":{"format":{"type":"json_schema","name":"s"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		chat, _, err := ToChat(body)
		if err != nil {
			if e := apierr.As(err); e == nil || e.Status != 400 || e.Message == "" {
				t.Fatalf("error is not a 400 *apierr.Error: %#v", err)
			}
			return
		}
		if !json.Valid(chat) {
			t.Fatalf("invalid chat JSON %s", chat)
		}
		_ = ParseRequest(body)
		_ = InputItems(body)
		if out, err := WithHistory(body, []byte(`[]`), nil); err == nil && !json.Valid(out) {
			t.Fatalf("WithHistory: invalid JSON %s", out)
		}
	})
}

// FuzzStreamEncoder feeds arbitrary chunk payloads (split on newlines) and checks
// the output is always a well-formed Responses event stream of valid JSON.
func FuzzStreamEncoder(f *testing.F) {
	f.Add([]byte(chunk(`{"content":"hi"}`)+"\n"+finishChunk("stop")), false)
	f.Add([]byte(chunk(`{"reasoning_content":"r"}`)+"\n"+chunk(`{"tool_calls":[{"index":0,"id":"a","function":{"name":"apply_patch","arguments":"{\"input\":\"x\"}"}}]}`)), true)
	f.Add([]byte(`{"choices":[{"delta":{"content":"\ud800"}}]}`+"\n"+`{"choices":[],"usage":{"prompt_tokens":1}}`), false)
	f.Add([]byte(`{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\""}}]}}]}`), true)
	req := ParseRequest([]byte(`{"tools":[{"type":"custom","name":"apply_patch"}]}`))
	f.Fuzz(func(t *testing.T, input []byte, fail bool) {
		e := req.NewStreamEncoder("m")
		var out []byte
		for _, c := range bytes.Split(input, []byte("\n")) {
			out = e.Chunk(out, c)
		}
		if fail {
			out = e.Fail(out, &apierr.Error{Status: 500, Message: "x"})
		} else {
			out = e.Finish(out, provider.Usage{})
		}
		r := sse.NewReader(bytes.NewReader(out))
		n := 0
		for {
			name, data, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || len(name) == 0 || !json.Valid(data) {
				t.Fatalf("frame %d: %q %q %v", n, name, data, err)
			}
			n++
		}
		if n < 3 || !json.Valid(e.Response()) {
			t.Fatalf("%d frames; final %s", n, e.Response())
		}
	})
}

// BenchmarkToChat translates a recorded tool-call follow-up request.
func BenchmarkToChat(b *testing.B) {
	body, err := os.ReadFile("testdata/request-function-call-followup.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, _, err := ToChat(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFromChat converts a short text answer.
func BenchmarkFromChat(b *testing.B) {
	chat := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"The capital of PotatoLand is Potato City."},"finish_reason":"stop"}],"usage":{"prompt_tokens":287,"completion_tokens":11,"total_tokens":298}}`)
	req := ParseRequest([]byte(`{"model":"gpt-4o","input":"x","tools":[{"type":"function","name":"get_capital","parameters":{"type":"object"}}]}`))
	u := provider.Usage{PromptTokens: 287, CompletionTokens: 11, Reported: true}
	b.ReportAllocs()
	for range b.N {
		if _, err := req.FromChat(chat, "gpt-4o", u); err != nil {
			b.Fatal(err)
		}
	}
}
