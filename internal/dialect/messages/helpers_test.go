package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

// event is one parsed SSE frame of the encoder's output.
type event struct {
	name string
	data string
}

// parseFrames splits encoder output into frames and checks each is exactly
// "event: NAME\ndata: JSON\n\n" with the JSON's type equal to NAME.
func parseFrames(out []byte) ([]event, error) {
	var evs []event
	s := string(out)
	for s != "" {
		frame, rest, ok := strings.Cut(s, "\n\n")
		if !ok {
			return evs, fmt.Errorf("unterminated frame %q", s)
		}
		s = rest
		name, data, ok := strings.Cut(frame, "\n")
		if !ok || !strings.HasPrefix(name, "event: ") || !strings.HasPrefix(data, "data: ") {
			return evs, fmt.Errorf("bad frame %q", frame)
		}
		name, data = name[len("event: "):], data[len("data: "):]
		if strings.Contains(data, "\n") {
			return evs, fmt.Errorf("data spans lines: %q", data)
		}
		if !json.Valid([]byte(data)) {
			return evs, fmt.Errorf("invalid JSON in %s: %q", name, data)
		}
		if typ := gjson.Get(data, "type").Str; typ != name {
			return evs, fmt.Errorf("event %q carries type %q", name, typ)
		}
		evs = append(evs, event{name, data})
	}
	return evs, nil
}

func names(evs []event) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.name)
	}
	return b.String()
}

// chatChunks returns the data payloads (without [DONE]) of each response stream in a
// recorded chat exchange file: .httprr traces or vcrpy .yaml cassettes.
func chatChunks(t testing.TB, file string) [][][]byte {
	t.Helper()
	var bodies [][]byte
	if strings.HasSuffix(file, ".httprr") {
		for _, ex := range testutil.ReadHTTPRR(t, "openai", file) {
			bodies = append(bodies, ex.Body)
		}
	} else {
		// vcrpy cassette: each interaction's SSE body is a block of indented
		// "data: ..." lines; interactions start with "- request:".
		raw := testutil.ReadFile(t, "openai", file)
		for _, part := range bytes.Split(raw, []byte("\n- request:")) {
			var b []byte
			for _, line := range bytes.Split(part, []byte("\n")) {
				line = bytes.TrimLeft(line, " ")
				if bytes.HasPrefix(line, []byte("data: ")) {
					b = append(append(b, line...), '\n', '\n')
				}
			}
			if len(b) > 0 {
				bodies = append(bodies, b)
			}
		}
	}
	var out [][][]byte
	for _, body := range bodies {
		var chunks [][]byte
		for _, line := range bytes.Split(body, []byte("\n")) {
			line = bytes.TrimRight(line, "\r")
			d, ok := bytes.CutPrefix(line, []byte("data: "))
			if !ok || string(d) == "[DONE]" {
				continue
			}
			chunks = append(chunks, d)
		}
		out = append(out, chunks)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no streams", file)
	}
	return out
}

// encode runs a whole chat stream through a fresh encoder, with Finish's usage
// u, and returns the output.
func encode(t testing.TB, model string, chunks [][]byte, finish func(e *StreamEncoder, dst []byte) []byte) []byte {
	t.Helper()
	e := NewStreamEncoder(model)
	var out []byte
	for _, c := range chunks {
		out = e.Chunk(out, c)
	}
	return finish(e, out)
}
