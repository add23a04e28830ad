package responses

import (
	"os"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
)

func TestUsageScannerRecorded(t *testing.T) {
	for file, want := range map[string]provider.Usage{
		"testdata/stream-text.sse": {PromptTokens: 13, CompletionTokens: 12, Reported: true,
			ServiceTier: "default", Model: "gpt-3.5-turbo-0125"},
		// A recorded gpt-5 answer: its 128 reasoning tokens are inside the 151 output
		// tokens and were read as 0 before the one Responses reader.
		"testdata/stream-custom-tool.sse": {PromptTokens: 63, CompletionTokens: 151, ReasoningTokens: 128, Reported: true,
			ServiceTier: "default", Model: "gpt-5-2025-08-07"},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var s, anon UsageScanner
		for _, f := range frames(t, b) {
			s.Event(f.name, f.data)
			anon.Event("", f.data) // a stream without event lines
		}
		if s.Usage() != want || anon.Usage() != want {
			t.Errorf("%s: %+v / %+v, want %+v", file, s.Usage(), anon.Usage(), want)
		}
		if gjson.GetBytes(s.Response(), "status").Str != "completed" || !gjson.ValidBytes(s.Response()) {
			t.Errorf("%s: final response %.80s", file, s.Response())
		}
	}
	var s UsageScanner
	s.Event("response.completed", []byte(`{"response":{"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":2}}}`))
	if s.Usage() != (provider.Usage{PromptTokens: 10, CachedTokens: 4, CompletionTokens: 2, Reported: true}) {
		t.Errorf("cached: %+v", s.Usage())
	}
	s = UsageScanner{}
	s.Event("response.output_text.delta", []byte(`{"response":{"usage":{"input_tokens":1}}}`))
	if s.Usage().Reported {
		t.Error("usage read from a non-terminal event")
	}
}

func TestBodyUsage(t *testing.T) {
	b, err := os.ReadFile("testdata/nonstream-function-call.json")
	if err != nil {
		t.Fatal(err)
	}
	if u := BodyUsage(b); u != (provider.Usage{PromptTokens: 256, CompletionTokens: 18, Reported: true, Model: "gpt-4o-2024-08-06"}) {
		t.Fatalf("%+v", u)
	}
	if u := BodyUsage([]byte(`{"id":"resp_1"}`)); u.Reported {
		t.Fatalf("%+v", u)
	}
}

func TestEstimateInputTokens(t *testing.T) {
	est := usage.NewEstimator()
	short, err := EstimateInputTokens(est, []byte(`{"model":"gpt-4o","input":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	long, err := EstimateInputTokens(est, []byte(`{"model":"gpt-4o","instructions":"You are a careful assistant who answers briefly.","input":[{"role":"user","content":"hi there, how are you doing today?"}],"tools":[{"type":"function","name":"lookup","description":"Look things up","parameters":{"type":"object"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if short <= 0 || long <= short+10 {
		t.Fatalf("short %d long %d", short, long)
	}
	if n, err := EstimateInputTokens(est, []byte(`{"input":"hi"}`)); err != nil || n != short {
		t.Fatalf("without a model: %d, %v; want %d", n, err, short)
	}
	if _, err := EstimateInputTokens(est, []byte(`{"model":"gpt-4o","input":5}`)); err == nil {
		t.Fatal("no error for a bad input")
	}
}
