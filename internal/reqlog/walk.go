package reqlog

import (
	"bytes"
	"unsafe"

	"github.com/tidwall/gjson"
)

// chatContent returns choices[0].delta.content of a chat chunk, the answer text of
// nearly every chunk, by walking only the members in front of it: gjson's general
// walk (path parsing, every key compared through its matcher) was the largest piece
// of the relay's per-chunk work. ok is false whenever the chunk is shaped any other
// way (a nested value before the member, an escaped key, content not a string, no
// content at all), and Add then asks gjson, so the answer is always gjson's.
func chatContent(b []byte) (s string, ok bool) {
	i, ok := member(b, 0, "choices")
	if !ok || b[i] != '[' {
		return "", false
	}
	if i = ws(b, i+1); i >= len(b) || b[i] != '{' {
		return "", false
	}
	if i, ok = member(b, i, "delta"); !ok || b[i] != '{' {
		return "", false
	}
	if i, ok = member(b, i, "content"); !ok || b[i] != '"' {
		return "", false
	}
	end, ok := strEnd(b, i)
	if !ok {
		return "", false
	}
	raw := b[i+1 : end]
	if bytes.IndexByte(raw, '\\') < 0 {
		return unsafe.String(unsafe.SliceData(raw), len(raw)), true
	}
	return gjson.Parse(unsafe.String(unsafe.SliceData(b[i:]), end+1-i)).Str, true
}

// member finds the first member named key of the object opening at b[open] and
// returns the offset of its value. It gives up (false) on a nested value or an
// escaped key in front of the one it looks for: both are rare in a chunk, and
// skipping them exactly is gjson's job.
func member(b []byte, open int, key string) (int, bool) {
	i := open + 1
	for {
		if i = ws(b, i); i >= len(b) || b[i] != '"' {
			return 0, false
		}
		end, ok := strEnd(b, i)
		if !ok {
			return 0, false
		}
		name := b[i+1 : end]
		if bytes.IndexByte(name, '\\') >= 0 {
			return 0, false
		}
		if i = ws(b, end+1); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i = ws(b, i+1); i >= len(b) {
			return 0, false
		}
		if string(name) == key {
			return i, true
		}
		switch b[i] {
		case '"':
			if i, ok = strEnd(b, i); !ok {
				return 0, false
			}
			i++
		case '{', '[':
			return 0, false
		default: // number, true, false, null
			for i < len(b) && b[i] != ',' && b[i] != '}' && !isWS(b[i]) {
				i++
			}
		}
		if i = ws(b, i); i >= len(b) || b[i] != ',' {
			return 0, false // '}': no such member
		}
		i++
	}
}

// strEnd returns the offset of the quote closing the string that opens at b[open].
func strEnd(b []byte, open int) (int, bool) {
	i := open + 1
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return 0, false
		}
		i += j
		n := 0 // backslashes right before the quote: an odd count escapes it
		for k := i - 1; k > open && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return i, true
		}
		i++
	}
}

func ws(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
