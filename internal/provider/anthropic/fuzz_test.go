package anthropic

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/jmanhype/runestone/internal/apierr"
)

// FuzzStreamTranslator feeds arbitrary event sequences, one data payload per line (as
// in the .chunks.txt captures), to the translator in both modes. It must not panic,
// every chunk must be JSON, and it must end at most once.
func FuzzStreamTranslator(f *testing.F) {
	for _, name := range []string{"messages-stream-text.sse", "messages-stream-two-tool-use.httprr",
		"messages-stream-thinking.sse", "messages-stream-text-then-tool-no-args.chunks.txt"} {
		body, _ := captureSSE(f, name)
		_, datas := sseEvents(body)
		f.Add(bytes.Join(datas, []byte("\n")))
	}
	seed, err := os.ReadFile(filepath.Join(testdata, "captures", "stream-error-event-overloaded.data.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"\u2028","name":"\xff","input":{"a":[1]}}}
{"type":"content_block_stop","index":3}
{"type":"message_delta","delta":{"stop_reason":"tool_use"}}
{"type":"message_delta","delta":{"stop_reason":"end_turn"}}
{"type":"message_stop"}
{"type":"message_stop"}`))
	f.Add([]byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\u0000\"\\"}}` + "\n{not json"))

	f.Fuzz(func(t *testing.T, in []byte) {
		for _, text := range []bool{false, true} {
			for _, usage := range []bool{false, true} {
				var tr translator
				tr.init("p", "m\"odel", text, usage, 1)
				terminals := 0
				for _, line := range bytes.Split(in, []byte("\n")) {
					tr.out, tr.ends = tr.out[:0], tr.ends[:0]
					err := tr.event([]byte("x"), line)
					start := 0
					for _, end := range tr.ends {
						chunk := tr.out[start:end]
						start = end
						if terminals > 0 {
							t.Fatalf("chunk after the terminal: %s", chunk)
						}
						if !json.Valid(chunk) {
							t.Fatalf("invalid chunk JSON: %q", chunk)
						}
						var c struct {
							Choices []struct{ Index int } `json:"choices"`
						}
						if err := json.Unmarshal(chunk, &c); err != nil {
							t.Fatal(err)
						}
						for _, ch := range c.Choices {
							if ch.Index != 0 {
								t.Fatalf("choice index %d", ch.Index)
							}
						}
					}
					if start != len(tr.out) {
						t.Fatalf("unterminated output %q", tr.out[start:])
					}
					if err != nil {
						if err != io.EOF && apierr.As(err) == nil {
							t.Fatalf("terminal %v is neither io.EOF nor *apierr.Error", err)
						}
						terminals++
					}
				}
				if terminals > 1 {
					t.Fatalf("%d terminals", terminals)
				}
			}
		}
	})
}
