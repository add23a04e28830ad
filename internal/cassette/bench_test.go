package cassette

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// benchBody is a mid-sized chat request: a system prompt, a few turns, two tools.
var benchBody = []byte(`{"model":"gpt-4o-mini","stream":true,"user":"u1","messages":[{"role":"system","content":"` +
	strings.Repeat("You are helpful. ", 40) + `"},{"role":"user","content":"What is the weather in Paris?"},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_1","content":"{\"sky\":\"clear\",\"temp\":21}"}],` +
	`"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},` +
	`{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":"string"}}}}}]}`)

// BenchmarkMatchHit is the replay hot path: canonicalize, scrub, look up.
func BenchmarkMatchHit(b *testing.B) {
	dir := b.TempDir()
	r, _ := NewRecorder(dir, RecordOptions{})
	for i := range 50 {
		tk := r.Begin(chatEP, "POST", nil, []byte(strings.Replace(string(benchBody), "Paris", fmt.Sprint("Paris", i), 1)))
		tk.Header(200, http.Header{"Content-Type": {"text/event-stream"}})
		tk.Frame([]byte("data: {}\n\n"))
		_ = tk.End()
	}
	rp, err := OpenReplayer(dir, ReplayOptions{})
	if err != nil {
		b.Fatal(err)
	}
	req := []byte(strings.Replace(string(benchBody), "Paris", "Paris7", 1))
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if _, miss := rp.Match(chatEP, nil, req); miss != nil {
			b.Fatal(miss)
		}
	}
}

// BenchmarkTakeStream is what recording adds to a 50-event stream before End's I/O.
func BenchmarkTakeStream(b *testing.B) {
	r, _ := NewRecorder(b.TempDir(), RecordOptions{})
	frame := []byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}` + "\n\n")
	h := http.Header{"Content-Type": {"text/event-stream"}}
	b.ReportAllocs()
	for b.Loop() {
		tk := r.Begin(chatEP, "POST", nil, benchBody)
		tk.Header(200, h)
		for range 50 {
			tk.Frame(frame)
		}
	}
}
