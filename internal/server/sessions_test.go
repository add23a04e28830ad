package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
)

// TestSessionsThroughTheServer: each agent's session lands on its log rows through the
// real server: its own session header when it sends one, else the launcher's
// X-Runestone-Session, and its name and version from the User-Agent; the session's
// figures are its rows' sums.
func TestSessionsThroughTheServer(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	msg := `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	chat := `{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}`
	for _, c := range []struct{ path, body, ua, header, value string }{
		{"/v1/messages", msg, "claude-cli/2.0.76 (external, cli)", "X-Claude-Code-Session-Id", "cc-1"},
		{"/v1/messages", msg, "claude-cli/2.0.76 (external, cli)", "X-Claude-Code-Session-Id", "cc-1"},
		{"/v1/chat/completions", chat, "opencode/1.18.33 ai-sdk/provider-utils/3.0.17", "X-Runestone-Session", "rs-00000000000000aa"},
		{"/v1/chat/completions", chat, "curl/8.5.0", "", ""},
	} {
		hdr := map[string]string{"User-Agent": c.ua}
		if c.header != "" {
			hdr[c.header] = c.value
		}
		if status, _, body := g.do("POST", c.path, c.body, hdr); status != 200 {
			t.Fatalf("%s: %d %s", c.path, status, body)
		}
	}
	// Codex names its own session beside the launcher's: its own wins.
	if status, _, body := g.do("POST", "/v1/chat/completions", chat, map[string]string{
		"User-Agent": "codex_exec/0.171.0 (Ubuntu 24.4.0; x86_64)", "session_id": "cx-1", "X-Runestone-Session": "rs-00000000000000bb"}); status != 200 {
		t.Fatalf("codex: %d %s", status, body)
	}
	g.rows(t, 5)
	st := openStore(t, g.Home)
	list, err := st.Sessions(context.Background(), time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.SessionSummary{}
	for _, s := range list {
		got[s.ID] = s
	}
	if len(got) != 3 || got["cc-1"].Agent != "claude-code" || got["cc-1"].AgentVersion != "2.0.76" || got["cc-1"].Turns != 2 ||
		got["rs-00000000000000aa"].Agent != "opencode" || got["cx-1"].Agent != "codex" || got["cx-1"].AgentVersion != "0.171.0" {
		t.Fatalf("sessions %+v", list)
	}
	rows, err := st.SessionRequests(context.Background(), "cc-1")
	if err != nil {
		t.Fatal(err)
	}
	var pt, ct int64
	for _, r := range rows {
		pt, ct = pt+int64(r.PromptTokens), ct+int64(r.CompletionTokens)
	}
	if s := got["cc-1"]; pt == 0 || s.PromptTokens != pt || s.CompletionTokens != ct {
		t.Fatalf("cc-1 %+v, rows sum to %d in %d out", s, pt, ct)
	}
}
