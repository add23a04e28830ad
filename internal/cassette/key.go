package cassette

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Volatile are the top-level request fields matching ignores: they identify the
// caller or tune delivery, and change from run to run without changing the answer.
var Volatile = []string{"user", "metadata", "stream_options", "prompt_cache_key", "safety_identifier"}

// path is a parsed ignore path: object keys and array indexes, "*" matching any.
type path []string

// parsePath reads the ignore-path syntax: a dotted path with optional "$." in front
// and array indexes either as [N] or as .N; "*" (or [*]) matches any key or index.
// "$.messages[0].content", "messages.0.content" and "messages[*].name" are all valid.
func parsePath(s string) (path, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "$"), ".")
	if s == "" {
		return nil, fmt.Errorf("empty JSON path")
	}
	s = strings.ReplaceAll(strings.ReplaceAll(s, "[", "."), "]", "")
	var p path
	for _, seg := range strings.Split(s, ".") {
		seg = strings.Trim(seg, `"'`)
		if seg == "" {
			return nil, fmt.Errorf("JSON path %q has an empty segment", s)
		}
		p = append(p, seg)
	}
	return p, nil
}

// canon parses a JSON body into a generic value with numbers kept as written, minus
// the volatile fields and ignore paths. ok is false when the body is not JSON.
func canon(body []byte, ignore []path) (v any, ok bool) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	if m, isObj := v.(map[string]any); isObj {
		for _, k := range Volatile {
			delete(m, k)
		}
	}
	for _, p := range ignore {
		v = drop(v, p)
	}
	return v, true
}

// drop removes the value at p from v (every match, for "*" segments).
func drop(v any, p path) any {
	if len(p) == 0 {
		return v
	}
	seg, rest := p[0], p[1:]
	switch x := v.(type) {
	case map[string]any:
		for k := range x {
			if seg != "*" && k != seg {
				continue
			}
			if len(rest) == 0 {
				delete(x, k)
			} else {
				x[k] = drop(x[k], rest)
			}
		}
	case []any:
		for i := range x {
			if seg != "*" && strconv.Itoa(i) != seg {
				continue
			}
			if len(rest) == 0 {
				x[i] = ignored{} // keep later indexes where they were
			} else {
				x[i] = drop(x[i], rest)
			}
		}
	}
	return v
}

// ignored stands in for a dropped array element.
type ignored struct{}

func (ignored) MarshalJSON() ([]byte, error) { return []byte(`"(ignored)"`), nil }

// key is a request's match key: endpoint, canonical body and answer-changing headers.
type key struct {
	text string // the full key; maps index by it
	body any    // the canonical body, for diffs
	raw  []byte // the body when it is not JSON
}

// makeKey builds the key after the normalizer rewrote what changes between runs and
// machines (see normalize.go), so the key, the file hash and a miss's diff all see
// the normalized body.
func makeKey(endpoint string, headers map[string]string, body []byte, ignore []path, n *normalizer) key {
	v, ok := canon(body, ignore)
	if ok {
		v = n.apply(body, v)
	}
	var b strings.Builder
	b.WriteString(endpoint)
	b.WriteByte(0)
	k := key{body: v}
	if ok {
		enc, _ := json.Marshal(v) // maps marshal with sorted keys: the canonical form
		b.Write(enc)
	} else {
		k.raw = body
		b.Write(body)
	}
	b.WriteByte(0)
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(n + "=" + headers[n] + "\n")
	}
	k.text = b.String()
	return k
}

// hash is the short hash in file names.
func (k key) hash() string {
	s := sha256.Sum256([]byte(k.text))
	return hex.EncodeToString(s[:4])
}

// diffKeys lists how request a differs from cassette b as "path: a ≠ b" lines, all of
// them (callers cut).
func diffKeys(a, b key, ha, hb map[string]string) []string {
	var out []string
	if a.raw != nil || b.raw != nil {
		if !bytes.Equal(a.raw, b.raw) {
			out = append(out, fmt.Sprintf("body: %s ≠ %s", short(string(a.raw)), short(string(b.raw))))
		}
	} else {
		diffValues("", a.body, b.body, &out)
	}
	names := map[string]bool{}
	for n := range ha {
		names[n] = true
	}
	for n := range hb {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		va, oka := ha[n]
		vb, okb := hb[n]
		if va != vb || oka != okb {
			out = append(out, fmt.Sprintf("header %s: %s ≠ %s", n, headerVal(va, oka), headerVal(vb, okb)))
		}
	}
	return out
}

func headerVal(v string, ok bool) string {
	if !ok {
		return "(absent)"
	}
	return short(strconv.Quote(v))
}

func diffValues(at string, a, b any, out *[]string) {
	switch x := a.(type) {
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			keys := map[string]bool{}
			for k := range x {
				keys[k] = true
			}
			for k := range y {
				keys[k] = true
			}
			sorted := make([]string, 0, len(keys))
			for k := range keys {
				sorted = append(sorted, k)
			}
			sort.Strings(sorted)
			for _, k := range sorted {
				va, oka := x[k]
				vb, okb := y[k]
				p := joinPath(at, k)
				switch {
				case !oka:
					*out = append(*out, fmt.Sprintf("%s: (absent) ≠ %s", p, show(vb)))
				case !okb:
					*out = append(*out, fmt.Sprintf("%s: %s ≠ (absent)", p, show(va)))
				default:
					diffValues(p, va, vb, out)
				}
			}
			return
		}
	case []any:
		if y, ok := b.([]any); ok {
			for i := 0; i < max(len(x), len(y)); i++ {
				p := fmt.Sprintf("%s[%d]", at, i)
				switch {
				case i >= len(x):
					*out = append(*out, fmt.Sprintf("%s: (absent) ≠ %s", p, show(y[i])))
				case i >= len(y):
					*out = append(*out, fmt.Sprintf("%s: %s ≠ (absent)", p, show(x[i])))
				default:
					diffValues(p, x[i], y[i], out)
				}
			}
			return
		}
	}
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok && sa != sb {
			// Long texts (system prompts) differ deep inside: show where.
			ra, rb := []rune(sa), []rune(sb)
			i := 0
			for i < len(ra) && i < len(rb) && ra[i] == rb[i] {
				i++
			}
			if i > 20 {
				ra, rb = append([]rune("…"), ra[i-20:]...), append([]rune("…"), rb[i-20:]...)
				*out = append(*out, fmt.Sprintf("%s (from character %d): %s ≠ %s", cmp.Or(at, "body"), i-20, show(string(ra)), show(string(rb))))
				return
			}
		}
	}
	ea, _ := json.Marshal(a)
	eb, _ := json.Marshal(b)
	if !bytes.Equal(ea, eb) {
		if at == "" {
			at = "body"
		}
		*out = append(*out, fmt.Sprintf("%s: %s ≠ %s", at, show(a), show(b)))
	}
}

func joinPath(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// show renders a value for a diff line: JSON, cut to a readable length.
func show(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<tool>" reads better than "\u003ctool\u003e"
	if err := enc.Encode(v); err != nil {
		return "?"
	}
	return short(strings.TrimSuffix(b.String(), "\n"))
}

// short cuts s to about 60 characters on a rune boundary.
func short(s string) string {
	const limit = 60
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit]) + "…"
}
