package cassette

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// claudeBody is a Claude Code request cut down to its environment parts, as 2.1.x sends
// them (system billing line, memory folder under HOME, the # Environment message).
func claudeBody(cwd, home, date, prompt string) []byte {
	env := "# Environment\nYou have been invoked in the following environment: \n - Primary working directory: " + cwd +
		"\n - Is a git repository: false\n - Platform: linux\n - OS Version: Linux 6.8.0-1\nToday's date is " + date + "."
	b, _ := json.Marshal(map[string]any{
		"model": "claude-opus-5-5",
		"system": []any{
			map[string]any{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.337.abc; cc_entrypoint=sdk-cli; cch=1f2e3;"},
			map[string]any{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
			map[string]any{"type": "text", "text": "You have a persistent file-based memory at `" + home + "/.claude/projects/" + mangle(cwd) + "/memory/`."},
		},
		"messages": []any{
			map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": env}}},
			map[string]any{"role": "user", "content": prompt},
			map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "tool_use", "id": "toolu_1", "name": "Read",
				"input": map[string]any{"file_path": cwd + "/secret.txt"}}}},
		},
		"metadata": map[string]any{"user_id": `{"session_id":"33521565-41c6-4514-88bb-27707d1db390"}`},
	})
	return b
}

func TestNormalizeClaudeCodeAnywhere(t *testing.T) {
	a := makeKey("/v1/messages", nil, claudeBody("/tmp/rec/003", "/tmp/rec/004", "2026-12-08", "call Read"), nil, nil)
	b := makeKey("/v1/messages", nil, claudeBody("/work/other.dir", "/home/ci", "2026-12-09", "call Read"), nil, nil)
	if a.text != b.text {
		t.Fatalf("another directory, HOME and day should match; differs at %v", diffKeys(a, b, nil, nil))
	}
	// The test's own prompt still decides, dates and paths in it included.
	c := makeKey("/v1/messages", nil, claudeBody("/tmp/rec/003", "/tmp/rec/004", "2026-12-08", "call Write"), nil, nil)
	if d := diffKeys(a, c, nil, nil); len(d) != 1 || !strings.HasPrefix(d[0], "messages[1].content: ") {
		t.Fatalf("another prompt: diff %q, want messages[1].content only", d)
	}
}

func TestNormalizeCodex(t *testing.T) {
	body := func(cwd, home, date, id string, ms int) []byte {
		meta, _ := json.Marshal(map[string]any{"session_id": id, "turn_started_at_unix_ms": ms})
		b, _ := json.Marshal(map[string]any{
			"model":           "gpt-5-codex",
			"client_metadata": map[string]any{"x-codex-turn-metadata": string(meta), "session_id": id},
			"input": []any{
				map[string]any{"id": "msg_" + id, "type": "message", "role": "developer", "content": []any{map[string]any{"type": "input_text",
					"text": "<skills_instructions>\n- `r0` = `" + home + "/skills/.system`"}}},
				map[string]any{"type": "message", "role": "user", "content": []any{map[string]any{"type": "input_text",
					"text": "<environment_context>\n  <cwd>" + cwd + "</cwd>\n  <shell>bash</shell>\n  <current_date>" + date +
						"</current_date>\n  <timezone>Etc/UTC</timezone>\n</environment_context>"}}},
				map[string]any{"type": "function_call_output", "call_id": "call_1",
					"output": "Chunk ID: 912545\nWall time: 0.0140 seconds\nProcess exited with code 0\nOutput:\nThe secret"},
			},
		})
		return b
	}
	a := makeKey("/v1/responses", nil, body("/tmp/a", "/tmp/h1", "2026-12-08", "01a25337-eb71-7451-b190-1c87fe5ea7d7", 1796692503487), nil, nil)
	b := makeKey("/v1/responses", nil, body("/srv/b", "/tmp/h2", "2026-12-09", "01a25339-f221-7362-9cf6-cb7538d384bc", 1796778903487), nil, nil)
	if a.text != b.text {
		t.Fatalf("Codex from elsewhere, a day later, should match; differs at %v", diffKeys(a, b, nil, nil))
	}
}

// TestNormalizeLeavesOtherClientsAlone: a request no agent sent keeps its dates and
// paths: they may be what the test is about.
func TestNormalizeLeavesOtherClientsAlone(t *testing.T) {
	mk := func(s string) key {
		return makeKey("/v1/chat/completions", nil, []byte(`{"model":"m","messages":[{"role":"user","content":"`+s+`"}]}`), nil, nil)
	}
	if a, b := mk("Today's date is 2026-12-08 in /home/me"), mk("Today's date is 2026-12-09 in /home/me"); a.text == b.text {
		t.Fatal("a plain client's dates were normalised")
	}
}

func TestNormalizeConfigRuleAndMiss(t *testing.T) {
	dir := t.TempDir()
	rules := []NormalizeRule{{Pattern: `(build )[0-9]+`, Replace: "${1}<n>"}}
	r, err := NewRecorder(dir, RecordOptions{Normalize: rules})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{`build 1 go`, `build 2 go`} { // equal after the rule: seq 1 and 2
		rec := &Record{Version: Version, Request: Request{Endpoint: "/v1/chat/completions", Method: "POST",
			Body: json.RawMessage(`{"model":"m","messages":[{"role":"user","content":"` + b + `"}]}`)},
			Response: Response{Status: 200, Headers: map[string]string{"content-type": "application/json"}, Body: json.RawMessage(`{"ok":1}`)}}
		if _, err := r.Add(rec); err != nil {
			t.Fatal(err)
		}
	}
	rp, err := OpenReplayer(dir, ReplayOptions{Normalize: rules})
	if err != nil {
		t.Fatal(err)
	}
	if c, m := rp.Match("/v1/chat/completions", http.Header{}, []byte(`{"model":"m","messages":[{"role":"user","content":"build 77 go"}]}`)); m != nil || c.Seq != 1 {
		t.Fatalf("build 77: miss %v", m)
	}
	_, m := rp.Match("/v1/chat/completions", http.Header{}, []byte(`{"model":"m","messages":[{"role":"user","content":"build 77 stop"}]}`))
	if m == nil || m.Nearest == "" || len(m.Paths) != 1 || !strings.Contains(m.Paths[0], `"build <n> stop" ≠ "build <n> go"`) {
		t.Fatalf("miss after normalisation: %+v", m)
	}
	if _, err := OpenReplayer(dir, ReplayOptions{Normalize: []NormalizeRule{{Pattern: "("}}}); err == nil {
		t.Fatal("a bad pattern was accepted")
	}
}

func TestSortTurns(t *testing.T) {
	s := []Summary{
		{File: "a", Session: "s2", At: "2026-12-08T01:00:03Z"},
		{File: "b", Session: "s1", At: "2026-12-08T01:00:02Z"},
		{File: "c"},
		{File: "d", Session: "s1", At: "2026-12-08T01:00:01Z"},
		{File: "e", Session: "s2", At: "2026-12-08T01:00:00Z"},
	}
	sortTurns(s)
	var got []string
	for _, x := range s {
		got = append(got, x.File)
	}
	if strings.Join(got, "") != "ceadb" {
		t.Fatalf("order %v, want c, then s2 (first turn earliest): e a, then s1: d b", got)
	}
}
