package jsonx

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
)

// DefaultMaxDepth is the nesting limit the gateway applies to request bodies: far
// above anything an API request needs, far below what blows a recursive parser's stack.
const DefaultMaxDepth = 128

// CheckError says why Check refused a document.
type CheckError struct {
	// Kind is "syntax", "depth" or "duplicate".
	Kind string
	// Path names the duplicated key (dotted, with [i] for array elements), or the
	// place where the nesting got too deep.
	Path string
	// Offset is the byte offset of the problem.
	Offset int
	msg    string
}

func (e *CheckError) Error() string { return e.msg }

// Check validates a JSON document in one iterative pass, without recursion and
// without building it in memory, and refuses two shapes that recursive parsers and
// "first key wins" readers get wrong:
//   - nesting deeper than maxDepth (a megabyte of "[" overflows a recursive parser);
//   - an object with the same key twice, at any depth, compared after unescaping
//     ("model" and "mod\u0065l" are the same key). Parsers disagree on which one wins,
//     so a gateway that reads one and forwards both acts on a body the upstream does
//     not see.
//
// It accepts exactly what encoding/json.Valid accepts otherwise.
func Check(b []byte, maxDepth int) *CheckError { return check(b, maxDepth, false) }

// CheckDepth is Check without the duplicate-key rule, for documents the gateway only
// reads (upstream answers), where a duplicate is the upstream's business.
func CheckDepth(b []byte, maxDepth int) *CheckError { return check(b, maxDepth, true) }

// checkers are reused: a request body is checked on every request, and the stacks
// would otherwise be allocated (and grown) each time.
var checkers = sync.Pool{New: func() any { return new(checker) }}

func check(b []byte, maxDepth int, dupsOK bool) *CheckError {
	c := checkers.Get().(*checker)
	c.b, c.i, c.max, c.dupsOK = b, 0, maxDepth, dupsOK
	c.stack, c.keys = c.stack[:0], c.keys[:0]
	err := c.run()
	clear(c.stack[:cap(c.stack)]) // drop maps and keep no references into b
	c.b = nil
	if cap(c.keys) <= 4096 && cap(c.stack) <= 256 {
		checkers.Put(c)
	}
	return err
}

type frame struct {
	object bool
	index  int    // array: index of the current element
	key    span   // object: current key, raw
	esc    string // object: current key unescaped, when it has escapes
	first  int    // object: where its keys start in checker.keys (small objects)
	set    map[string]struct{}
}

type span struct{ start, end int }

type checker struct {
	b     []byte
	i     int
	max   int
	stack []frame
	keys  []span // keys of the open small objects, innermost last (shared, no per-object allocation)
	// dupsOK turns the duplicate-key rule off.
	dupsOK bool
}

func (c *checker) syntax(what string) *CheckError {
	return &CheckError{Kind: "syntax", Offset: c.i, msg: "invalid JSON at byte " + strconv.Itoa(c.i) + ": " + what}
}

func (c *checker) ws() { c.i = SkipSpace(c.b, c.i) }

// path renders where the checker is, for error messages.
func (c *checker) path() string {
	var sb strings.Builder
	for _, f := range c.stack {
		if f.object {
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			if f.esc != "" {
				sb.WriteString(f.esc)
			} else {
				sb.Write(c.b[f.key.start:f.key.end])
			}
		} else {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(f.index))
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

func (c *checker) run() *CheckError {
	c.ws()
	if err := c.value(); err != nil {
		return err
	}
	for len(c.stack) > 0 {
		if err := c.afterValue(); err != nil {
			return err
		}
	}
	c.ws()
	if c.i != len(c.b) {
		return c.syntax("unexpected data after the top-level value")
	}
	return nil
}

// value consumes one value; an object or array only pushes a frame (and its first
// member), the rest is driven by afterValue.
func (c *checker) value() *CheckError {
	c.ws()
	if c.i >= len(c.b) {
		return c.syntax("unexpected end of input")
	}
	switch ch := c.b[c.i]; {
	case ch == '{' || ch == '[':
		if len(c.stack) >= c.max {
			return &CheckError{Kind: "depth", Path: c.path(), Offset: c.i,
				msg: "JSON nesting is deeper than " + strconv.Itoa(c.max) + " levels"}
		}
		c.i++
		c.ws()
		if ch == '[' {
			c.stack = append(c.stack, frame{})
			if c.i < len(c.b) && c.b[c.i] == ']' {
				c.i++
				c.pop()
				return nil
			}
			return c.value()
		}
		c.stack = append(c.stack, frame{object: true, first: len(c.keys)})
		if c.i < len(c.b) && c.b[c.i] == '}' {
			c.i++
			c.pop()
			return nil
		}
		return c.member()
	case ch == '"':
		_, err := c.str()
		return err
	case ch == 't':
		return c.lit("true")
	case ch == 'f':
		return c.lit("false")
	case ch == 'n':
		return c.lit("null")
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.num()
	default:
		return c.syntax("unexpected character " + strconv.QuoteRune(rune(ch)))
	}
}

// pop ends the innermost container; an enclosing container then continues in afterValue.
func (c *checker) pop() {
	f := &c.stack[len(c.stack)-1]
	if f.object && f.set == nil {
		c.keys = c.keys[:f.first]
	}
	c.stack = c.stack[:len(c.stack)-1]
}

// afterValue handles what follows a completed value inside the innermost container.
func (c *checker) afterValue() *CheckError {
	c.ws()
	if c.i >= len(c.b) {
		return c.syntax("unexpected end of input")
	}
	f := &c.stack[len(c.stack)-1]
	ch := c.b[c.i]
	switch {
	case ch == ',':
		c.i++
		if f.object {
			c.ws()
			return c.member()
		}
		f.index++
		return c.value()
	case f.object && ch == '}', !f.object && ch == ']':
		c.i++
		c.pop()
		return nil
	default:
		return c.syntax("expected ',' or the end of the container")
	}
}

// member reads `"key": ` and the start of its value, refusing a repeated key.
func (c *checker) member() *CheckError {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return c.syntax("expected a string key")
	}
	start := c.i
	escaped, err := c.str()
	if err != nil {
		return err
	}
	raw := span{start + 1, c.i - 1}
	f := &c.stack[len(c.stack)-1]
	f.key, f.esc = raw, ""
	if escaped {
		if json.Unmarshal(c.b[start:c.i], &f.esc) != nil {
			return c.syntax("invalid string escape")
		}
	}
	if !c.dupsOK && c.seen(f) {
		p := c.path()
		return &CheckError{Kind: "duplicate", Path: p, Offset: start, msg: "duplicate key " + strconv.Quote(p)}
	}
	c.ws()
	if c.i >= len(c.b) || c.b[c.i] != ':' {
		return c.syntax("expected ':' after an object key")
	}
	c.i++
	return c.value()
}

// smallObject is the key count up to which keys are compared in place (no allocation).
const smallObject = 16

// seen records the frame's current key and reports whether the object had it already.
func (c *checker) seen(f *frame) bool {
	if f.set == nil && f.esc == "" && len(c.keys)-f.first < smallObject {
		k := c.b[f.key.start:f.key.end]
		for _, s := range c.keys[f.first:] {
			if string(c.b[s.start:s.end]) == string(k) {
				return true
			}
		}
		// Only the innermost object is ever being filled, so its keys are the tail.
		c.keys = append(c.keys, f.key)
		return false
	}
	if f.set == nil {
		// Large, or a key with escapes: compare unescaped strings through a set.
		f.set = make(map[string]struct{}, len(c.keys)-f.first+1)
		for _, s := range c.keys[f.first:] {
			f.set[string(c.b[s.start:s.end])] = struct{}{}
		}
		c.keys = c.keys[:f.first]
	}
	key := f.esc
	if key == "" {
		key = string(c.b[f.key.start:f.key.end])
	}
	if _, ok := f.set[key]; ok {
		return true
	}
	f.set[key] = struct{}{}
	return false
}

// str consumes a string literal, reporting whether it holds escapes.
func (c *checker) str() (bool, *CheckError) {
	c.i++ // opening quote
	escaped := false
	for c.i < len(c.b) {
		// Runs of plain bytes (most of a prompt) eight at a time, then byte by byte
		// up to the next byte that needs a look.
		b, i := c.b, c.i
		for {
			for i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
				i += 8
			}
			end := min(i+8, len(b))
			for i < end && plain[b[i]] {
				i++
			}
			if i < end || i == len(b) {
				break
			}
			// special8 flagged a word with nothing special in it: go on.
		}
		c.i = i
		if i == len(b) {
			break
		}
		ch := b[i]
		switch {
		case ch == '"':
			c.i++
			return escaped, nil
		case ch == '\\':
			escaped = true
			if c.i+1 >= len(c.b) {
				return escaped, c.syntax("unterminated string")
			}
			switch c.b[c.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.i += 2
			case 'u':
				if c.i+6 > len(c.b) {
					return escaped, c.syntax("unterminated \\u escape")
				}
				for _, h := range c.b[c.i+2 : c.i+6] {
					if !isHex(h) {
						return escaped, c.syntax("invalid \\u escape")
					}
				}
				c.i += 6
			default:
				return escaped, c.syntax("invalid escape")
			}
		case ch < 0x20:
			return escaped, c.syntax("control character in a string")
		default:
			c.i++
		}
	}
	return escaped, c.syntax("unterminated string")
}

// plain marks the bytes a string literal holds as they are: not the closing quote,
// not a backslash, not a control character.
var plain = func() (t [256]bool) {
	for i := 0x20; i < 256; i++ {
		t[i] = i != '"' && i != '\\'
	}
	return t
}()

// special8 reports whether any of the eight bytes in w is a quote, a backslash or
// a control character (the bit tricks of "determine if a word has a zero byte":
// no false negatives; a false positive only sends the caller to its byte loop).
func special8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := w ^ (ones * '"')
	s := w ^ (ones * '\\')
	return ((q-ones)&^q|(s-ones)&^s|(w-ones*0x20)&^w)&highs != 0
}

func isHex(h byte) bool {
	return (h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')
}

func (c *checker) lit(word string) *CheckError {
	if len(c.b)-c.i < len(word) || string(c.b[c.i:c.i+len(word)]) != word {
		return c.syntax("invalid literal")
	}
	c.i += len(word)
	return nil
}

// num consumes a number with JSON's grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
func (c *checker) num() *CheckError {
	if c.b[c.i] == '-' {
		c.i++
	}
	digits := func() int {
		n := 0
		for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
			c.i++
			n++
		}
		return n
	}
	if c.i < len(c.b) && c.b[c.i] == '0' {
		c.i++
	} else if digits() == 0 {
		return c.syntax("invalid number")
	}
	if c.i < len(c.b) && c.b[c.i] == '.' {
		c.i++
		if digits() == 0 {
			return c.syntax("invalid number")
		}
	}
	if c.i < len(c.b) && (c.b[c.i] == 'e' || c.b[c.i] == 'E') {
		c.i++
		if c.i < len(c.b) && (c.b[c.i] == '+' || c.b[c.i] == '-') {
			c.i++
		}
		if digits() == 0 {
			return c.syntax("invalid number")
		}
	}
	return nil
}
