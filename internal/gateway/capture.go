package gateway

import (
	"bytes"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// textSink reassembles a streamed answer's text (content deltas, tool-call fragments,
// legacy completion text) for the request log and for token estimation.
type textSink struct {
	b         []byte
	truncated int
}

func (t *textSink) add(chunk []byte, limit int) {
	if limit <= 0 {
		return
	}
	// A string view of the chunk, not a copy: gjson then returns substrings of it
	// (no allocation), and only the bytes appended below outlive this call.
	js := unsafe.String(unsafe.SliceData(chunk), len(chunk))
	var piece string
	if bytes.Contains(chunk, []byte(`"content":"`)) {
		piece = gjson.Get(js, "choices.0.delta.content").String()
	} else if bytes.Contains(chunk, []byte(`"arguments":"`)) {
		piece = gjson.Get(js, "choices.0.delta.tool_calls.0.function.arguments").String()
		if name := gjson.Get(js, "choices.0.delta.tool_calls.0.function.name").String(); name != "" {
			t.b = append(append(append(t.b, "[tool_call "...), name...), "] "...)
		}
	} else if bytes.Contains(chunk, []byte(`"text":"`)) {
		piece = gjson.Get(js, "choices.0.text").String()
	}
	t.addText(piece, limit)
}

// addText appends a piece of answer text, within limit.
func (t *textSink) addText(piece string, limit int) {
	if piece == "" || limit <= 0 {
		return
	}
	room := limit - len(t.b)
	if room <= 0 {
		t.truncated += len(piece)
		return
	}
	if len(piece) > room {
		cut := room
		for cut > 0 && !utf8.RuneStart(piece[cut]) {
			cut--
		}
		t.truncated += len(piece) - cut
		piece = piece[:cut]
	}
	if t.b == nil {
		// One buffer sized for a typical answer, rather than append's doubling
		// from 8 bytes (six or seven allocations before the first 512 bytes).
		t.b = make([]byte, 0, min(max(len(piece), 512), limit))
	}
	t.b = append(t.b, piece...)
}

func (t *textSink) String() string { return string(t.b) }

// view is the text without a copy, for the log row: t only ever appends past its
// length, so the bytes under the view never change.
func (t *textSink) view() string { return unsafe.String(unsafe.SliceData(t.b), len(t.b)) }

// capView is capBody without a copy when b fits: the row's string then shares b's
// bytes. Only for buffers nothing writes to after the answer (the request body is
// read once and only read after; answers are fresh slices or recorded cassettes),
// so the database driver's copy is the only one.
func capView(b []byte, limit int) string {
	if len(b) <= limit {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	return capBody(b, limit)
}

// capBody keeps at most limit bytes of b, cut on a rune boundary and marked.
func capBody(b []byte, limit int) string {
	if len(b) <= limit {
		return string(b)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "…[truncated " + itoa(int64(len(b)-cut)) + " bytes]"
}
