package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/provider/mock"
	"github.com/jmanhype/runestone/internal/resilience"
	"github.com/jmanhype/runestone/internal/router"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/usage"
)

func TestSessionID(t *testing.T) {
	long := strings.Repeat("a", 200)
	cases := []struct {
		h    map[string]string
		want string
	}{
		{map[string]string{"X-Claude-Code-Session-Id": "cc-1", "Session-Id": "generic"}, "cc-1"},
		{map[string]string{"Session-Id": "generic", "session_id": "codex"}, "generic"},
		{map[string]string{"session_id": "codex-7"}, "codex-7"}, // Codex's spelling
		{map[string]string{"X-Claude-Code-Session-Id": long}, long[:maxSession]},
		{map[string]string{"X-Claude-Code-Session-Id": "bad\x01id"}, ""},
		{map[string]string{"X-Claude-Code-Session-Id": "with space"}, ""},
		{map[string]string{}, ""},
		// The launcher's header counts only when the agent names no session itself.
		{map[string]string{"X-Runestone-Session": "rs-1"}, "rs-1"},
		{map[string]string{"X-Runestone-Session": "rs-1", "session_id": "codex-7"}, "codex-7"},
	}
	for _, c := range cases {
		h := http.Header{}
		for k, v := range c.h {
			h[http.CanonicalHeaderKey(k)] = []string{v}
		}
		if got := sessionID(h); got != c.want {
			t.Errorf("%v: %q, want %q", c.h, got, c.want)
		}
	}
}

// TestAgentOf: each agent's real User-Agent shape names it and its version.
func TestAgentOf(t *testing.T) {
	for ua, want := range map[string]string{
		"claude-cli/2.0.76 (external, cli)":                                             "claude-code 2.0.76",
		"codex_exec/0.63.0 (Ubuntu 24.4.0; x86_64) xterm-256color (codex-exec; 0.63.0)": "codex 0.63.0",
		"codex_cli_rs/0.64.1 (Mac OS 15.1.0; arm64) iTerm.app/3.5.10":                   "codex 0.64.1",
		"GeminiCLI/0.34.0/gemini-2.5-pro (linux; x64)":                                  "gemini-cli 0.34.0",
		"opencode/1.0.150 ai-sdk/provider-utils/3.0.17 runtime/bun/1.3.3":               "opencode 1.0.150",
		"OpenAI/Python 1.109.1":                                                         "OpenAI Python",
		"curl/8.5.0":                                                                    "curl 8.5.0",
		"":                                                                              " ",
		"bad\x01agent/1":                                                                " ",
		strings.Repeat("x", 100) + "/1":                                                 " ",
	} {
		n, v := agentOf(ua)
		if got := n + " " + v; got != want {
			t.Errorf("agentOf(%q) = %q, want %q", ua, got, want)
		}
	}
}

// TestDialectFieldsReachEventAndRow checks finish carries what the proxy records in
// x.di, and the usage's cache writes, into the live event and the log row.
func TestDialectFieldsReachEventAndRow(t *testing.T) {
	g := New(Options{})
	req := httptest.NewRequest("POST", "/v1/messages", nil)
	req.Header.Set("X-Claude-Code-Session-Id", "sess-42")
	req.Header.Set("User-Agent", "claude-cli/2.0.76 (external, cli)")
	x := &exchange{g: g, r: req, ep: provider.Chat, start: time.Now(), status: 200,
		usage: provider.Usage{PromptTokens: 100, CachedTokens: 50, CacheWriteTokens: 30, CompletionTokens: 5, Reported: true},
		di:    dialectInfo{dialect: "messages", upstream: "chat", dropped: []string{"thinking"}}}
	ev := x.event(time.Millisecond)
	row := x.row(ev)
	if ev.Dialect != "messages" || ev.UpstreamDialect != "chat" || ev.Session != "sess-42" || ev.CachedTokens != 50 ||
		ev.CacheWriteTokens != 30 || strings.Join(ev.Dropped, ",") != "thinking" {
		t.Fatalf("event %+v", ev)
	}
	if row.Dialect != "messages" || row.UpstreamDialect != "chat" || row.SessionID != "sess-42" || row.CachedTokens != 50 ||
		row.CacheWriteTokens != 30 || strings.Join(row.Dropped, ",") != "thinking" {
		t.Fatalf("row %+v", row)
	}
	if row.Agent != "claude-code" || row.AgentVersion != "2.0.76" || detailFromRow(row).Request.Agent != "claude-code" {
		t.Fatalf("agent %q %q", row.Agent, row.AgentVersion)
	}
	if sev := x.startedEvent(); sev.Dialect != "messages" {
		t.Fatalf("started event dialect %q", sev.Dialect)
	}
}

// TestChatRequestLogsDialectAndSession goes through the handler: an OpenAI path
// without a proxy-set dialect is named from its endpoint.
func TestChatRequestLogsDialectAndSession(t *testing.T) {
	ps := []provider.Provider{mock.New(mock.Options{Name: "mock"})}
	bus := events.NewBus()
	sub := bus.Subscribe(16)
	defer sub.Close()
	g := New(Options{Router: router.New(ps, nil), Executor: resilience.New(resilience.Options{}, ps), Bus: bus,
		Pricer: usage.NewPricer(nil, nil)})
	req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"mock","messages":[{"role":"user","content":"hi"}]}`))
	req.Host = "127.0.0.1"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Session_id", "codex-session")
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	for {
		select {
		case e := <-sub.C:
			if e.Kind == events.KindRequestStarted && e.Request.Dialect != "chat" {
				t.Fatalf("started dialect %q", e.Request.Dialect)
			}
			if e.Kind != events.KindRequestFinished {
				continue
			}
			if r := e.Request; r.Dialect != "chat" || r.Session != "codex-session" || r.CostUSD == nil {
				t.Fatalf("finished %+v", r)
			}
			return
		case <-time.After(5 * time.Second):
			t.Fatal("no request_finished event")
		}
	}
}

func TestDetailFromRowCarriesDialects(t *testing.T) {
	d := detailFromRow(store.RequestRow{ID: "r", Dialect: "messages", UpstreamDialect: "chat", SessionID: "s",
		CachedTokens: 3, CacheWriteTokens: 2, Dropped: []string{"thinking"}})
	r := d.Request
	if r.Dialect != "messages" || r.UpstreamDialect != "chat" || r.Session != "s" || r.CachedTokens != 3 ||
		r.CacheWriteTokens != 2 || len(r.Dropped) != 1 {
		t.Fatalf("%+v", r)
	}
}
