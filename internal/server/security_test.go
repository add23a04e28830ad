package server_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/cli"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/testutil"
)

const (
	staticKey = "sk-test-static-key-0123456789abcdef"
	chatBody  = `{"model":"mock","messages":[{"role":"user","content":"hi"}]}`
)

// sendRaw writes a raw HTTP/1.1 request and reads the status line's code.
func sendRaw(t *testing.T, g *gw, head string) (int, string) {
	t.Helper()
	conn := rawConn(t, g)
	req := head + "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(chatBody)) + "\r\nConnection: close\r\n\r\n" + chatBody
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", head, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// TestAuthCannotBeBypassed tries the header shapes a sloppy parser lets through.
func TestAuthCannotBeBypassed(t *testing.T) {
	g := startGateway(t, "[auth]\nkeys = [\""+staticKey+"\"]\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\n", nil)
	h := g.Srv.Gateway.Handler()
	serve := func(hdr []string) int {
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(chatBody))
		r.Host = "127.0.0.1" // httptest's example.com is refused by the Host allow-list
		r.Header.Set("Content-Type", "application/json")
		for _, v := range hdr {
			r.Header.Add("Authorization", v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			envelope(t, w.Body.Bytes())
		}
		return w.Code
	}
	cases := []struct {
		name string
		hdr  []string
		want int
	}{
		{"the key", []string{"Bearer " + staticKey}, 200},
		{"lower-case scheme", []string{"bearer " + staticKey}, 200},
		{"upper-case scheme and tab", []string{"BEARER\t" + staticKey}, 200},
		{"extra spaces", []string{"  Bearer    " + staticKey + "  "}, 200},
		{"missing", nil, 401},
		{"empty", []string{""}, 401},
		{"scheme only", []string{"Bearer"}, 401},
		{"scheme and spaces", []string{"Bearer    "}, 401},
		{"no scheme", []string{staticKey}, 401},
		{"basic", []string{"Basic " + staticKey}, 401},
		{"scheme glued", []string{"Bearer" + staticKey}, 401},
		{"double scheme", []string{"Bearer Bearer " + staticKey}, 401},
		{"trailing newline", []string{"Bearer " + staticKey + "\n"}, 401},
		{"trailing CRLF", []string{"Bearer " + staticKey + "\r\n"}, 401},
		{"trailing NUL", []string{"Bearer " + staticKey + "\x00"}, 401},
		{"trailing vertical tab", []string{"Bearer " + staticKey + "\v"}, 401},
		{"trailing NBSP", []string{"Bearer " + staticKey + "\u00a0"}, 401},
		{"leading newline", []string{"\nBearer " + staticKey}, 401},
		{"prefix of the key", []string{"Bearer " + staticKey[:len(staticKey)-1]}, 401},
		{"key plus a byte", []string{"Bearer " + staticKey + "0"}, 401},
		{"upper-cased key", []string{"Bearer " + strings.ToUpper(staticKey)}, 401},
		{"comma list", []string{"Bearer x, Bearer " + staticKey}, 401},
		{"two headers, good first", []string{"Bearer " + staticKey, "Bearer wrong"}, 401},
		{"two headers, good second", []string{"Bearer wrong", "Bearer " + staticKey}, 401},
		{"two good headers", []string{"Bearer " + staticKey, "Bearer " + staticKey}, 401},
	}
	for _, tc := range cases {
		if got := serve(tc.hdr); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	// Over a real socket, the shapes net/http clients refuse to send.
	raw := []struct {
		name, head string
		want       int
	}{
		{"plain", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + staticKey + "\r\n", 200},
		{"bare LF line end", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + staticKey + "\n", 200},
		{"url-encoded newline", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + staticKey + "%0A\r\n", 401},
		{"NUL in value", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + staticKey + "\x00\r\n", 400},
		// net/http unfolds obs-fold into one space (RFC 9112 5.2): this is exactly the key.
		{"obs-fold", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer\r\n " + staticKey + "\r\n", 200},
		{"obs-fold inside the key", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + staticKey[:8] + "\r\n " + staticKey[8:] + "\r\n", 401},
		{"two headers", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + staticKey + "\r\nAuthorization: Bearer nope\r\n", 401},
		{"space before colon", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization : Bearer " + staticKey + "\r\n", 400},
		{"lower-case name", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nauthorization: Bearer " + staticKey + "\r\n", 200},
	}
	for _, tc := range raw {
		if got, body := sendRaw(t, g, tc.head); got != tc.want {
			t.Errorf("raw %s: status %d, want %d: %.200s", tc.name, got, tc.want, body)
		}
	}
}

// TestStaticAndStoredKeysWithTheSamePrefix: a static key that differs from a stored
// key only in its last character is its own key; neither lets the other in.
func TestStaticAndStoredKeysWithTheSamePrefix(t *testing.T) {
	home := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(home, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := st.CreateKey(context.Background(), store.NewKey{Name: "stored"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	last := secret[len(secret)-1]
	twin := secret[:len(secret)-1] + string("AB"[func() int {
		if last == 'A' {
			return 1
		}
		return 0
	}()])
	g := startIn(t, home, "[auth]\nkeys = [\""+twin+"\"]\n", nil, server.Options{})
	for _, tc := range []struct {
		key, wantName string
	}{{secret, "stored"}, {twin, "static"}} {
		status, hdr, body := g.do("POST", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + tc.key})
		if status != 200 {
			t.Fatalf("%s: %d %s", tc.wantName, status, body)
		}
		row := waitRow(t, g, hdr.Get("X-Request-Id"))
		if row.KeyName != tc.wantName || (tc.wantName == "stored" && row.KeyID != k.ID) {
			t.Fatalf("key %s logged as %s/%s", tc.wantName, row.KeyName, row.KeyID)
		}
	}
	for _, bad := range []string{secret[:len(secret)-1], secret[:len(secret)-1] + "!", store.MaskSecret(secret)} {
		if status, _, _ := g.do("POST", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + bad}); status != 401 {
			t.Fatalf("near-miss key %q: %d", bad, status)
		}
	}
}

// TestRevokedKeyRacingRequests revokes a key while requests with it are in flight:
// nothing panics, and a second after the revocation every request is refused.
func TestRevokedKeyRacingRequests(t *testing.T) {
	logs := &syncBuffer{}
	g := startGatewayWith(t, "[auth]\nkeys = [\""+staticKey+"\"]\n[limits]\nrpm = 0\nrph = 0\nconcurrent = 0\n", nil,
		server.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	st := openStore(t, g.Home)
	k, secret, err := st.CreateKey(context.Background(), store.NewKey{Name: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		status, _, _ := g.do("POST", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + secret})
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new key was not accepted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var revokedAt atomic.Int64
	var late, ok, refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(`{"model":"mock","stream":true,"messages":[{"role":"user","content":"race"}]}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+secret)
				sent := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
					if r := revokedAt.Load(); r != 0 && sent.Sub(time.Unix(0, r)) > time.Second {
						late.Add(1)
					}
				case 401:
					refused.Add(1)
				default:
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if err := st.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	revokedAt.Store(time.Now().UnixNano())
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d accepted, %d refused", ok.Load(), refused.Load())
	if late.Load() > 0 {
		t.Fatalf("%d requests were accepted more than a second after the revocation", late.Load())
	}
	if refused.Load() == 0 {
		t.Fatal("the revoked key was never refused")
	}
	if strings.Contains(logs.String(), "panic") {
		t.Fatalf("panic:\n%s", logs.String())
	}
	// The static key is unaffected.
	if status, _, _ := g.do("POST", "/v1/chat/completions", chatBody, nil); status != 200 {
		t.Fatalf("static key: %d", status)
	}
}

// TestAdminNeedsLoopbackOrAdminKey checks the operations endpoints at the handler
// with a non-loopback peer: forwarded-for headers change nothing; only the admin key
// (exactly) opens them.
func TestAdminNeedsLoopbackOrAdminKey(t *testing.T) {
	const adminKey = "admin-key-0123456789abcdef"
	g := startGateway(t, "[auth]\nkeys = [\""+staticKey+"\"]\nadmin_key = \""+adminKey+"\"\n", nil)
	h := g.Srv.Gateway.Handler()
	get := func(path, remote string, hdr map[string][]string) int {
		r := httptest.NewRequest("GET", path, nil)
		r.Host = "127.0.0.1" // httptest's example.com is refused by the Host allow-list
		r.RemoteAddr = remote
		for k, vs := range hdr {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == 401 {
			envelope(t, w.Body.Bytes())
		}
		return w.Code
	}
	spoof := map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, "X-Real-Ip": {"127.0.0.1"}, "Forwarded": {"for=127.0.0.1"},
		"Host": {"localhost"}}
	for _, path := range []string{"/admin/state", "/metrics", "/health/metrics", "/health/providers", "/admin/requests/x"} {
		for _, remote := range []string{"203.0.113.9:4444", "[2001:db8::1]:4444", "10.0.0.1:1", "garbage", ""} {
			if code := get(path, remote, nil); code != 401 {
				t.Errorf("%s from %s: %d", path, remote, code)
			}
			if code := get(path, remote, spoof); code != 401 {
				t.Errorf("%s from %s with forwarded headers: %d", path, remote, code)
			}
			for _, bad := range [][]string{{"Bearer " + staticKey}, {"Bearer " + adminKey + "x"}, {"Bearer " + adminKey + "\n"},
				{"Bearer " + adminKey[:10]}, {adminKey}, {"Bearer " + adminKey, "Bearer nope"}} {
				if code := get(path, remote, map[string][]string{"Authorization": bad}); code != 401 {
					t.Errorf("%s from %s with %q: %d", path, remote, bad, code)
				}
			}
		}
		if code := get(path, "203.0.113.9:4444", map[string][]string{"Authorization": {"Bearer " + adminKey}}); code == 401 {
			t.Errorf("%s with the admin key: 401", path)
		}
		// Once an admin key is set, loopback peers need it too (tunnels and same-host
		// proxies look like loopback).
		for _, lo := range []string{"127.0.0.1:5555", "[::1]:5555"} {
			if code := get(path, lo, nil); code != 401 {
				t.Errorf("%s from loopback %s without the admin key: %d", path, lo, code)
			}
		}
	}
	// /health stays public (load balancers), and says nothing secret.
	if code := get("/health", "203.0.113.9:4444", nil); code != 200 {
		t.Errorf("/health: %d", code)
	}
}

// TestServeRefusesOpenBindWithoutAuth runs `serve` through the CLI: a non-loopback
// address with auth off exits 2 with one sentence, unless --insecure-no-auth.
func TestServeRefusesOpenBindWithoutAuth(t *testing.T) {
	run := func(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		f := &cli.Factory{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }}
		code := cli.Execute(ctx, f, cli.BuildInfo{Version: "test"}, args)
		return code, out.String(), errb.String()
	}
	home := filepath.Join(t.TempDir(), "fresh-home")
	env := map[string]string{"RUNESTONE_AUTH_ENABLED": "false", "CI": "true"}
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:4001", ":0"} {
		code, _, stderr := run(context.Background(), env, "serve", "--no-tui", "--home", home, "--addr", addr)
		if code != 2 {
			t.Fatalf("%s: exit %d, want 2: %s", addr, code, stderr)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "--insecure-no-auth") || strings.Contains(stderr, "goroutine") {
			t.Fatalf("%s: want one sentence naming --insecure-no-auth, got %q", addr, stderr)
		}
	}
	if _, err := os.Stat(home); err == nil {
		t.Fatal("a refused serve created the home folder")
	}
	// Loopback with auth off starts; the context then ends and it drains.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if code, _, stderr := run(ctx, env, "serve", "--no-tui", "--home", home, "--addr", "127.0.0.1:0"); code != 0 {
		t.Fatalf("loopback: exit %d: %s", code, stderr)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	code, _, stderr := run(ctx2, env, "serve", "--no-tui", "--home", home, "--addr", "0.0.0.0:0", "--insecure-no-auth")
	if code != 0 || !strings.Contains(stderr, "WARNING") {
		t.Fatalf("--insecure-no-auth: exit %d: %s", code, stderr)
	}
	// The home folder serve created is private, and so is the database.
	for path, want := range map[string]os.FileMode{home: 0o700, filepath.Join(home, store.FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(home, store.FileName+"-*"))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %o, readable by others", m, fi.Mode().Perm())
		}
	}
}

// TestSecretsNeverLeak plants a provider key, a stored client key, a static client
// key and an admin key, runs traffic with successes and failures (including an
// upstream that echoes what it was sent), and looks for them in everything Runestone
// writes or serves: the database files, the process log with per-request lines,
// `logs show`, `config check`, /admin/state, /metrics and /health/*.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		providerKey = "sk-test-PLANTEDPROVIDERKEY0123456789abcdefXYZ"
		adminKey    = "admin-PLANTEDADMINKEY-0123456789"
		static      = "sk-static-PLANTEDSTATICKEY-0123456789"
	)
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(string(body), "echo-400"):
			// A careless upstream that repeats the credentials it got.
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"message":"bad request from `+r.Header.Get("Authorization")+`","type":"invalid_request_error","param":null,"code":null}}`)
		case strings.Contains(string(body), "echo-401"):
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
		case strings.Contains(string(body), "echo-stream"):
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n")
			io.WriteString(w, `data: {"error":{"message":"mid-stream failure for `+r.Header.Get("X-Api-Key")+`","type":"server_error"}}`+"\n\n")
		case strings.Contains(string(body), "fail-500"):
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`)
		default:
			io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
		}
	})
	cfg := `
[auth]
keys = ["${STATIC}"]
admin_key = "${ADMIN}"
[router]
retries = 0
[[providers]]
name = "fake"
kind = "openai"
base_url = "` + u.URL + `/v1"
api_key = "${PLANTED}"
models = ["m"]
headers = { "X-Api-Key" = "${PLANTED}" }
`
	env := map[string]string{"PLANTED": providerKey, "ADMIN": adminKey, "STATIC": static}
	logs := &syncBuffer{}
	g := startGatewayWith(t, cfg, env, server.Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), LogRequests: true})
	st := openStore(t, g.Home)
	_, client, err := st.CreateKey(context.Background(), store.NewKey{Name: "planted"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	var ids []string
	for _, key := range []string{client, static} {
		for _, content := range []string{"ok", "echo-400", "echo-401", "fail-500", "echo-stream"} {
			_, hdr, body := g.do("POST", "/v1/chat/completions", `{"model":"m","stream":`+strconv.FormatBool(content == "echo-stream")+
				`,"messages":[{"role":"user","content":"`+content+`"}]}`, map[string]string{"Authorization": "Bearer " + key})
			ids = append(ids, hdr.Get("X-Request-Id"))
			for _, s := range []string{providerKey, adminKey, static, client} {
				if strings.Contains(string(body), s) {
					t.Errorf("the answer to %q leaks a planted secret: %s", content, body)
				}
			}
		}
	}
	// Failed auth with near-misses of the keys: the 401 must not echo them whole.
	for _, near := range []string{client + "x", static + "x", adminKey} {
		_, _, body := g.do("POST", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + near})
		if strings.Contains(string(body), near[:len(near)-2]) {
			t.Errorf("401 echoes the key: %s", body)
		}
	}
	served := map[string][]byte{}
	for _, path := range []string{"/admin/state", "/metrics", "/health/metrics", "/health/providers", "/health"} {
		_, _, b := g.do("GET", path, "", nil)
		served[path] = b
	}
	_, _, served["/admin/requests/"+ids[1]] = g.do("GET", "/admin/requests/"+ids[1], "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The CLI's views.
	cliRun := func(args ...string) string {
		var out, errb bytes.Buffer
		f := &cli.Factory{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }}
		if code := cli.Execute(context.Background(), f, cli.BuildInfo{Version: "test"}, append(args, "--home", g.Home)); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		return out.String() + errb.String()
	}
	served["config check"] = []byte(cliRun("config", "check"))
	served["config check --json"] = []byte(cliRun("config", "check", "--json"))
	for _, id := range ids {
		served["logs show "+id] = []byte(cliRun("logs", "show", id, "--json"))
	}
	served["process log"] = []byte(logs.String())
	var files bytes.Buffer
	filepath.Walk(g.Home, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Name() != "config.toml" {
			b, _ := os.ReadFile(p)
			files.Write(b)
		}
		return nil
	})
	served["database files"] = files.Bytes()
	if !bytes.Contains(served["logs show "+ids[0]], []byte(`"status": 200`)) || len(served["process log"]) == 0 ||
		!bytes.Contains(served["config check"], []byte(`name = 'fake'`)) {
		t.Fatalf("the views are empty: %s\n%s", served["logs show "+ids[0]], served["config check"])
	}
	for name, hay := range served {
		for _, s := range []string{providerKey, adminKey, static, client} {
			if bytes.Contains(hay, []byte(s)) {
				i := bytes.Index(hay, []byte(s))
				t.Errorf("%s contains a planted secret %s…: %q", name, s[:12], hay[max(0, i-80):min(len(hay), i+len(s)+20)])
			}
		}
	}
}
