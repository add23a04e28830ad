package messages

import (
	"encoding/json"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

func TestStripUnsignedThinking(t *testing.T) {
	// An answer made by FromChat from reasoning, sent back as history beside a signed one.
	answer, err := FromChat([]byte(`{"id":"x","choices":[{"message":{"reasoning_content":"hmm","content":"Hi"},"finish_reason":"stop"}]}`), "m", provider.Usage{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},
		{"role":"assistant","content":[{"type":"thinking","thinking":"signed","signature":"EqQB"},{"type":"text","text":"ok"}]},
		{"role":"user","content":"b"},
		{"role":"assistant","content":` + gjson.GetBytes(answer, "content").Raw + `},
		{"role":"user","content":"c"}]}`)
	orig := string(body)
	out, n := StripUnsignedThinking(body)
	if n != 1 || !json.Valid(out) || string(body) != orig {
		t.Fatalf("n=%d valid=%v body changed=%v", n, json.Valid(out), string(body) != orig)
	}
	if got := gjson.GetBytes(out, "messages.3.content").Raw; got != `[{"type":"text","text":"Hi"}]` {
		t.Errorf("stripped turn: %s", got)
	}
	if gjson.GetBytes(out, "messages.1.content.0.signature").Str != "EqQB" {
		t.Errorf("signed block lost: %s", out)
	}
	plain := []byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}]}`)
	if out, n := StripUnsignedThinking(plain); n != 0 || &out[0] != &plain[0] {
		t.Error("a body without thinking must come back as it is")
	}
}
