package jsonx

import "bytes"

// IsSpace reports JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// SkipSpace returns the offset of the first non-whitespace byte of b at or after i.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && IsSpace(b[i]) {
		i++
	}
	return i
}

// StringEnd returns the offset of the quote that closes the string opening at
// b[open], or false when it is not closed.
func StringEnd(b []byte, open int) (int, bool) {
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

// Member finds the first member named key of the object opening at b[open] and
// returns the offset of its value, walking only the members in front of it. It
// gives up (false) on a nested value or an escaped key in front of the one it looks
// for, on a malformed object, and when there is no such member: callers that need
// the answer then ask a full parser (gjson). For the hot path's lookups into small,
// flat-fronted objects (a stream chunk's choices and delta).
func Member(b []byte, open int, key string) (int, bool) {
	i := open + 1
	for {
		if i = SkipSpace(b, i); i >= len(b) || b[i] != '"' {
			return 0, false
		}
		end, ok := StringEnd(b, i)
		if !ok {
			return 0, false
		}
		name := b[i+1 : end]
		if bytes.IndexByte(name, '\\') >= 0 {
			return 0, false
		}
		if i = SkipSpace(b, end+1); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i = SkipSpace(b, i+1); i >= len(b) {
			return 0, false
		}
		if string(name) == key {
			return i, true
		}
		switch b[i] {
		case '"':
			if i, ok = StringEnd(b, i); !ok {
				return 0, false
			}
			i++
		case '{', '[':
			return 0, false
		default: // number, true, false, null
			for i < len(b) && b[i] != ',' && b[i] != '}' && !IsSpace(b[i]) {
				i++
			}
		}
		if i = SkipSpace(b, i); i >= len(b) || b[i] != ',' {
			return 0, false // '}': no such member
		}
		i++
	}
}
