package messages

import (
	"bytes"
	"io"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/sse"
	"github.com/jmanhype/runestone/internal/testutil"
)

func scan(t *testing.T, body []byte) provider.Usage {
	t.Helper()
	var s UsageScanner
	r := sse.NewReader(bytes.NewReader(body))
	for {
		name, data, err := r.Next()
		if err == io.EOF {
			return s.Usage()
		}
		if err != nil {
			t.Fatal(err)
		}
		s.Event(string(name), data)
	}
}

func TestUsageScanner(t *testing.T) {
	ex := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-stream-two-tool-use.httprr")[0]
	if got, want := scan(t, ex.Body), (provider.Usage{PromptTokens: 679, CompletionTokens: 111, Reported: true, ServiceTier: "standard", Model: "claude-sonnet-4-5-20250929"}); got != want {
		t.Errorf("two-tool-use: %+v, want %+v", got, want)
	}
	thinking := testutil.ReadFile(t, "anthropic", "captures", "messages-stream-thinking.sse")
	// The thinking capture's message_delta reports output_tokens_details.thinking_tokens.
	if got := scan(t, thinking); got.PromptTokens != 80 || got.CompletionTokens != 638 || got.ReasoningTokens != 353 || !got.Reported {
		t.Errorf("thinking: %+v", got)
	}
	// Cache counts: message_start has them; message_delta repeats input only.
	var s UsageScanner
	if (s.Usage() != provider.Usage{}) {
		t.Error("zero scanner reports usage")
	}
	s.Event("message_start", []byte(`{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_creation_input_tokens":100,"cache_read_input_tokens":1000,"output_tokens":1}}}`))
	s.Event("ping", []byte(`{"type": "ping"}`))
	s.Event("", []byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}`))
	if got, want := s.Usage(), (provider.Usage{PromptTokens: 1110, CompletionTokens: 42, CachedTokens: 1000, CacheWriteTokens: 100, Reported: true}); got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
}

func TestBodyUsage(t *testing.T) {
	ex := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-nonstream-thinking-parallel-tool-use.httprr")[0]
	if got, want := BodyUsage(ex.Body), (provider.Usage{PromptTokens: 797, CompletionTokens: 200, Reported: true, ServiceTier: "standard", Model: "claude-sonnet-4-5-20250929"}); got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
	if got := BodyUsage([]byte(`{"usage":{"input_tokens":3,"cache_read_input_tokens":4,"cache_creation_input_tokens":5,"output_tokens":6}}`)); got != (provider.Usage{PromptTokens: 12, CompletionTokens: 6, CachedTokens: 4, CacheWriteTokens: 5, Reported: true}) {
		t.Errorf("%+v", got)
	}
	if got := BodyUsage([]byte(`{"type":"error"}`)); got.Reported {
		t.Errorf("%+v", got)
	}
}

func BenchmarkUsageScannerText(b *testing.B) {
	data := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" and"}   }`)
	var s UsageScanner
	b.ReportAllocs()
	for b.Loop() {
		s.Event("content_block_delta", data)
	}
}

func TestUsageOneHourCacheWrites(t *testing.T) {
	u := BodyUsage([]byte(`{"usage":{"input_tokens":3,"cache_creation_input_tokens":100,"cache_read_input_tokens":10,"cache_creation":{"ephemeral_5m_input_tokens":40,"ephemeral_1h_input_tokens":60},"output_tokens":5}}`))
	if u.PromptTokens != 113 || u.CacheWriteTokens != 100 || u.CacheWrite1hTokens != 60 || u.CachedTokens != 10 {
		t.Fatalf("%+v", u)
	}
}

// TestMessageStartCarriesFirstChunkUsage: an upstream that reports usage before the
// first token (vLLM's continuous usage stats) gives message_start real input counts.
func TestMessageStartCarriesFirstChunkUsage(t *testing.T) {
	e := NewStreamEncoder("m")
	out := e.Chunk(nil, []byte(`{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],`+
		`"usage":{"prompt_tokens":1200,"completion_tokens":0,"prompt_tokens_details":{"cached_tokens":1000}}}`))
	if !bytes.Contains(out, []byte(`"usage":{"input_tokens":200,"cache_creation_input_tokens":0,"cache_read_input_tokens":1000,`)) {
		t.Fatalf("message_start without the first chunk's usage:\n%s", out)
	}
	out = NewStreamEncoder("m").Chunk(nil, []byte(`{"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}]}`))
	if !bytes.Contains(out, []byte(`"usage":{"input_tokens":0,`)) {
		t.Fatalf("message_start without usage:\n%s", out)
	}
}
