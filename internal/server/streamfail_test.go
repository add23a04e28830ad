package server_test

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/testutil"
)

// cutUpstream answers every stream with the first events of a real recorded one and
// then drops the connection: chat on /v1/chat/completions, Messages on /v1/messages,
// Responses on /v1/responses.
func cutUpstream(t *testing.T) *testutil.Upstream {
	chat := testutil.ReadHTTPRR(t, "openai", "chat-stream-text-include-usage.httprr")[0].Body
	msgs := testutil.ReadFile(t, "anthropic", "captures", "messages-stream-text.sse")
	resps := testutil.ReadFile(t, "..", "internal", "dialect", "responses", "testdata", "stream-text.sse")
	return testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		var body []byte
		var n int
		switch r.URL.Path {
		case "/v1/chat/completions":
			body, n = chat, 2
		case "/v1/messages":
			body, n = msgs, 4 // message_start, content_block_start, ping, a text delta
		case "/v1/responses":
			body, n = resps, 5 // created, in_progress, item added, part added, a text delta
		default:
			w.WriteHeader(http.StatusNotFound)
			return
		}
		evs := bytes.SplitAfter(body, []byte("\n\n"))
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(bytes.Join(evs[:n], nil))
		_ = http.NewResponseController(w).Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
	})
}

// sseFrame is one event of a framed stream as the client received it.
type sseFrame struct{ event, data string }

func sseFrames(body []byte) []sseFrame {
	var out []sseFrame
	for _, block := range strings.Split(string(body), "\n\n") {
		var f sseFrame
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				f.event = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				f.data += v
			}
		}
		if f.data != "" {
			out = append(out, f)
		}
	}
	return out
}

// TestStreamFailureInClientDialect cuts a stream mid-way for every client dialect,
// relayed natively and translated, under every wrapper a stream can go through, and
// checks the stream ends with the dialect's own failure event: chat's data error
// object, Messages' event: error, and Responses' response.failed numbered right
// after the last event sent. The failure path must not depend on which wrappers
// (telemetry, the recorder's tap, replay's live fallback, body capture) are on.
func TestStreamFailureInClientDialect(t *testing.T) {
	u := cutUpstream(t)
	providers := `
[auth]
enabled = false
[router]
backoff_base = "1ms"
backoff_max = "5ms"
[[providers]]
name = "chatonly"
kind = "openai"
base_url = "` + u.URL + `/v1"
api_key = "sk-upstream-secret-value"
models = ["gpt-chat"]
[[providers]]
name = "native"
kind = "openai"
base_url = "` + u.URL + `/v1"
api_key = "sk-upstream-secret-value"
models = ["gpt-native"]
apis = ["chat", "responses"]
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "` + u.URL + `"
api_key = "sk-ant-upstream-0123456789"
models = ["claude-x"]
`
	rc := newOTLPReceiver(t)
	t.Cleanup(rc.Close)
	telemetry := "[telemetry]\nendpoint = \"" + rc.URL + "\"\n"
	record := func() string { return "[record]\ndir = \"" + filepath.ToSlash(t.TempDir()) + "\"\n" }
	replay := func() string { return "[replay]\ndir = \"" + filepath.ToSlash(t.TempDir()) + "\"\nstrict = false\n" }
	capture := "[log]\ncapture_bodies = true\n"
	wrappers := []struct{ name, config string }{
		{"plain", ""},
		{"telemetry", telemetry},
		{"recording", record()},
		{"replay", replay()},
		{"capture", capture},
		{"all", telemetry + record() + replay() + capture},
	}
	chat := func(model string) string {
		return `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"count"}]}`
	}
	msgs := func(model string) string {
		return `{"model":"` + model + `","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"count"}]}`
	}
	resps := func(model string) string { return `{"model":"` + model + `","stream":true,"input":"count"}` }
	cases := []struct {
		name, path, body string
		check            func(t *testing.T, body []byte)
	}{
		{"chat/native", "/v1/chat/completions", chat("gpt-chat"), chatFailed},
		{"chat/translated", "/v1/chat/completions", chat("claude-x"), chatFailed},
		{"messages/native", "/v1/messages", msgs("claude-x"), messagesFailed},
		{"messages/translated", "/v1/messages", msgs("gpt-chat"), messagesFailed},
		{"responses/native", "/v1/responses", resps("gpt-native"), responsesFailed},
		{"responses/translated", "/v1/responses", resps("gpt-chat"), responsesFailed},
		{"responses/translated-anthropic", "/v1/responses", resps("claude-x"), responsesFailed},
	}
	for _, wr := range wrappers {
		t.Run(wr.name, func(t *testing.T) {
			g := startGatewayWith(t, providers+wr.config, nil, server.Options{Version: "test", TelemetryBatch: 10 * time.Millisecond})
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					status, hdr, body := g.do("POST", c.path, c.body, map[string]string{"anthropic-version": "2023-06-01"})
					if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
						t.Fatalf("status %d %s: %s", status, hdr.Get("Content-Type"), body)
					}
					c.check(t, body)
				})
			}
		})
	}
}

// chatFailed: some chunks, then a data line with an OpenAI error envelope, no [DONE].
func chatFailed(t *testing.T, body []byte) {
	t.Helper()
	evs := sseEvents(body)
	if len(evs) < 2 || bytes.Contains(body, []byte("[DONE]")) || bytes.Contains(body, []byte("event:")) {
		t.Fatalf("want chunks then one error and no [DONE]:\n%s", body)
	}
	if !gjson.Get(evs[0], "choices").Exists() {
		t.Fatalf("nothing was relayed before the failure:\n%s", body)
	}
	last := gjson.Get(evs[len(evs)-1], "error")
	if !last.Get("message").Exists() || !last.Get("type").Exists() {
		t.Fatalf("last event is not an error envelope:\n%s", body)
	}
}

// messagesFailed: message_start first, event: error with Anthropic's error object last.
func messagesFailed(t *testing.T, body []byte) {
	t.Helper()
	fs := sseFrames(body)
	if len(fs) < 2 || fs[0].event != "message_start" {
		t.Fatalf("want message_start first:\n%s", body)
	}
	last := fs[len(fs)-1]
	if last.event != "error" || gjson.Get(last.data, "type").Str != "error" || gjson.Get(last.data, "error.type").Str == "" ||
		gjson.Get(last.data, "error.message").Str == "" {
		t.Fatalf("last event is not a Messages error:\n%s", body)
	}
}

// responsesFailed: every event numbered from 0 without a gap, the event line naming
// the data's type, and response.failed last for the response the stream announced.
func responsesFailed(t *testing.T, body []byte) {
	t.Helper()
	fs := sseFrames(body)
	if len(fs) < 2 || fs[0].event != "response.created" {
		t.Fatalf("want response.created first:\n%s", body)
	}
	for i, f := range fs {
		if seq := gjson.Get(f.data, "sequence_number"); seq.Type != gjson.Number || seq.Int() != int64(i) {
			t.Fatalf("event %d (%s) has sequence_number %s, want %d:\n%s", i, f.event, seq.Raw, i, body)
		}
		if gjson.Get(f.data, "type").Str != f.event {
			t.Fatalf("event %d: event line %q, data type %q", i, f.event, gjson.Get(f.data, "type").Str)
		}
	}
	last := fs[len(fs)-1]
	resp := gjson.Get(last.data, "response")
	if last.event != "response.failed" || resp.Get("status").Str != "failed" || resp.Get("error.code").Str == "" ||
		resp.Get("error.message").Str == "" {
		t.Fatalf("last event is not response.failed:\n%s", body)
	}
	if id := gjson.Get(fs[0].data, "response.id").Str; id == "" || resp.Get("id").Str != id {
		t.Fatalf("response.failed names %q, the stream announced %q", resp.Get("id").Str, id)
	}
}

// TestNativeRelayRedactsKeysInErrorEvents: an upstream that repeats the key it was
// sent inside a mid-stream error event (Messages' event: error, Responses'
// response.failed) has it replaced before the frame reaches the client.
func TestNativeRelayRedactsKeysInErrorEvents(t *testing.T) {
	const (
		antKey = "sk-ant-upstream-0123456789"
		oaiKey = "sk-upstream-secret-value"
	)
	msgs := testutil.ReadFile(t, "anthropic", "captures", "messages-stream-text.sse")
	resps := testutil.ReadFile(t, "..", "internal", "dialect", "responses", "testdata", "stream-text.sse")
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		switch r.URL.Path {
		case "/v1/messages":
			first, _, _ := bytes.Cut(msgs, []byte("\n\n"))
			_, _ = w.Write(append(first, "\n\n"...))
			_, _ = w.Write([]byte(`event: error` + "\n" + `data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded (key ` +
				r.Header.Get("X-Api-Key") + `)"}}` + "\n\n"))
		case "/v1/responses":
			first, _, _ := bytes.Cut(resps, []byte("\n\n"))
			_, _ = w.Write(append(first, "\n\n"...))
			key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			_, _ = w.Write([]byte(`event: response.failed` + "\n" + `data: {"type":"response.failed","sequence_number":1,"response":{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"bad key ` +
				key + `"},"output":[]}}` + "\n\n"))
		}
	})
	g := startGateway(t, `
[auth]
enabled = false
[[providers]]
name = "native"
kind = "openai"
base_url = "`+u.URL+`/v1"
api_key = "`+oaiKey+`"
models = ["gpt-native"]
apis = ["chat", "responses"]
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "`+u.URL+`"
api_key = "`+antKey+`"
models = ["claude-x"]
`, nil)
	for _, c := range []struct{ path, body, key, last string }{
		{"/v1/messages", `{"model":"claude-x","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"x"}]}`, antKey, "error"},
		{"/v1/responses", `{"model":"gpt-native","stream":true,"input":"x"}`, oaiKey, "response.failed"},
	} {
		status, _, body := g.do("POST", c.path, c.body, nil)
		fs := sseFrames(body)
		if status != http.StatusOK || len(fs) != 2 || fs[1].event != c.last {
			t.Fatalf("%s: %d\n%s", c.path, status, body)
		}
		if !strings.Contains(string(u.Last(t).Header.Get("Authorization")+u.Last(t).Header.Get("X-Api-Key")), c.key) {
			t.Fatalf("%s: the upstream was not sent the key, so nothing was echoed", c.path)
		}
		if strings.Contains(string(body), c.key) || !strings.Contains(fs[1].data, "[REDACTED]") {
			t.Fatalf("%s: the key reached the client:\n%s", c.path, body)
		}
	}
}

// TestStreamFailsAfterKeepAliveOnly: a keep-alive sent the headers, then every
// attempt failed, so nothing in the dialect went out yet: the stream still ends in
// the client's dialect (Responses: a whole created, in_progress, failed sequence).
func TestStreamFailsAfterKeepAliveOnly(t *testing.T) {
	gate := make(chan struct{})
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`))
	})
	g := startGatewayWith(t, strings.Replace(upstreamConfig(u.URL, ""), "[router]\n", "[router]\nretries = 0\n", 1), nil,
		server.Options{Version: "test", KeepAlive: 5 * time.Millisecond})
	for _, c := range []struct {
		path, body string
		check      func(t *testing.T, body []byte)
	}{
		{"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}`, func(t *testing.T, body []byte) {
			if evs := sseEvents(body); len(evs) != 1 || !gjson.Get(evs[0], "error.message").Exists() {
				t.Fatalf("chat:\n%s", body)
			}
		}},
		{"/v1/messages", `{"model":"gpt-4o-mini","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"x"}]}`, func(t *testing.T, body []byte) {
			if fs := sseFrames(body); len(fs) != 1 || fs[0].event != "error" || gjson.Get(fs[0].data, "error.type").Str == "" {
				t.Fatalf("messages:\n%s", body)
			}
		}},
		{"/v1/responses", `{"model":"gpt-4o-mini","stream":true,"input":"x"}`, func(t *testing.T, body []byte) {
			responsesFailed(t, body)
			if fs := sseFrames(body); len(fs) != 3 {
				t.Fatalf("responses:\n%s", body)
			}
		}},
	} {
		req, _ := http.NewRequest("POST", g.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+g.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req) // returns once a keep-alive sent the headers
		if err != nil {
			t.Fatal(err)
		}
		gate <- struct{}{} // now the upstream answers 500
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte(": keep-alive\n\n")) {
			t.Fatalf("%s: %d %q", c.path, resp.StatusCode, body)
		}
		c.check(t, body)
	}
}
