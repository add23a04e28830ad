package gateway

import (
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/jsonx"

	"github.com/jmanhype/runestone/internal/provider"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestInspect(t *testing.T) {
	tests := []struct {
		name, body string
		ep         provider.Endpoint
		param      string
		ok         bool
		stream     bool
		usage      bool
	}{
		{"plain", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, provider.Chat, "", true, false, false},
		{"stream usage", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{}]}`, provider.Chat, "", true, true, true},
		{"stream null", `{"model":"m","stream":null,"messages":[{}]}`, provider.Chat, "", true, false, false},
		{"embeddings ignore stream", `{"model":"m","stream":true,"input":"x"}`, provider.Embeddings, "", true, false, false},
		{"leading space", "  \n{\"model\":\"m\",\"prompt\":\"x\"}", provider.Completions, "", true, false, false},
		{"empty model", `{"model":"","messages":[{}]}`, provider.Chat, "model", false, false, false},
		{"no messages", `{"model":"m"}`, provider.Chat, "messages", false, false, false},
		{"input null", `{"model":"m","input":null}`, provider.Embeddings, "input", false, false, false},
		{"trailing garbage", `{"model":"m","messages":[{}]} x`, provider.Chat, "", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := inspect([]byte(tt.body), tt.ep)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if err.Param != tt.param {
					t.Fatalf("param %q want %q", err.Param, tt.param)
				}
				return
			}
			if info.model != "m" || info.stream != tt.stream || info.includeUsage != tt.usage {
				t.Fatalf("info %+v", info)
			}
		})
	}
}

func FuzzInspect(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	f.Add([]byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`))
	f.Add([]byte(`[{"model":"m"}]`))
	f.Add([]byte("{\"model\":\"\xff\"}"))
	// Deep nesting (a recursive parser's stack) and duplicate keys (first-wins vs
	// last-wins) are refused before anything reads the body.
	f.Add([]byte(`{"model":"m","messages":[{}],"x":` + strings.Repeat("[", 5000) + `}`))
	f.Add([]byte(strings.Repeat("[", 100000)))
	f.Add([]byte(`{"model":"a","messages":[{}],"model":"b"}`))
	f.Add([]byte(`{"model":"a","messages":[{}],"mod\u0065l":"b"}`))
	f.Add([]byte(`{"model":"a","stream":false,"messages":[{}],"stream":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ep := range []provider.Endpoint{provider.Chat, provider.Completions, provider.Embeddings} {
			info, err := inspect(body, ep)
			if err == nil && info.model == "" {
				t.Fatalf("accepted a body without a model: %q", body)
			}
			if err != nil && (err.Status != 400 || err.Message == "") {
				t.Fatalf("bad error %+v", err)
			}
			if err == nil && (jsonx.Check(body, jsonx.DefaultMaxDepth) != nil) {
				t.Fatalf("accepted a body the checker refuses: %.80q", body)
			}
		}
	})
}

func TestAnswerText(t *testing.T) {
	chat := []byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"}}]}`)
	tools := []byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}}]}`)
	legacy := []byte(`{"choices":[{"text":"Once upon","index":0}]}`)
	if got := answerText(chat); got != "Hello there" {
		t.Errorf("chat: %q", got)
	}
	if got := answerText(tools); got == "" {
		t.Errorf("tool call arguments not counted")
	}
	if got := answerText(legacy); got != "Once upon" {
		t.Errorf("legacy: %q", got)
	}
}
