package anthropic

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jmanhype/runestone/internal/provider"
)

func TestFinishReason(t *testing.T) {
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "": "stop", "brand_new": "stop",
		"max_tokens": "length", "model_context_window_exceeded": "length",
		"tool_use": "tool_calls", "refusal": "content_filter",
	} {
		if got := finishReason(in); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\n\r\t\x00\x1f\x7f", "é—漢字🙂",
		"\u2028\u2029", "bad \xff\xfe utf8", "<html>&", string([]byte{0xed, 0xa0, 0x80})} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, got, err)
		}
		want := s
		if !utf8.ValidString(s) {
			want = string([]rune(s)) // invalid bytes read back as U+FFFD, as encoding/json does
		}
		if back != want {
			t.Errorf("%q round-tripped to %q", s, back)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\n\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if b := appendString(nil, s); !json.Valid(b) {
			t.Fatalf("invalid JSON for %q: %s", s, b)
		}
	})
}

func TestProviderIdentityAndHeaders(t *testing.T) {
	p := New(Options{APIKey: "k"})
	if p.Name() != "anthropic" || p.Kind() != "anthropic" || len(p.Models()) == 0 || p.url != "https://api.anthropic.com/v1/messages" {
		t.Errorf("defaults: %q %q %v %q", p.Name(), p.Kind(), p.Models(), p.url)
	}
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = io.WriteString(w, `{"id":"msg_1","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`)
	}))
	defer srv.Close()
	p = New(Options{Name: "c", BaseURL: srv.URL + "/", APIKey: "real-key",
		Headers: map[string]string{"anthropic-beta": "x-2025", "x-api-key": "override-attempt"}})
	defer p.CloseIdleConnections()
	res, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "claude-haiku-4-5",
		Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("anthropic-beta") != "x-2025" || got.Get("x-api-key") != "real-key" || got.Get("anthropic-version") != "2023-06-01" {
		t.Errorf("upstream headers %v", got)
	}
	var cc struct{ Model string }
	_ = json.Unmarshal(res.Body, &cc)
	if cc.Model != "claude-haiku-4-5" { // no ClientModel: the upstream name is the fallback
		t.Errorf("model %q", cc.Model)
	}
}

// TestToolInputOnStart: a proxy that sends the whole input in content_block_start and
// no input_json_delta must still yield those arguments, once.
func TestToolInputOnStart(t *testing.T) {
	var tr translator
	tr.init("p", "m", false, false, 1)
	var chunks []string
	feed := func(s string) {
		tr.out, tr.ends = tr.out[:0], tr.ends[:0]
		_ = tr.event(nil, []byte(s))
		start := 0
		for _, e := range tr.ends {
			chunks = append(chunks, string(tr.out[start:e]))
			start = e
		}
	}
	feed(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{"a": 1}}}`)
	feed(`{"type":"content_block_stop","index":0}`)
	feed(`{"type":"content_block_stop","index":0}`)
	if len(chunks) != 3 { // role, tool start, arguments
		t.Fatalf("chunks %q", chunks)
	}
	want := `{"index":0,"function":{"arguments":"{\"a\":1}"}}`
	if !json.Valid([]byte(chunks[2])) || !strings.Contains(chunks[2], want) {
		t.Errorf("arguments chunk %s", chunks[2])
	}
}
