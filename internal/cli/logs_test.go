package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/jmanhype/runestone/internal/store"
)

// logsBuffer is a bytes.Buffer safe to read while a command writes to it.
type logsBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logsBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logsBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type logsEnv struct {
	f        *Factory
	out, err *logsBuffer
	env      map[string]string
}

// newLogsEnv gives a Factory over a temporary home, captured output and an empty
// environment (so the developer's own RUNESTONE_* variables cannot leak in).
func newLogsEnv(t *testing.T) *logsEnv {
	t.Helper()
	e := &logsEnv{out: new(logsBuffer), err: new(logsBuffer), env: map[string]string{}}
	e.f = &Factory{Out: e.out, Err: e.err, Home: t.TempDir(), Getenv: func(k string) string { return e.env[k] }}
	return e
}

// run executes `runestone <args>` over a tree holding the commands under test.
func (e *logsEnv) run(ctx context.Context, args ...string) error {
	root := &cobra.Command{Use: "runestone", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	keys := &cobra.Command{Use: "keys"}
	keys.AddCommand(newKeysUsageCmd(e.f))
	root.AddCommand(newLogsCmd(e.f), keys)
	root.SetArgs(args)
	root.SetOut(e.out)
	root.SetErr(e.err)
	return root.ExecuteContext(ctx)
}

func (e *logsEnv) seed(t *testing.T, rows ...store.RequestRow) {
	t.Helper()
	st, err := e.f.OpenStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.InsertRequests(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
}

func costPtr(v float64) *float64 { return &v }

func isExit2(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.code == 2
}

func sampleRows(now time.Time) []store.RequestRow {
	return []store.RequestRow{
		{ID: "r-old", Started: now.Add(-2 * time.Hour), KeyID: "k1", KeyName: "alice", Model: "gpt-4o", Provider: "openai", Status: 200, CostUSD: costPtr(0.01), PromptTokens: 10, CompletionTokens: 5},
		{ID: "r-ok", Started: now.Add(-30 * time.Minute), KeyID: "k1", KeyName: "alice", Model: "gpt-4o", Provider: "openai", Status: 200, CostUSD: costPtr(0.0042), PromptTokens: 12, CompletionTokens: 7, LatencyMS: 812},
		{ID: "r-429", Started: now.Add(-20 * time.Minute), KeyID: "k2", KeyName: "bob", Model: "claude", Provider: "anthropic", Status: 429, Error: "rate limited",
			Dialect: "messages", SessionID: "sess-a"},
		{ID: "r-502", Started: now.Add(-10 * time.Minute), KeyID: "k2", KeyName: "bob", Model: "claude", Provider: "anthropic", Status: 502, Error: "upstream down"},
		{ID: "r-local", Started: now.Add(-5 * time.Minute), KeyID: "k1", KeyName: "alice", Model: "llama", Provider: "ollama", Status: 200, PromptTokens: 3, CompletionTokens: 4, Stream: true, TTFTMS: costPtr(40),
			Dialect: "messages", SessionID: "sess-a"},
	}
}

func decodeIDs(t *testing.T, s string) []string {
	t.Helper()
	var rows []store.RequestRow
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		t.Fatalf("--json output is not a JSON array: %v\n%s", err, s)
	}
	ids := []string{}
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestLogsTable(t *testing.T) {
	e := newLogsEnv(t)
	e.seed(t, sampleRows(time.Now())...)
	if err := e.run(context.Background(), "logs"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(e.out.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("want header + 5 rows, got:\n%s", e.out)
	}
	for _, col := range logHeader {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header lacks %s: %q", col, lines[0])
		}
	}
	// Newest first; unknown cost is a unknownMark, never $0.
	if !strings.Contains(lines[1], "r-local") || !strings.Contains(lines[1], unknownMark) || strings.Contains(lines[1], "$0") ||
		!strings.Contains(lines[1], " messages ") {
		t.Errorf("first row should be r-local with cost %s: %q", unknownMark, lines[1])
	}
	if !strings.Contains(lines[4], "r-ok") || !strings.Contains(lines[4], "$0.004200") || !strings.Contains(lines[4], "812ms") {
		t.Errorf("r-ok row: %q", lines[4])
	}
	// Columns line up: every row's MODEL cell starts where the header's does.
	col := strings.Index(lines[0], "MODEL")
	for _, l := range lines[1:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("misaligned row %q (MODEL at %d)", l, col)
		}
	}
}

func TestLogsFiltersAndJSON(t *testing.T) {
	e := newLogsEnv(t)
	e.seed(t, sampleRows(time.Now())...)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{}, []string{"r-local", "r-502", "r-429", "r-ok", "r-old"}},
		{[]string{"--key", "k2"}, []string{"r-502", "r-429"}},
		{[]string{"--model", "gpt-4o"}, []string{"r-ok", "r-old"}},
		{[]string{"--provider", "ollama"}, []string{"r-local"}},
		{[]string{"--status", "200"}, []string{"r-local", "r-ok", "r-old"}},
		{[]string{"--status", "4xx"}, []string{"r-429"}},
		{[]string{"--status", "5xx"}, []string{"r-502"}},
		{[]string{"--since", "1h"}, []string{"r-local", "r-502", "r-429", "r-ok"}},
		{[]string{"--since", "15m", "--key", "k1"}, []string{"r-local"}},
		{[]string{"--limit", "2"}, []string{"r-local", "r-502"}},
		{[]string{"--model", "nope"}, []string{}},
		{[]string{"--session", "sess-a"}, []string{"r-local", "r-429"}},
		{[]string{"--session", "sess-a", "--key", "k1"}, []string{"r-local"}},
		{[]string{"--session", "sess-b"}, []string{}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			e.out.mu.Lock()
			e.out.b.Reset()
			e.out.mu.Unlock()
			if err := e.run(context.Background(), append([]string{"logs", "--json"}, c.args...)...); err != nil {
				t.Fatal(err)
			}
			got := decodeIDs(t, e.out.String())
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}

	// The JSON shape: stable snake_case names, null for an unknown cost and for no TTFT.
	e.out.b.Reset()
	if err := e.run(context.Background(), "logs", "--json", "--provider", "anthropic", "--limit", "1"); err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(e.out.String()), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "id", "started", "key_id", "key_name", "project", "endpoint", "model", "provider",
		"upstream_model", "providers_tried", "status", "stream", "latency_ms", "ttft_ms", "overhead_ms", "prompt_tokens",
		"completion_tokens", "cached_tokens", "tokens_estimated", "cost_usd", "attempts", "error",
		"dialect", "upstream_dialect", "session_id", "cache_write_tokens", "dropped"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("JSON row lacks %q: %v", k, raw[0])
		}
	}
	if raw[0]["cost_usd"] != nil || raw[0]["ttft_ms"] != nil {
		t.Errorf("unknown cost / no ttft should be null: %v", raw[0])
	}
}

func TestLogsBadFlagsAreUsageErrors(t *testing.T) {
	e := newLogsEnv(t)
	for _, args := range [][]string{
		{"logs", "--status", "7xx"},
		{"logs", "--since", "yesterday"},
		{"logs", "--limit", "-1"},
		{"logs", "--bogus"},
		{"keys", "usage", "--by", "colour"},
	} {
		if err := e.run(context.Background(), args...); !isExit2(err) {
			t.Errorf("%v: err = %v, want a usage error (exit 2)", args, err)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"1h":                   now.Add(-time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"1.5d":                 now.Add(-36 * time.Hour),
		"2026-01-01T00:00:00Z": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "-1h", "d"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}

// waitFor polls until cond holds or fails the test after 5s.
func waitForOutput(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLogsFollowPicksUpNewRows(t *testing.T) {
	for _, start := range []string{"empty log", "existing rows"} {
		t.Run(start, func(t *testing.T) {
			e := newLogsEnv(t)
			if start == "existing rows" {
				e.seed(t, store.RequestRow{ID: "before", Started: time.Now(), Model: "mock", Status: 200})
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- e.run(ctx, "logs", "--follow", "--json", "--model", "mock") }()
			if start == "existing rows" {
				waitForOutput(t, "the existing row", func() bool { return strings.Contains(e.out.String(), `"before"`) })
			} else {
				time.Sleep(300 * time.Millisecond) // let it start and poll an empty log once
			}
			e.seed(t,
				store.RequestRow{ID: "other-model", Started: time.Now(), Model: "gpt-4o", Status: 200},
				store.RequestRow{ID: "after-1", Started: time.Now(), Model: "mock", Status: 200})
			waitForOutput(t, "after-1", func() bool { return strings.Contains(e.out.String(), `"after-1"`) })
			e.seed(t, store.RequestRow{ID: "after-2", Started: time.Now(), Model: "mock", Status: 500})
			waitForOutput(t, "after-2", func() bool { return strings.Contains(e.out.String(), `"after-2"`) })
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("follow ended with %v, want nil on Ctrl-C", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("follow did not stop when its context was cancelled")
			}
			// One JSON object per line, each row once, filter applied, in order.
			var ids []string
			for _, line := range strings.Split(strings.TrimSpace(e.out.String()), "\n") {
				var r store.RequestRow
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("line is not a JSON object: %q", line)
				}
				ids = append(ids, r.ID)
			}
			want := []string{"after-1", "after-2"}
			if start == "existing rows" {
				want = append([]string{"before"}, want...)
			}
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Fatalf("followed %v, want %v", ids, want)
			}
		})
	}
}

func TestLogsFollowTable(t *testing.T) {
	e := newLogsEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.run(ctx, "logs", "-f") }()
	waitForOutput(t, "the header", func() bool { return strings.Contains(e.out.String(), "PROVIDER") })
	e.seed(t, store.RequestRow{ID: "tail-me", Started: time.Now(), Model: "mock", Provider: "mock", Status: 200})
	waitForOutput(t, "the new row", func() bool { return strings.Contains(e.out.String(), "tail-me") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLogsShow(t *testing.T) {
	e := newLogsEnv(t)
	e.seed(t,
		store.RequestRow{ID: "dup", Started: time.Now(), KeyID: "k1", KeyName: "alice", Endpoint: "/v1/chat/completions",
			Model: "smart", Provider: "openai", UpstreamModel: "gpt-4o", ProvidersTried: []string{"anthropic", "openai"},
			Attempts: 3, Status: 200, Stream: true, LatencyMS: 900, TTFTMS: costPtr(120), OverheadMS: 1.2,
			PromptTokens: 9, CompletionTokens: 3, CostUSD: costPtr(0.0001), CachedTokens: 4, CacheWriteTokens: 2,
			Dialect: "messages", UpstreamDialect: "chat", SessionID: "sess-7", Dropped: []string{"thinking", "metadata.user_id"},
			RequestBody: `{"model":"smart","messages":[{"role":"user","content":"hi"}]}`, ResponseBody: "Hello there"},
		store.RequestRow{ID: "dup", Started: time.Now(), Model: "smart", Status: 503, Error: "every provider failed", PromptTokens: 5,
			Dialect: "chat", UpstreamDialect: "chat", CachedTokens: 2},
	)
	if err := e.run(context.Background(), "logs", "show", "dup"); err != nil {
		t.Fatal(err)
	}
	out := e.out.String()
	for _, want := range []string{
		"Request dup  (1 of 2 requests with this id)", "(2 of 2", "anthropic → openai  (3 attempts)",
		"smart → openai:gpt-4o", "120ms to first token", "200 OK  (stream)", "$0.000100",
		"\"messages\": [", // pretty-printed request body
		"Hello there", "every provider failed",
		"Dialect          messages → chat  (translated)", "Session          sess-7",
		"9 prompt (4 cached, 2 cache write) + 3 completion", "Dropped          thinking, metadata.user_id  (not carried",
		"Dialect          chat  (relayed as sent)", "unknown: no price for this model or for its cache reads/writes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	e.out.b.Reset()
	if err := e.run(context.Background(), "logs", "show", "dup", "--json"); err != nil {
		t.Fatal(err)
	}
	if ids := decodeIDs(t, e.out.String()); len(ids) != 2 {
		t.Fatalf("--json: %v", ids)
	}
	err := e.run(context.Background(), "logs", "show", "missing")
	if err == nil || !strings.Contains(err.Error(), `no request with id "missing"`) || isExit2(err) {
		t.Fatalf("missing id: %v", err)
	}
}

// fakeGateway answers like Runestone and records what it was sent.
type fakeGateway struct {
	*httptest.Server
	mu   sync.Mutex
	path string
	auth string
	body string
	hdr  http.Header
}

func newFakeGateway(t *testing.T, h func(w http.ResponseWriter, body []byte)) *fakeGateway {
	g := &fakeGateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.path, g.auth, g.body, g.hdr = r.URL.Path, r.Header.Get("Authorization"), string(b), r.Header.Clone()
		g.mu.Unlock()
		w.Header().Set("x-request-id", "new-id")
		w.Header().Set("x-runestone-provider", "mock")
		h(w, b)
	}))
	t.Cleanup(g.Close)
	return g
}

func TestLogsReplay(t *testing.T) {
	const chatBody = `{"model":"mock","messages":[{"role":"user","content":"hello"}]}`
	t.Run("non-stream with --url and --key", func(t *testing.T) {
		e := newLogsEnv(t)
		e.seed(t, store.RequestRow{ID: "orig", Endpoint: "/v1/chat/completions", Status: 200, RequestBody: chatBody})
		g := newFakeGateway(t, func(w http.ResponseWriter, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"You said: hello"},"finish_reason":"stop"}]}`)
		})
		if err := e.run(context.Background(), "logs", "replay", "orig", "--url", g.URL+"/v1", "--key", "sk-rs-test"); err != nil {
			t.Fatal(err)
		}
		if g.path != "/v1/chat/completions" || g.auth != "Bearer sk-rs-test" || g.body != chatBody {
			t.Fatalf("gateway got path=%q auth=%q body=%q", g.path, g.auth, g.body)
		}
		if g.hdr.Get("x-runestone-replay-of") != "orig" {
			t.Errorf("replay header missing: %v", g.hdr)
		}
		if got := e.out.String(); got != "You said: hello\n" {
			t.Fatalf("stdout = %q", got)
		}
		if !strings.Contains(e.err.String(), "Replayed orig as new-id via mock") {
			t.Errorf("stderr = %q", e.err.String())
		}
	})

	t.Run("stream, URL from config, key from env", func(t *testing.T) {
		e := newLogsEnv(t)
		streamBody := `{"model":"mock","stream":true,"messages":[{"role":"user","content":"hello world"}]}`
		e.seed(t, store.RequestRow{ID: "s1", Endpoint: "/v1/chat/completions", Stream: true, Status: 200, RequestBody: streamBody})
		g := newFakeGateway(t, func(w http.ResponseWriter, _ []byte) {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, c := range []string{
				`{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
				`{"choices":[{"index":0,"delta":{"content":"You said:"}}]}`,
				`{"choices":[{"index":0,"delta":{"content":" hello world"}}]}`,
				`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
				`[DONE]`,
			} {
				fmt.Fprintf(w, "data: %s\n\n", c)
				w.(http.Flusher).Flush()
			}
		})
		e.env["RUNESTONE_ADDR"] = strings.TrimPrefix(g.URL, "http://")
		e.env["RUNESTONE_API_KEY"] = "sk-rs-env"
		if err := e.run(context.Background(), "logs", "replay", "s1"); err != nil {
			t.Fatal(err)
		}
		if g.auth != "Bearer sk-rs-env" || g.path != "/v1/chat/completions" {
			t.Fatalf("gateway got path=%q auth=%q", g.path, g.auth)
		}
		if got := e.out.String(); got != "You said: hello world\n" {
			t.Fatalf("stdout = %q", got)
		}
	})

	t.Run("error status exits 1 with the message", func(t *testing.T) {
		e := newLogsEnv(t)
		e.seed(t, store.RequestRow{ID: "orig", Endpoint: "/v1/completions", Status: 200, RequestBody: `{"model":"mock","prompt":"x"}`})
		g := newFakeGateway(t, func(w http.ResponseWriter, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"message":"Rate limit reached for key dev","type":"rate_limit_exceeded","param":null,"code":"rate_limit_exceeded"}}`)
		})
		err := e.run(context.Background(), "logs", "replay", "orig", "--url", g.URL)
		if err == nil || isExit2(err) {
			t.Fatalf("err = %v, want a plain error (exit 1)", err)
		}
		if g.path != "/v1/completions" {
			t.Errorf("path = %q", g.path)
		}
		for _, want := range []string{"429", "rate_limit_exceeded", "Rate limit reached for key dev"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})

	t.Run("stream error event exits 1", func(t *testing.T) {
		e := newLogsEnv(t)
		e.seed(t, store.RequestRow{ID: "s", Endpoint: "/v1/chat/completions", RequestBody: `{"model":"mock","stream":true,"messages":[]}`})
		g := newFakeGateway(t, func(w http.ResponseWriter, _ []byte) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\"partial\"}}]}\n\n")
			fmt.Fprint(w, "data: {\"error\":{\"message\":\"upstream cut the stream\",\"type\":\"server_error\"}}\n\n")
		})
		err := e.run(context.Background(), "logs", "replay", "s", "--url", g.URL)
		if err == nil || !strings.Contains(err.Error(), "upstream cut the stream") {
			t.Fatalf("err = %v", err)
		}
		if !strings.HasPrefix(e.out.String(), "partial") {
			t.Errorf("stdout = %q", e.out.String())
		}
	})

	t.Run("nothing to replay", func(t *testing.T) {
		e := newLogsEnv(t)
		e.seed(t, store.RequestRow{ID: "nobody"}, store.RequestRow{ID: "cut", RequestBody: `{"model":"mock","messa…[truncated 9 bytes]`})
		for id, want := range map[string]string{"nobody": "no captured body", "cut": "not complete JSON", "ghost": "no request with id"} {
			err := e.run(context.Background(), "logs", "replay", id, "--url", "http://127.0.0.1:1")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want %q", id, err, want)
			}
		}
	})
}

// TestLogsFit80Columns: on an 80-column terminal a long model name is cut with an
// ellipsis, in the list and in -f, while --json and `logs show` keep it whole.
func TestLogsFit80Columns(t *testing.T) {
	const long = "anthropic/claude-sonnet-4-5-20250929-thinking-extended-preview"
	now := time.Now()
	rows := append(sampleRows(now), store.RequestRow{ID: "req_3f9a1c2b0d4e1abc", Started: now.Add(-time.Minute),
		KeyID: "key_0123456789", KeyName: "a-rather-long-key-name", Model: long, Provider: "openrouter-eu-west",
		Dialect: "responses", Status: 200, LatencyMS: 12345, PromptTokens: 123456, CompletionTokens: 7890,
		CostUSD: costPtr(0.123456), TokensEstimated: true})
	fits := func(out string) {
		t.Helper()
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if n := len([]rune(l)); n > 80 {
				t.Errorf("line is %d columns wide: %q", n, l)
			}
		}
		if !strings.Contains(out, "anthrop") || !strings.Contains(out, "…") || strings.Contains(out, long) {
			t.Errorf("the long model should be cut with an ellipsis:\n%s", out)
		}
		if !strings.Contains(out, "req_3f9a1c2b0d4e1abc") || !strings.Contains(out, "$0.1235") {
			t.Errorf("the id and cost stay whole:\n%s", out)
		}
	}

	e := newLogsEnv(t)
	e.env["COLUMNS"] = "80"
	e.seed(t, rows...)
	if err := e.run(context.Background(), "logs"); err != nil {
		t.Fatal(err)
	}
	fits(e.out.String())

	e.out.b.Reset()
	if err := e.run(context.Background(), "logs", "--json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.out.String(), long) {
		t.Error("--json should keep the whole model name")
	}
	e.out.b.Reset()
	if err := e.run(context.Background(), "logs", "show", "req_3f9a1c2b0d4e1abc"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.out.String(), long) {
		t.Error("logs show should keep the whole model name")
	}

	e.out.b.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.run(ctx, "logs", "-f") }()
	waitForOutput(t, "the latest rows", func() bool { return strings.Contains(e.out.String(), "req_3f9a1c2b0d4e1abc") })
	e.seed(t, store.RequestRow{ID: "req_3f9a1c2b0d4e1abd", Started: time.Now(), Model: long + "-again", Provider: "openrouter-eu-west", Status: 200})
	waitForOutput(t, "the new row", func() bool { return strings.Contains(e.out.String(), "req_3f9a1c2b0d4e1abd") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fits(e.out.String())
}
