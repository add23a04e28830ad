package ui

import (
	"testing"

	"github.com/jmanhype/runestone/internal/events"
)

func TestDialectTagAndFilter(t *testing.T) {
	for d, want := range map[string]string{"": "", "chat": "", "messages": "msg", "responses": "rsp",
		"completions": "cmp", "embeddings": "emb", "realtime": "rea", "ws": "ws"} {
		if got := dialectTag(d); got != want {
			t.Errorf("dialectTag(%q) = %q, want %q", d, got, want)
		}
	}
	r := &row{req: events.Request{Model: "claude-haiku-4-5", Provider: "anthropic", Dialect: "messages", Session: "cc-7f3a"}}
	if got := taggedRoute(&r.req); got != "msg claude-haiku-4-5 → anthropic" {
		t.Errorf("taggedRoute = %q", got)
	}
	for _, q := range []string{"msg", "messages", "cc-7f3a"} {
		if !matches(r, q) {
			t.Errorf("filter %q does not match a messages row", q)
		}
	}
	if matches(&row{req: events.Request{Model: "gpt-4o", Dialect: "chat"}}, "msg") {
		t.Error("filter msg matches a chat row")
	}
}
