package jsonx

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"
)

func TestMember(t *testing.T) {
	b := []byte(`{"id":"c\"x", "n" : 12,"ok":true, "s":"a\\","delta" :{"content":"hi"},"after":[1]}`)
	i, ok := Member(b, 0, "delta")
	if !ok || b[i] != '{' {
		t.Fatalf("delta: %d %v", i, ok)
	}
	if j, ok := Member(b, i, "content"); !ok || string(b[j:j+4]) != `"hi"` {
		t.Fatalf("content: %d %v", j, ok)
	}
	for _, miss := range []string{"after", "missing"} { // behind a nested value; absent
		if _, ok := Member(b, 0, miss); ok {
			t.Errorf("%s found", miss)
		}
	}
	if end, ok := StringEnd(b, 6); !ok || end != 11 {
		t.Fatalf("StringEnd = %d %v, want 11", end, ok)
	}
}

// FuzzMember: when Member answers, the value it points at is gjson's for the key.
func FuzzMember(f *testing.F) {
	f.Add([]byte(`{"a":1,"key":"v"}`))
	f.Add([]byte(`{ "key" : {"x":[1,2]}, "key":2}`))
	f.Add([]byte(`{"k\u0065y":1,"key":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) || len(b) == 0 || b[0] != '{' {
			return
		}
		i, ok := Member(b, 0, "key")
		if !ok {
			return
		}
		want := gjson.GetBytes(b, "key")
		if !want.Exists() || want.Index != i {
			t.Fatalf("Member(%s) = %d, gjson has %q at %d", b, i, want.Raw, want.Index)
		}
	})
}
