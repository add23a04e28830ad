package jsonx

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		in, kind, path string
	}{
		{`{"model":"a","messages":[]}`, "", ""},
		{`[]`, "", ""},
		{`{}`, "", ""},
		{` {"a" : [1, -2.5e+3, true, false, null, "x\u00e9\n"] } `, "", ""},
		{`{"model":"a","model":"b"}`, "duplicate", "model"},
		{`{"model":"a","mod\u0065l":"b"}`, "duplicate", "model"},
		{`{"mod\u0065l":"a","model":"b"}`, "duplicate", "model"},
		{`{"stream_options":{"include_usage":false,"include_usage":true}}`, "duplicate", "stream_options.include_usage"},
		{`{"messages":[{"role":"user"},{"role":"user","role":"system"}]}`, "duplicate", "messages[1].role"},
		{`{"a":{"x":1},"b":{"x":1}}`, "", ""},
		{`[[[[]]]]`, "", ""},
		{strings.Repeat("[", 5) + strings.Repeat("]", 5), "", ""},
		{strings.Repeat("[", 9) + strings.Repeat("]", 9), "depth", ""},
		{`{"a":` + strings.Repeat(`{"b":`, 8) + `1` + strings.Repeat("}", 9), "depth", ""},
		{`{"a":1,}`, "syntax", ""},
		{`{"a" 1}`, "syntax", ""},
		{`[1 2]`, "syntax", ""},
		{`01`, "syntax", ""},
		{`"\x"`, "syntax", ""},
		{`{"a":1}x`, "syntax", ""},
		{``, "syntax", ""},
		{`[`, "syntax", ""},
	}
	for _, tc := range cases {
		err := Check([]byte(tc.in), 8)
		kind, path := "", ""
		if err != nil {
			kind, path = err.Kind, err.Path
		}
		if kind != tc.kind || (tc.path != "" && path != tc.path) {
			t.Errorf("%.60s: got %q %q (%v), want %q %q", tc.in, kind, path, err, tc.kind, tc.path)
		}
	}
}

// TestCheckManyKeys crosses the in-place/set boundary both ways.
func TestCheckManyKeys(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("{")
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i))
		b.WriteString(`":1`)
	}
	if err := Check(append(b.Bytes(), '}'), 8); err != nil {
		t.Fatal(err)
	}
	if err := Check(append(b.Bytes(), `,"kxxx":2}`...), 8); err == nil || err.Path != "kxxx" {
		t.Fatalf("late duplicate: %v", err)
	}
}

// TestCheckHugeDepth is the 9 MB "[[[[" body: refused at once, no stack growth.
func TestCheckHugeDepth(t *testing.T) {
	b := bytes.Repeat([]byte("["), 9<<20)
	if err := Check(b, DefaultMaxDepth); err == nil || err.Kind != "depth" || err.Offset != DefaultMaxDepth {
		t.Fatalf("got %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"a","model":"b"}`, `{"a":{"b":{"a":1,"a":2}}}`, `{"\u006d":1,"m":2}`,
		strings.Repeat("[", 200), strings.Repeat("[", 20) + strings.Repeat("]", 20),
		strings.Repeat(`{"a":`, 30) + "1" + strings.Repeat("}", 30), `[1,2,{"x":[true,null]}]`, `"\ud800"`, `-0.1e-5`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const depth = 16
		err := Check(b, depth)
		valid := json.Valid(b)
		if err == nil {
			if !valid {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			if d := maxDepth(b); d > depth {
				t.Fatalf("accepted depth %d: %q", d, b)
			}
			if hasDup(b) {
				t.Fatalf("accepted a duplicate key: %q", b)
			}
			return
		}
		switch err.Kind {
		case "syntax":
			if valid {
				t.Fatalf("refused valid JSON %q: %v", b, err)
			}
		case "depth":
			if valid && maxDepth(b) <= depth {
				t.Fatalf("depth refusal of %q (depth %d)", b, maxDepth(b))
			}
		case "duplicate":
			if valid && !hasDup(b) {
				t.Fatalf("duplicate refusal of %q: %v", b, err)
			}
		}
	})
}

// maxDepth counts bracket nesting outside strings (reference for valid JSON).
func maxDepth(b []byte) int {
	d, m, in, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case in && esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == '[' || c == '{'):
			d++
			m = max(m, d)
		case !in && (c == ']' || c == '}'):
			d--
		}
	}
	return m
}

// hasDup is the reference duplicate finder: encoding/json's token stream.
func hasDup(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type level struct {
		object bool
		keys   map[string]bool
		expect bool // object: next string token is a key
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.expect
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &level{object: v == '{', keys: map[string]bool{}, expect: v == '{'})
			} else {
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if isKey {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.expect = false
				continue
			}
		}
		if top != nil && top.object {
			top.expect = true
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[` + strings.Repeat(`{"role":"user","content":"The quick brown fox jumps over the lazy dog, again and again."},`, 200) + `{"role":"user","content":"hi"}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(body, DefaultMaxDepth); err != nil {
			b.Fatal(err)
		}
	}
}
