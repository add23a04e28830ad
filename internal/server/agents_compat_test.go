package server_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Issue 26: what today's agents send is accepted on every provider kind, the first time.

// chatSSEFake is an OpenAI-compatible upstream answering every chat request with text
// as a stream (or a body), as api.openai.com frames it.
func chatSSEFake(t *testing.T, text string) *testutil.Upstream {
	return testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/v1/chat/completions" {
			w.WriteHeader(404)
			return
		}
		lit, _ := sjson.Set(`{}`, "t", text)
		lit = gjson.Get(lit, "t").Raw
		if !gjson.GetBytes(body, "stream").Bool() {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`, lit)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		sse := `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n" +
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":` + lit + `}}]}` + "\n\n" +
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}` + "\n\n" +
			"data: [DONE]\n\n"
		testutil.WriteSSE(w, r, []byte(sse), 0)
	})
}

const compatFake = `
[auth]
keys = ["sk-test-static-key-0123456789abcdef"]
[[providers]]
name = "compat"
kind = "openai"
base_url = "%s/v1"
api_key = "sk-upstream-secret-value"
models = ["claude-sonnet-4-5", "gpt-5.2"]
`

// TestClaudeCodeSystemEntry: Claude Code's first request of a session carries its
// environment block as a role "system" entry of messages. Translated (through the mock
// and through an OpenAI-compatible provider) it is a 200, and the system text reaches
// the chat body in place; before, it was a 400 on every session.
func TestClaudeCodeSystemEntry(t *testing.T) {
	// Claude Code 2.1.337's first request (recorded with claude -p), with the
	// environment entry 2.1.33x sessions put after the first user turn (issue 26).
	body, err := sjson.SetRaw(string(testutil.ReadFile(t, "agents", "claude-code-2.1.337-first-request.json")), "messages.-1",
		`{"role":"system","content":[{"type":"text","text":"<env>\nWorking directory: /home/dev/project\nIs directory a git repo: Yes\n</env>","cache_control":{"type":"ephemeral"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"}

	mock := startGateway(t, "[auth]\nenabled = false\n", nil)
	status, _, got := mock.do("POST", "/v1/messages?beta=true", body, hdr)
	ev := sseEvents(got)
	if status != 200 || len(ev) < 3 || gjson.Get(ev[len(ev)-1], "type").Str != "message_stop" {
		t.Fatalf("mock: %d %s", status, got)
	}

	u := chatSSEFake(t, "module example.com/x")
	g := startGateway(t, fmt.Sprintf(compatFake, u.URL), nil)
	hdr["x-api-key"], hdr["Authorization"] = g.Key, ""
	status, _, got = g.do("POST", "/v1/messages?beta=true", body, hdr)
	if status != 200 || !strings.Contains(string(got), `"text":"module example.com/x"`) {
		t.Fatalf("compat: %d %s", status, got)
	}
	sent := u.Last(t).Body
	var roles []string
	gjson.GetBytes(sent, "messages").ForEach(func(_, m gjson.Result) bool {
		roles = append(roles, m.Get("role").Str)
		return true
	})
	if strings.Join(roles, ",") != "system,user,system" ||
		!strings.HasPrefix(gjson.GetBytes(sent, "messages.2.content").Str, "<env>\nWorking directory: /home/dev/project") ||
		!strings.Contains(gjson.GetBytes(sent, "messages.0.content").Str, "\n\nYou are a Claude agent, built on Anthropic's Claude Agent SDK.\n\n") {
		t.Fatalf("upstream chat body %.2000s", sent)
	}
	row := g.rows(t, 1)[0]
	if d := strings.Join(row.Dropped, ","); row.Status != 200 || !strings.Contains(d, "context_management") ||
		!strings.Contains(d, "messages[1].content[0].cache_control") {
		t.Fatalf("row %+v", row)
	}

	// Still invalid: a message without a role, named in Anthropic's envelope.
	status, _, got = g.do("POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"content":"x"}]}`, hdr)
	if status != 400 || gjson.GetBytes(got, "error.type").Str != "invalid_request_error" ||
		!strings.Contains(gjson.GetBytes(got, "error.message").Str, "messages[0].role") {
		t.Fatalf("no role: %d %s", status, got)
	}
}

// TestAnthropicVersion20261021: the new SDK majors send anthropic-version 2026-10-21
// with the key as a Bearer token. Natively the version and the body (temperature and
// all) are relayed as sent; a chat request translated to Messages for a provider
// pinned to that version goes without the sampling fields it refuses, recorded.
func TestAnthropicVersion20261021(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Api-Key") != "sk-ant-upstream-0123456789" || r.Header.Get("Authorization") != "" {
			w.WriteHeader(401)
			return
		}
		_, _ = w.Write([]byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}`))
	})
	g := startGateway(t, strings.Replace(claudeProvider, "%s", u.URL, 1)+"headers = { anthropic-version = \"2026-10-21\" }\n", nil)
	body := `{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`
	status, _, got := g.do("POST", "/v1/messages", body, map[string]string{"anthropic-version": "2026-10-21"})
	if sent := u.Last(t); status != 200 || string(sent.Body) != body || sent.Header.Get("Anthropic-Version") != "2026-10-21" {
		t.Fatalf("native (Bearer key): %d %s; upstream saw %v %s", status, got, sent.Header, sent.Body)
	}

	status, _, got = g.do("POST", "/v1/chat/completions",
		`{"model":"claude-sonnet-4-5","temperature":0.2,"top_p":0.9,"messages":[{"role":"user","content":"hi"}]}`, nil)
	sent := u.Last(t)
	if status != 200 || gjson.GetBytes(sent.Body, "temperature").Exists() || gjson.GetBytes(sent.Body, "top_p").Exists() ||
		sent.Header.Get("Anthropic-Version") != "2026-10-21" {
		t.Fatalf("translated: %d %s; upstream saw %v %s", status, got, sent.Header, sent.Body)
	}
	rows := g.rows(t, 2)
	// (top_p already gave way to temperature: this model refuses the two together.)
	if d := strings.Join(rows[0].Dropped, ","); !strings.Contains(d, "temperature (anthropic-version 2026-10-21 refuses it)") {
		t.Fatalf("dropped %q", rows[0].Dropped)
	}
}

// TestCodexRemoteCompaction: Codex 0.171.0's built-in OpenAI provider compacts a long
// session with a compaction_trigger item and accepts only an answer holding one
// compaction item (anything else ends the session). Translated, the chat model writes
// a summary that travels in the item, and the next turn's chat body holds it.
func TestCodexRemoteCompaction(t *testing.T) {
	body := testutil.ReadFile(t, "agents", "codex-0.171.0-compaction.json")
	u := chatSSEFake(t, "SUMMARY: the user ran echo hi; it printed hi.")
	g := startGateway(t, fmt.Sprintf(compatFake, u.URL), nil)
	status, _, got := g.do("POST", "/v1/responses", string(body), nil)
	ev := sseEvents(got)
	if status != 200 || len(ev) == 0 {
		t.Fatalf("compaction: %d %s", status, got)
	}
	final := gjson.Get(ev[len(ev)-1], "response")
	item := final.Get("output.0")
	if gjson.Get(ev[len(ev)-1], "type").Str != "response.completed" || final.Get("output.#").Int() != 1 ||
		item.Get("type").Str != "compaction" || item.Get("encrypted_content").Str == "" {
		t.Fatalf("compaction answer %s", ev[len(ev)-1])
	}
	sent := u.Last(t).Body
	last := gjson.GetBytes(sent, "messages.@reverse.0")
	if gjson.GetBytes(sent, "tools").Exists() || last.Get("role").Str != "user" || !strings.Contains(last.Get("content").Str, "summary") {
		t.Fatalf("summary request %s", sent)
	}

	// The next turn carries the item back in place of the history.
	next, _ := sjson.SetRaw(`{"model":"gpt-5.2","stream":false,"input":[]}`, "input.-1", item.Raw)
	next, _ = sjson.SetRaw(next, "input.-1", `{"type":"message","role":"user","content":[{"type":"input_text","text":"go on"}]}`)
	status, _, got = g.do("POST", "/v1/responses", next, nil)
	if status != 200 {
		t.Fatalf("next turn: %d %s", status, got)
	}
	sent = u.Last(t).Body
	if c := gjson.GetBytes(sent, "messages.0.content").Str; !strings.Contains(c, "SUMMARY: the user ran echo hi; it printed hi.") {
		t.Fatalf("next turn chat body %s", sent)
	}

	// An item Runestone did not write (OpenAI's, after a failover) is dropped, recorded.
	foreign, _ := sjson.SetRaw(next, "input.0.encrypted_content", `"`+base64.StdEncoding.EncodeToString([]byte("opaque"))+`"`)
	if status, _, got = g.do("POST", "/v1/responses", foreign, nil); status != 200 {
		t.Fatalf("foreign compaction item: %d %s", status, got)
	}
	rows := g.rows(t, 3)
	if d := strings.Join(rows[0].Dropped, ","); !strings.Contains(d, "input[0].compaction") {
		t.Fatalf("dropped %q", rows[0].Dropped)
	}

	// Through the mock, too (zero config).
	mock := startGateway(t, "[auth]\nenabled = false\n", nil)
	status, _, got = mock.do("POST", "/v1/responses", string(body), nil)
	ev = sseEvents(got)
	if status != 200 || gjson.Get(ev[len(ev)-1], "response.output.0.type").Str != "compaction" {
		t.Fatalf("mock compaction: %d %s", status, got)
	}
}

// TestResponsesCompactEndpoint: POST /v1/responses/compact (Codex's earlier remote
// compaction) is relayed to a provider serving the Responses API, and answered from a
// chat summary elsewhere, in the endpoint's own shape: a 200 either way.
func TestResponsesCompactEndpoint(t *testing.T) {
	req := `{"model":"gpt-5.2","instructions":"compact this","input":[
		{"type":"message","role":"user","content":[{"type":"input_text","text":"run echo hi"}]},
		{"type":"function_call","call_id":"call_1","name":"exec_command","arguments":"{\"cmd\":\"echo hi\"}"},
		{"type":"function_call_output","call_id":"call_1","output":"hi"}]}`

	u := chatSSEFake(t, "SUMMARY: echo hi printed hi.")
	g := startGateway(t, fmt.Sprintf(compatFake, u.URL), nil)
	status, _, got := g.do("POST", "/v1/responses/compact", req, nil)
	out := gjson.GetBytes(got, "output")
	if status != 200 || gjson.GetBytes(got, "object").Str != "response.compaction" || out.Get("#").Int() != 2 ||
		out.Get("0.content.0.text").Str != "run echo hi" || out.Get("1.type").Str != "compaction" ||
		gjson.GetBytes(got, "usage.total_tokens").Int() != 12 {
		t.Fatalf("synthesized: %d %s", status, got)
	}
	if sent := u.Last(t).Body; gjson.GetBytes(sent, "stream").Bool() || !strings.Contains(gjson.GetBytes(sent, "messages.@reverse.0.content").Str, "summary") {
		t.Fatalf("summary request %s", sent)
	}
	// The compacted history continues on any provider.
	next, _ := sjson.SetRaw(`{"model":"gpt-5.2","input":[]}`, "input", out.Raw)
	if status, _, got = g.do("POST", "/v1/responses", next, nil); status != 200 ||
		!strings.Contains(gjson.GetBytes(u.Last(t).Body, "messages.1.content").Str, "SUMMARY: echo hi printed hi.") {
		t.Fatalf("continued: %d %s / %s", status, got, u.Last(t).Body)
	}
	if row := g.rows(t, 2)[1]; row.Endpoint != "/v1/responses/compact" || row.Status != 200 || row.Dialect != "responses" {
		t.Fatalf("row %+v", row)
	}

	native := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/v1/responses/compact" {
			w.WriteHeader(404)
			return
		}
		_, _ = w.Write([]byte(`{"id":"resp_up","object":"response.compaction","output":[{"type":"compaction","encrypted_content":"gAAA"}],"usage":{"input_tokens":5,"output_tokens":2,"total_tokens":7}}`))
	})
	g = startGateway(t, upstreamConfig(native.URL, "apis = [\"chat\", \"responses\"]\n"), nil)
	req = strings.Replace(req, "gpt-5.2", "gpt-4o-mini", 1)
	status, _, got = g.do("POST", "/v1/responses/compact", req, nil)
	if sent := native.Last(t); status != 200 || gjson.GetBytes(got, "id").Str != "resp_up" || string(sent.Body) != req {
		t.Fatalf("relayed: %d %s; upstream saw %s %s", status, got, sent.Path, sent.Body)
	}
}
