package server_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

func envelope(t *testing.T, body []byte) gjson.Result {
	t.Helper()
	e := gjson.GetBytes(body, "error")
	for _, k := range []string{"message", "type", "param", "code"} {
		if !e.Get(k).Exists() {
			t.Fatalf("envelope lacks %q: %s", k, body)
		}
	}
	return e
}

func TestBadInputGetsOpenAIErrors(t *testing.T) {
	g := startGateway(t, "[auth]\nkeys = [\"sk-test-static-key-0123456789abcdef\"]\n[server]\nmax_body_bytes = 4096\n"+
		"[[providers]]\nname = \"mock\"\nkind = \"mock\"\n", nil)
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		param, code              string
	}{
		{"invalid json", "POST", "/v1/chat/completions", `{"model":`, nil, 400, "", ""},
		{"not an object", "POST", "/v1/chat/completions", `[1,2]`, nil, 400, "", ""},
		{"model missing", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, nil, 400, "model", ""},
		{"model not string", "POST", "/v1/chat/completions", `{"model":5,"messages":[]}`, nil, 400, "model", ""},
		{"messages not array", "POST", "/v1/chat/completions", `{"model":"mock","messages":"hi"}`, nil, 400, "messages", ""},
		{"messages empty", "POST", "/v1/chat/completions", `{"model":"mock","messages":[]}`, nil, 400, "messages", ""},
		{"stream not bool", "POST", "/v1/chat/completions", `{"model":"mock","stream":"yes","messages":[{"role":"user","content":"x"}]}`, nil, 400, "stream", ""},
		{"invalid utf-8", "POST", "/v1/chat/completions", "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", nil, 400, "", ""},
		{"too large", "POST", "/v1/chat/completions", `{"model":"mock","x":"` + strings.Repeat("a", 5000) + `"}`, nil, 413, "", "request_too_large"},
		{"deep nesting", "POST", "/v1/chat/completions", `{"model":"mock","x":` + deep[:2000] + deep[len(deep)-2000:] + `}`, nil, 400, "", ""},
		{"content type", "POST", "/v1/chat/completions", `{}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "", ""},
		{"GET on POST route", "GET", "/v1/chat/completions", ``, nil, 405, "", "method_not_allowed"},
		{"unknown v1 path", "POST", "/v1/nope", `{}`, nil, 404, "", "unknown_url"},
		{"unknown model", "POST", "/v1/embeddings", `{"model":"nope","input":"x"}`, nil, 404, "model", "model_not_found"},
		{"prompt missing", "POST", "/v1/completions", `{"model":"mock"}`, nil, 400, "prompt", ""},
		{"no key", "POST", "/v1/chat/completions", `{}`, map[string]string{"Authorization": ""}, 401, "", "invalid_api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := g.do(tt.method, tt.path, tt.body, tt.hdr)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %.300s", status, tt.status, body)
			}
			e := envelope(t, body)
			if tt.param != "" && e.Get("param").String() != tt.param {
				t.Errorf("param %q, want %q", e.Get("param").String(), tt.param)
			}
			if tt.code != "" && e.Get("code").String() != tt.code {
				t.Errorf("code %q, want %q", e.Get("code").String(), tt.code)
			}
			if hdr.Get("X-Request-Id") == "" {
				t.Error("no x-request-id")
			}
		})
	}
	// And the gateway still serves.
	if status, _, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"still here"}]}`, nil); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
}

func TestClientRequestIDIsKept(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	_, hdr, _ := g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"x"}]}`,
		map[string]string{"X-Request-Id": "my-trace-123"})
	if hdr.Get("X-Request-Id") != "my-trace-123" {
		t.Fatalf("x-request-id %q", hdr.Get("X-Request-Id"))
	}
}

func TestSlowlorisHeadersAreCutOff(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n[server]\nread_header_timeout = \"300ms\"\n", nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	for _, b := range []byte("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") {
		if _, err := conn.Write([]byte{b}); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 512)
	n, _ := conn.Read(buf)
	if time.Since(start) > 3*time.Second {
		t.Fatal("connection kept open past the header timeout")
	}
	if n > 0 && strings.Contains(string(buf[:n]), "200 OK") {
		t.Fatalf("slow headers were served: %q", buf[:n])
	}
}

func TestMidStreamFailureEndsWithErrorEvent(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	_, _, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","stream":true,"messages":[{"role":"user","content":"a b c d e f"}]}`,
		map[string]string{"x-mock-cut-after": "2"})
	evs := sseEvents(body)
	if len(evs) < 2 {
		t.Fatalf("events %q", evs)
	}
	last := evs[len(evs)-1]
	if !gjson.Get(last, "error.message").Exists() || strings.Contains(string(body), "[DONE]") || strings.Contains(string(body), "event:") {
		t.Fatalf("want a final error event and no [DONE]:\n%s", body)
	}
	envelope(t, []byte(last))
}

func TestKeepAliveBeforeSlowFirstToken(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\ndata: [DONE]\n\n"))
	})
	g := startGatewayWith(t, upstreamConfig(u.URL, ""), nil, server.Options{KeepAlive: 100 * time.Millisecond})
	_, _, body := g.do("POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}`, nil)
	s := string(body)
	if !strings.HasPrefix(s, ": keep-alive\n\n") || !strings.Contains(s, "late") || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Fatalf("body %q", s)
	}
}
