package anthropic

import (
	"bytes"
	"io"
	"testing"

	"github.com/jmanhype/runestone/internal/sse"
)

// BenchmarkStreamTranslate is the cost of translating one streamed Anthropic event
// into its OpenAI chunk(s): one op is one event, cycling through a recorded tool-use
// stream (text deltas, tool starts, input_json_delta fragments, pings, usage).
func BenchmarkStreamTranslate(b *testing.B) {
	body, _ := captureSSE(b, "messages-stream-two-tool-use.httprr")
	names, datas := sseEvents(body)
	var t translator
	t.init("p", "client-model", false, true, 1700000000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(datas)
		if j == 0 {
			t.init("p", "client-model", false, true, 1700000000)
		}
		t.out, t.ends = t.out[:0], t.ends[:0]
		_ = t.event(names[j], datas[j])
	}
}

// BenchmarkStreamTranslateText is the common case: a text_delta event.
func BenchmarkStreamTranslateText(b *testing.B) {
	data := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the waiter's name for you."}          }`)
	var t translator
	t.init("p", "client-model", false, true, 1700000000)
	t.start()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t.out, t.ends = t.out[:0], t.ends[:0]
		_ = t.event(nil, data)
	}
}

// BenchmarkStreamNext includes SSE parsing: one op is one whole recorded stream.
func BenchmarkStreamNext(b *testing.B) {
	body, _ := captureSSE(b, "messages-stream-two-tool-use.httprr")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		s := &stream{ctx: b.Context(), body: io.NopCloser(nil), cancel: func() {}, r: sse.NewReader(bytes.NewReader(body))}
		s.t.init("p", "m", false, true, 1)
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	}
}
