package reqlog

import (
	"bytes"
	"unsafe"

	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/tidwall/gjson"
)

// chatContent returns choices[0].delta.content of a chat chunk, the answer text of
// nearly every chunk, by walking only the members in front of it: gjson's general
// walk (path parsing, every key compared through its matcher) was the largest piece
// of the relay's per-chunk work. ok is false whenever the chunk is shaped any other
// way (a nested value before the member, an escaped key, content not a string, no
// content at all), and Add then asks gjson, so the answer is always gjson's.
func chatContent(b []byte) (s string, ok bool) {
	i, ok := jsonx.Member(b, 0, "choices")
	if !ok || b[i] != '[' {
		return "", false
	}
	if i = jsonx.SkipSpace(b, i+1); i >= len(b) || b[i] != '{' {
		return "", false
	}
	if i, ok = jsonx.Member(b, i, "delta"); !ok || b[i] != '{' {
		return "", false
	}
	if i, ok = jsonx.Member(b, i, "content"); !ok || b[i] != '"' {
		return "", false
	}
	end, ok := jsonx.StringEnd(b, i)
	if !ok {
		return "", false
	}
	raw := b[i+1 : end]
	if bytes.IndexByte(raw, '\\') < 0 {
		return unsafe.String(unsafe.SliceData(raw), len(raw)), true
	}
	return gjson.Parse(unsafe.String(unsafe.SliceData(b[i:]), end+1-i)).Str, true
}
