package jsonx

import (
	"encoding/json"
	"testing"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\x00\x07\x7f\n\t", "\u2028\u2029", "\xff\xfe", "héllo 世界 🎉"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", out, s, err)
		}
		want, _ := json.Marshal(s)
		var w string
		_ = json.Unmarshal(want, &w)
		if got != w {
			t.Fatalf("round trip %q != %q", got, w)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendString(buf[:0], "The quick brown fox \"jumps\" over the lazy dog\n")
	}
}

// TestAppendRawString: a well-formed upstream literal is copied as is; anything else
// still comes out as a valid JSON string.
func TestAppendRawString(t *testing.T) {
	for _, tt := range []struct {
		lit  string
		same bool
	}{
		{`"plain"`, true}, {`"esc \n \u00e9 \/"`, true}, {`"bad \x"`, false}, {`"short \u12"`, false},
		{"\"ctl \x01\"", false}, {"\"bad utf8 \xff\"", false}, {"\"sep \u2028\"", false}, {`"trailing \"`, false},
	} {
		out := AppendRawString(nil, tt.lit)
		if !json.Valid(out) {
			t.Errorf("AppendRawString(%s) = %s, not valid JSON", tt.lit, out)
		}
		if (string(out) == tt.lit) != tt.same {
			t.Errorf("AppendRawString(%s) = %s", tt.lit, out)
		}
	}
}
