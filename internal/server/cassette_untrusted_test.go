//go:build unix

package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/jmanhype/runestone/internal/cassette"
	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

// readTapes reads every cassette of dir.
func readTapes(t *testing.T, dir string) []*cassette.Record {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out []*cassette.Record
	for _, f := range files {
		rec, err := cassette.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// TestRecordedStreamsHaveOneEntryPerEvent (issue 33): a Messages and a Responses
// stream recorded through the gateway keep one entry per SSE event, so check shows
// the whole answer and its stop reason; the cassette names the mock as the provider;
// replay gives back the same bytes; files are 0600 in a 0700 folder (issue 31).
func TestRecordedStreamsHaveOneEntryPerEvent(t *testing.T) {
	tapes := filepath.Join(t.TempDir(), "new")
	rec := startGateway(t, "[auth]\nenabled = false\n[record]\ndir = \""+tapes+"\"\n", nil)
	calls := []struct{ path, body, stop string }{
		{"/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"alpha beta gamma"}]}`, "stop=end_turn"},
		{"/v1/responses", `{"model":"gpt-5","stream":true,"input":"alpha beta gamma","store":false}`, "stop=completed"},
	}
	var bodies [][]byte
	for _, c := range calls {
		status, _, body := rec.do("POST", c.path, c.body, nil)
		if status != 200 {
			t.Fatalf("%s: %d %s", c.path, status, body)
		}
		bodies = append(bodies, body)
	}
	if fi, err := os.Stat(tapes); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("folder %v %v, want 0700", fi.Mode(), err)
	}
	files, _ := filepath.Glob(filepath.Join(tapes, "*.json"))
	for _, f := range files {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", f, fi.Mode().Perm())
		}
		// The file itself, not only what the reader makes of it, has one entry per event.
		raw, _ := os.ReadFile(f)
		i := 0
		if gjson.GetBytes(raw, "request.endpoint").Str == "/v1/responses" {
			i = 1
		}
		if got, want := gjson.GetBytes(raw, "response.events.#").Int(), strings.Count(string(bodies[i]), "\n\n"); got != int64(want) {
			t.Errorf("%s: %d entries in the file for %d SSE events", filepath.Base(f), got, want)
		}
	}
	sums, err := cassette.Check(tapes, cassette.ReadOptions{})
	if err != nil || len(sums) != 2 {
		t.Fatalf("check %v %+v", err, sums)
	}
	for _, r := range readTapes(t, tapes) {
		if r.Provider != "mock" || r.ProviderKind != "mock" {
			t.Errorf("%s: provider %q kind %q", r.Request.Endpoint, r.Provider, r.ProviderKind)
		}
		i := 0
		if r.Request.Endpoint == "/v1/responses" {
			i = 1
		}
		if want := strings.Count(string(bodies[i]), "\n\n"); len(r.Response.Events) != want {
			t.Errorf("%s: %d entries for %d SSE events", r.Request.Endpoint, len(r.Response.Events), want)
		}
		for j, e := range r.Response.Events {
			if e.Event == "" || strings.Count(e.Raw, "\n\n") > 1 || !strings.Contains(e.Data, `"type":"`+e.Event+`"`) {
				t.Errorf("%s event %d: %+v", r.Request.Endpoint, j, e)
			}
		}
	}
	for i, s := range sums {
		c := calls[0]
		if s.Endpoint == "/v1/responses" {
			c = calls[1]
		}
		if !strings.Contains(s.Answer, "alpha beta gamma") || !strings.Contains(s.Answer, c.stop) || s.Provider != "mock" {
			t.Errorf("summary %d: %+v", i, s)
		}
	}
	play := startGateway(t, "[auth]\nenabled = false\n[replay]\ndir = \""+tapes+"\"\nstrict = true\n", nil)
	for i, c := range calls {
		status, _, body := play.do("POST", c.path, c.body, nil)
		if status != 200 || string(body) != string(bodies[i]) {
			t.Errorf("replayed %s: %d\n%s\nrecorded:\n%s", c.path, status, body, bodies[i])
		}
	}
}

// TestErrorAnswersReplayInOrder (issue 27): a session that met a 429 and then a 200 for
// the same request, and a 400 for another, takes the same path on replay.
func TestErrorAnswersReplayInOrder(t *testing.T) {
	var n atomic.Int32
	up := testutil.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(string(body), "bad request") {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"message":"messages[0].content is bad","type":"invalid_request_error","param":null,"code":null}}`)
			return
		}
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "7")
			w.Header().Set("Set-Cookie", "upstream=1")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}`)
			return
		}
		fmt.Fprint(w, `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"fine"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	})
	tapes := t.TempDir()
	cfgText := func(base, extra string) string {
		return "[auth]\nenabled = false\n[router]\nretries = 0\n[breaker]\nfailure_threshold = 50\n[[providers]]\nname = \"fake\"\nkind = \"openai\"\nbase_url = \"" + base + "/v1\"\napi_key = \"sk-upstream-secret-value\"\nmodels = [\"gpt-4o-mini\"]\n" + extra
	}
	rec := startGateway(t, cfgText(up.URL, "[record]\ndir = \""+tapes+"\"\n"), nil)
	ok := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	bad := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"bad request"}]}`
	type answer struct {
		status int
		retry  string
		body   string
	}
	run := func(g *gw) []answer {
		var out []answer
		for _, b := range []string{ok, ok, bad} {
			status, h, body := g.do("POST", "/v1/chat/completions", b, nil)
			if h.Get("Set-Cookie") != "" {
				t.Errorf("Set-Cookie reached the client")
			}
			out = append(out, answer{status, h.Get("Retry-After"), string(body)})
		}
		return out
	}
	recorded := run(rec)
	if recorded[0].status != 429 || recorded[1].status != 200 || recorded[2].status != 400 {
		t.Fatalf("recorded %+v", recorded)
	}
	if got := len(readTapes(t, tapes)); got != 3 {
		t.Fatalf("%d cassettes, want 3 (the 429, the 200, the 400)", got)
	}
	play := startGateway(t, cfgText("http://127.0.0.1:1", "[replay]\ndir = \""+tapes+"\"\nstrict = true\n"), nil)
	replayed := run(play)
	for i := range recorded {
		if replayed[i] != recorded[i] {
			t.Errorf("answer %d replayed %+v, recorded %+v", i, replayed[i], recorded[i])
		}
	}
}

// TestHostileCassetteFolder (issue 31): a folder from a pull request cannot set
// cookies or CORS on the gateway's origin, and a zero.json symlink to /dev/zero, a
// symlink out of the folder or an oversized file is refused with its name, not read.
func TestHostileCassetteFolder(t *testing.T) {
	dir := t.TempDir()
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	hostile := `{"version":1,"seq":1,"request":{"endpoint":"/v1/chat/completions","method":"POST","body":` + body + `},
"response":{"status":200,"headers":{"content-type":"application/json","set-cookie":"session=evil; Path=/","access-control-allow-origin":"*",
"access-control-allow-credentials":"true","location":"https://evil.example/"},"body":{"choices":[{"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}}}`
	if err := os.WriteFile(filepath.Join(dir, "hostile.json"), []byte(hostile), 0o600); err != nil {
		t.Fatal(err)
	}
	sums, err := cassette.Check(dir, cassette.ReadOptions{})
	if len(sums) != 1 || err == nil {
		t.Fatalf("check calls the hostile file valid: %v", err)
	}
	for _, h := range []string{"set-cookie", "access-control-allow-origin", "access-control-allow-credentials", "location"} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("check does not report %s: %v", h, err)
		}
	}
	g := startGateway(t, "[auth]\nenabled = false\n[replay]\ndir = \""+dir+"\"\nstrict = true\n", nil)
	status, h, got := g.do("POST", "/v1/chat/completions", body, nil)
	if status != 200 || !strings.Contains(string(got), `"ok"`) {
		t.Fatalf("replay %d %s", status, got)
	}
	for _, k := range []string{"Set-Cookie", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Location"} {
		if h.Get(k) != "" {
			t.Errorf("replay sent %s: %q", k, h.Get(k))
		}
	}

	// Files that are not cassettes: refused by name before anything is read.
	outside := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(outside, []byte(hostile), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(string) error{
		"outside.json": func(p string) error { return os.Symlink(outside, p) },
		"big.json":     func(p string) error { return os.WriteFile(p, []byte(strings.Repeat(" ", 4097)+"{}"), 0o600) },
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases["zero.json"] = func(p string) error { return os.Symlink("/dev/zero", p) }
	}
	for name, make := range cases {
		bad := t.TempDir()
		if err := make(filepath.Join(bad, name)); err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.Home, cfg.Server.Addr = t.TempDir(), "127.0.0.1:0"
		cfg.Replay.Dir, cfg.Replay.Strict, cfg.Replay.MaxFileBytes = bad, true, 4096
		_, err := server.New(context.Background(), cfg, server.Options{Version: "test"})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: serve --replay started: %v", name, err)
		}
		if name == "big.json" && !strings.Contains(err.Error(), "4096") {
			t.Errorf("the error does not state the cap: %v", err)
		}
		if _, err := cassette.Check(bad, cassette.ReadOptions{MaxFileBytes: 4096}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: check %v", name, err)
		}
	}
}

// TestSplitKeyScrubbedFromEvents (issue 31): a key the model streams back four
// characters at a time is gone from the events and from their assembled text.
func TestSplitKeyScrubbedFromEvents(t *testing.T) {
	// Key-shaped for the scrubber, built at run time so no key-like literal is tracked.
	key := "sk-" + "ant-api03-" + strings.Repeat("FAKEKEY0", 4)
	up := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		var sse strings.Builder
		chunk := func(s string) {
			fmt.Fprintf(&sse, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", s)
		}
		chunk("Your key is ")
		for i := 0; i < len(key); i += 4 {
			chunk(key[i:min(i+4, len(key))])
		}
		chunk(" ok")
		sse.WriteString("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
		w.Header().Set("Content-Type", "text/event-stream")
		testutil.WriteSSE(w, r, []byte(sse.String()), 0)
	})
	tapes := t.TempDir()
	g := startGateway(t, upstreamConfig(up.URL, "[record]\ndir = \""+tapes+"\"\n"), nil)
	status, _, body := g.do("POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"key?"}]}`, nil)
	if status != 200 || !strings.Contains(string(body), `"sk-a"`) {
		t.Fatalf("%d %s", status, body)
	}
	recs := readTapes(t, tapes)
	if len(recs) != 1 {
		t.Fatalf("%d cassettes", len(recs))
	}
	var text strings.Builder
	for _, e := range recs[0].Response.Events {
		text.WriteString(gjson.Get(e.Data, "choices.0.delta.content").String())
		if strings.Contains(e.Data, "sk-a") || strings.Contains(e.Raw, "sk-a") {
			t.Errorf("event keeps a piece of the key: %s", e.Data)
		}
	}
	if text.String() != "Your key is [REDACTED] ok" {
		t.Errorf("assembled text %q", text.String())
	}
	raw, _ := os.ReadFile(filepath.Join(tapes, filepath.Base(mustGlob(t, tapes))))
	for i := 0; i+8 <= len(key); i++ {
		if strings.Contains(string(raw), key[i:i+8]) {
			t.Fatalf("the file holds %q of the key", key[i:i+8])
		}
	}
}

func mustGlob(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatal("no cassette")
	}
	return files[0]
}

// TestRecordCapEndsTheRecordingNotTheAnswer (issue 31): an exchange over
// record.max_bytes is not recorded, the client still gets all of it, the log says
// why; the umask is used only when asked for.
func TestRecordCapEndsTheRecordingNotTheAnswer(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	tapes := filepath.Join(t.TempDir(), "shared")
	logs := &syncBuffer{}
	g := startGatewayWith(t, "[auth]\nenabled = false\n[record]\ndir = \""+tapes+"\"\nmax_bytes = 8192\nuse_umask = true\n", nil,
		server.Options{Version: "test", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	status, _, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","stream":true,"messages":[{"role":"user","content":"long"}]}`,
		map[string]string{"X-Mock-Chunks": "400"})
	if status != 200 || !strings.HasSuffix(string(body), "data: [DONE]\n\n") || strings.Count(string(body), "\n\n") < 400 {
		t.Fatalf("the client's answer was cut: %d, %d bytes", status, len(body))
	}
	if files, _ := filepath.Glob(filepath.Join(tapes, "*")); len(files) != 0 {
		t.Fatalf("over the cap, yet recorded: %v", files)
	}
	if !strings.Contains(logs.String(), "cassette not recorded") || !strings.Contains(logs.String(), "record.max_bytes (8192 bytes)") {
		t.Errorf("no logged reason:\n%s", logs.String())
	}
	if status, _, _ := g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"short"}]}`, nil); status != 200 {
		t.Fatal(status)
	}
	f := mustGlob(t, tapes)
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o644 {
		t.Errorf("use_umask under umask 022: %v, want 0644", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(tapes); fi.Mode().Perm() != 0o755 {
		t.Errorf("use_umask folder: %v, want 0755", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(tapes, ".cassette-*")); len(left) != 0 {
		t.Errorf("spool or temp files left: %v", left)
	}
}
