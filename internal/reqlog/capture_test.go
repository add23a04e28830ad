package reqlog

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

func TestCap(t *testing.T) {
	cases := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "hello", 10, "hello"},
		{"exact", "hello", 5, "hello"},
		{"no limit", "hello", 0, "hello"},
		{"cut", "hello world", 5, "hello…[truncated 6 bytes]"},
		// "é" is 2 bytes: a cut inside it backs off to the rune start.
		{"utf8 boundary", "caféine", 4, "caf…[truncated 5 bytes]"},
		{"emoji", "ab😀cd", 4, "ab…[truncated 6 bytes]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Cap([]byte(c.in), c.max)
			if got != c.want {
				t.Fatalf("Cap(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("invalid UTF-8: %q", got)
			}
		})
	}
}

func TestTextCaptureChat(t *testing.T) {
	var c TextCapture
	for _, ch := range []string{
		`data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
		`{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"}}]}`,
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" wörld\"}}]}\n\n",
		`: keep-alive`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}`,
		`data: [DONE]`,
		`not json at all`,
	} {
		c.Add([]byte(ch))
	}
	if got := c.String(); got != "Hello wörld" {
		t.Fatalf("got %q", got)
	}
}

func TestTextCaptureSeveralEventsInOneChunk(t *testing.T) {
	var c TextCapture
	c.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n"))
	if got := c.String(); got != "ab" {
		t.Fatalf("got %q", got)
	}
}

func TestTextCaptureToolCallsAndError(t *testing.T) {
	var c TextCapture
	for _, ch := range []string{
		`{"choices":[{"delta":{"content":"Let me check."}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"name":"get_time","arguments":"{}"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}`,
		`{"error":{"message":"upstream went away","type":"server_error"}}`,
	} {
		c.Add([]byte(ch))
	}
	want := "Let me check.\n[tool_call get_weather({\"city\":\"Paris\"})]\n[tool_call get_time({})]\n[error: upstream went away]"
	if got := c.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTextCaptureTextCompletion(t *testing.T) {
	c := NewTextCapture(0)
	c.Add([]byte(`{"object":"text_completion","choices":[{"text":"Once upon","index":0}]}`))
	c.Add([]byte(`{"object":"text_completion","choices":[{"text":" a time","index":0}]}`))
	if got := c.String(); got != "Once upon a time" {
		t.Fatalf("got %q", got)
	}
}

func TestTextCaptureCap(t *testing.T) {
	c := NewTextCapture(10)
	for range 5 {
		c.Add([]byte(`{"choices":[{"delta":{"content":"ééé"}}]}`)) // 6 bytes each
	}
	got := c.String()
	if got != "ééééé…[truncated 20 bytes]" {
		t.Fatalf("got %q", got)
	}
	if !utf8.ValidString(got) {
		t.Fatalf("invalid UTF-8: %q", got)
	}
}

// FuzzScanKeys: the one-pass key scan finds exactly what the four substring
// searches it replaces find.
func FuzzScanKeys(f *testing.F) {
	for _, s := range []string{
		`{"choices":[{"index":0,"delta":{"content":"hi"}}]}`, `{"error":{"message":"x"}}`,
		`{"choices":[{"text":"a:b","delta":{"tool_calls":[]}}]}`, `"content": "x"`, `::"text":"`, `"error"`, `:`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := 0
		for _, k := range []struct {
			bit int
			pat string
		}{{keyError, `"error":`}, {keyContent, `"content":"`}, {keyText, `"text":"`}, {keyToolCalls, `"tool_calls":`}} {
			if bytes.Contains(b, []byte(k.pat)) {
				want |= k.bit
			}
		}
		if got := scanKeys(b); got != want {
			t.Fatalf("scanKeys(%q) = %b, want %b", b, got, want)
		}
	})
}

// FuzzChatContent: whenever the short walk answers, its answer is gjson's for
// choices.0.delta.content, on any valid JSON.
func FuzzChatContent(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}],"usage":null}`,
		`{"id":"c", "choices" : [ {"index":0, "delta": {"role":"assistant", "content": "a\"b\\n\u00e9"}}]}`,
		`{"choices":[{"delta":{"content":null}}]}`, `{"choices":{"0":{"delta":{"content":"x"}}}}`,
		`{"x":{"choices":[]},"choices":[{"delta":{"content":"y"}}]}`, `{"choices":[{"delta":{"content":"a","content":"b"}}]}`,
		`{"ch\u006fices":[{"delta":{"content":"z"}}]}`, `{"choices":[],"choices":[{"delta":{"content":"q"}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		got, ok := chatContent(b)
		if !ok {
			return
		}
		want := gjson.GetBytes(b, "choices.0.delta.content")
		if want.Type != gjson.String || got != want.Str {
			t.Fatalf("chatContent(%s) = %q, gjson has %s %q", b, got, want.Type, want.Str)
		}
	})
}
