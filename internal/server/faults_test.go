package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

// waitRow polls the request log until the row for id lands (the writer batches).
func waitRow(t *testing.T, g *gw, id string) store.RequestRow {
	t.Helper()
	st := openStore(t, g.Home)
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, err := st.RequestsByID(context.Background(), id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if len(rows) == 1 {
			return rows[0]
		}
		if len(rows) > 1 || time.Now().After(deadline) {
			t.Fatalf("request %s has %d log rows, want 1", id, len(rows))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const chunkFmt = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s \"},\"finish_reason\":null}]}\n\n"

// hanging answers nothing until the gateway gives up on it.
func hanging(t *testing.T, calls *atomic.Int32) *testutil.Upstream {
	return testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
}

// TestUpstreamHangsBeforeHeaders: a provider that never answers is cut by its
// `timeout`, retried, then failed over; plain and streamed requests both land on
// the backup quickly.
func TestUpstreamHangsBeforeHeaders(t *testing.T) {
	var hung atomic.Int32
	p := hanging(t, &hung)
	b, _ := scripted(t, "backup")
	cfg := strings.Replace(twoProviders(p.URL, b.URL, ""), "priority = 1\n", "priority = 1\ntimeout = \"200ms\"\n", 1)
	cfg = strings.Replace(cfg, "retries = 2", "retries = 1", 1)
	cfg = strings.Replace(cfg, "failure_threshold = 3", "failure_threshold = 100", 1)
	g := startGateway(t, cfg, nil)
	for _, stream := range []bool{false, true} {
		start := time.Now()
		status, hdr, body := chat(g, stream)
		took := time.Since(start)
		if status != 200 || hdr.Get("X-Runestone-Provider") != "backup" || !strings.Contains(string(body), "backup") {
			t.Fatalf("stream=%v: %d %s %s", stream, status, hdr.Get("X-Runestone-Provider"), body)
		}
		// The row's three attempts show the timeout worked; this bound only turns a
		// broken timeout into a failure instead of a hang, so it is generous.
		if took > 20*time.Second {
			t.Fatalf("stream=%v: took %v; the 200ms timeout did not bound the hang", stream, took)
		}
		row := waitRow(t, g, hdr.Get("X-Request-Id"))
		if row.Attempts != 3 || row.Provider != "backup" || strings.Join(row.ProvidersTried, ",") != "primary,primary,backup" {
			t.Fatalf("stream=%v: row %+v", stream, row)
		}
	}
	if n := hung.Load(); n != 4 {
		t.Fatalf("the hanging provider was called %d times, want 2 per request", n)
	}
}

// TestUpstreamHangsMidStream: after the first events the upstream goes silent; the
// idle-stream limit ends the stream with an error event (no [DONE]) and the row says so.
func TestUpstreamHangsMidStream(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, chunkFmt, "one")
		fmt.Fprintf(w, chunkFmt, "two")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	g := startGatewayWith(t, upstreamConfig(u.URL, ""), nil, server.Options{StreamIdle: 300 * time.Millisecond, KeepAlive: 100 * time.Millisecond})
	start := time.Now()
	status, hdr, body := g.do("POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}`, nil)
	took := time.Since(start)
	evs := sseEvents(body)
	if status != 200 || len(evs) != 3 || strings.Contains(string(body), "[DONE]") || strings.Contains(string(body), "event:") {
		t.Fatalf("%d %q", status, body)
	}
	if e := envelope(t, []byte(evs[2])); e.Get("code").String() != "stream_idle_timeout" {
		t.Fatalf("last event %s", evs[2])
	}
	// Not before the limit; when exactly after it is gateway.TestStreamIdleCutOff's,
	// on a fake clock (the stream_idle_timeout event above shows the limit ended it).
	if took < 300*time.Millisecond {
		t.Fatalf("stream ended after %v, before the 300ms idle limit", took)
	}
	row := waitRow(t, g, hdr.Get("X-Request-Id"))
	if row.Status != http.StatusGatewayTimeout || row.Error == "" || row.TTFTMS == nil || row.CompletionTokens == 0 {
		t.Fatalf("row %+v", row)
	}
	// Only the requests' own upstream call remains: none is left hanging.
	if reqs := u.Requests(); len(reqs) != 1 {
		t.Fatalf("%d upstream calls", len(reqs))
	}
	select {
	case <-u.Requests()[0].Done:
	case <-time.After(2 * time.Second):
		t.Fatal("the upstream call was not cancelled after the idle limit")
	}
}

// TestUpstreamClosesMidStream: the upstream drops the connection after two events.
// The client gets those, then one error event; the row records the failure with the
// tokens that were delivered.
func TestUpstreamClosesMidStream(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, chunkFmt, "alpha")
		fmt.Fprintf(w, chunkFmt, "beta")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	g := startGateway(t, upstreamConfig(u.URL, ""), nil)
	status, hdr, body := g.do("POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}`, nil)
	evs := sseEvents(body)
	if status != 200 || len(evs) != 3 || !strings.Contains(evs[1], "beta") || strings.Contains(string(body), "[DONE]") {
		t.Fatalf("%d %q", status, body)
	}
	if e := envelope(t, []byte(evs[2])); e.Get("type").String() != "server_error" {
		t.Fatalf("last event %s", evs[2])
	}
	row := waitRow(t, g, hdr.Get("X-Request-Id"))
	if row.Status < 500 || row.Error == "" || row.Provider != "fake" || row.TTFTMS == nil {
		t.Fatalf("row %+v", row)
	}
	if row.CompletionTokens == 0 || row.PromptTokens == 0 || !row.TokensEstimated {
		t.Fatalf("the delivered tokens were not counted: %+v", row)
	}
}

// TestUpstreamBadBodies: a 200 whose body is not the JSON it should be is a 502 the
// gateway retries and fails over from; alone, it reaches the client as an envelope.
func TestUpstreamBadBodies(t *testing.T) {
	bodies := map[string]struct{ ctype, body string }{
		"garbage":   {"application/json", "\x00\x01garbage{{{"},
		"truncated": {"application/json", `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assi`},
		"html":      {"text/html", "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>cloudflare</body></html>"},
		"empty":     {"application/json", ""},
	}
	for name, bad := range bodies {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			p := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				calls.Add(1)
				w.Header().Set("Content-Type", bad.ctype)
				io.WriteString(w, bad.body)
			})
			// Alone: a 502 envelope naming the provider, no half-written body.
			g := startGateway(t, upstreamConfig(p.URL, "[breaker]\nfailure_threshold = 100\n"), nil)
			status, hdr, body := g.do("POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`, nil)
			if status != http.StatusBadGateway {
				t.Fatalf("status %d: %s", status, body)
			}
			e := envelope(t, body)
			if !strings.Contains(e.Get("message").String(), "fake") || strings.Contains(string(body), "DOCTYPE") {
				t.Fatalf("envelope %s", body)
			}
			if hdr.Get("X-Should-Retry") != "false" {
				t.Errorf("x-should-retry %q", hdr.Get("X-Should-Retry"))
			}
			if n := calls.Load(); n != 3 {
				t.Fatalf("bad body tried %d times, want 3 (retryable, retries = 2)", n)
			}
			// With a backup: the client never sees the bad body.
			b, _ := scripted(t, "backup")
			g2 := startGateway(t, twoProviders(p.URL, b.URL, ""), nil)
			status, hdr, body = chat(g2, false)
			if status != 200 || hdr.Get("X-Runestone-Provider") != "backup" {
				t.Fatalf("failover: %d %s", status, body)
			}
		})
	}
}

// TestUnresolvableProviderFailsFast: a base_url whose host cannot resolve (.invalid
// never does) is a quick 502 provider_unavailable naming the provider.
func TestUnresolvableProviderFailsFast(t *testing.T) {
	cfg := `
[auth]
enabled = false
[router]
retries = 1
backoff_base = "1ms"
backoff_max = "5ms"
[[providers]]
name = "nowhere"
kind = "openai"
base_url = "http://does-not-exist.invalid/v1"
api_key = "sk-x"
models = ["m"]
`
	g := startGateway(t, cfg, nil)
	for _, stream := range []bool{false, true} {
		start := time.Now()
		status, _, body := chat(g, stream)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("took %v", took)
		}
		if status != http.StatusBadGateway && status != http.StatusServiceUnavailable {
			t.Fatalf("stream=%v: %d %s", stream, status, body)
		}
		e := envelope(t, body)
		if e.Get("code").String() != "provider_unavailable" || !strings.Contains(e.Get("message").String(), "nowhere") {
			t.Fatalf("stream=%v: %s", stream, body)
		}
		if gjson.GetBytes(body, "error.message").String() == "" {
			t.Fatal("empty message")
		}
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// load sends requests from workers until stop closes and returns each request's
// x-request-id, status and latency.
type result struct {
	id      string
	status  int
	latency time.Duration
	at      time.Time
}

func load(t *testing.T, url string, workers int, body string, stop <-chan struct{}) []result {
	var mu sync.Mutex
	var out []result
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", url+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				out = append(out, result{resp.Header.Get("X-Request-Id"), resp.StatusCode, time.Since(start), start})
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	return out
}

func p99(rs []result) time.Duration {
	ls := make([]time.Duration, len(rs))
	for i, r := range rs {
		ls[i] = r.latency
	}
	slices.Sort(ls)
	if len(ls) == 0 {
		return 0
	}
	return ls[len(ls)*99/100]
}

// checkRows shuts the gateway down (flushing the log) and checks every answered
// request has exactly one row.
func checkRows(t *testing.T, g *gw, rs []result) {
	t.Helper()
	checkRowsN(t, g, rs, 0)
}

// checkRowsN shuts the gateway down (flushing the log) and checks that every tracked
// request has exactly one row, and that there are extra rows besides.
func checkRowsN(t *testing.T, g *gw, rs []result, extra int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := g.Srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, g.Home)
	rows, err := st.ListRequests(context.Background(), store.RequestFilter{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.ID]++
	}
	for _, r := range rs {
		if seen[r.id] != 1 {
			t.Fatalf("request %s (status %d) has %d rows", r.id, r.status, seen[r.id])
		}
	}
	if len(rows) != len(rs)+extra {
		t.Fatalf("%d rows for %d requests", len(rows), len(rs)+extra)
	}
}

// TestLockedDatabaseDoesNotSlowRequests: another connection holds the write lock
// (BEGIN IMMEDIATE) for 2s while requests flow. Requests stay fast, and every row
// lands once the lock is released.
func TestLockedDatabaseDoesNotSlowRequests(t *testing.T) {
	logs := &syncBuffer{}
	g := startGatewayWith(t, "[auth]\nenabled = false\n[limits]\nrpm = 0\nrph = 0\nconcurrent = 0\n", nil,
		server.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	db, err := sql.Open("sqlite", "file:"+filepath.Join(g.Home, store.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	stop := make(chan struct{})
	var rs []result
	done := make(chan struct{})
	go func() {
		defer close(done)
		rs = load(t, g.URL, 8, `{"model":"mock","messages":[{"role":"user","content":"locked"}]}`, stop)
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	lockedAt := time.Now()
	time.Sleep(2 * time.Second)
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	unlockedAt := time.Now()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	var during []result
	for _, r := range rs {
		if r.status != 200 {
			t.Fatalf("status %d during the lock", r.status)
		}
		if r.at.After(lockedAt) && r.at.Before(unlockedAt) {
			during = append(during, r)
		}
	}
	t.Logf("%d requests, %d while locked, p99 while locked %v, p99 overall %v", len(rs), len(during), p99(during), p99(rs))
	// Requests that began and ended inside the lock cannot have waited for it: that
	// count, not a latency limit, shows the request path never touches the database.
	inside := 0
	for _, r := range during {
		if r.at.Add(r.latency).Before(unlockedAt) {
			inside++
		}
	}
	if inside < 20 {
		t.Fatalf("only %d of %d requests started under the lock also finished under it", inside, len(during))
	}
	checkRows(t, g, rs)
}

// TestFullDiskKeepsServingAndLosesNoRow runs the gateway on a tiny tmpfs, fills it,
// sends requests, then frees space: requests are served throughout, the outage is
// logged once (not per request), and every row lands once space is back.
func TestFullDiskKeepsServingAndLosesNoRow(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", home).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to simulate a full disk (needs root): %v %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", home).CombinedOutput(); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	logs := &syncBuffer{}
	g := startIn(t, home, "[auth]\nenabled = false\n[limits]\nrpm = 0\nrph = 0\nconcurrent = 0\n",
		nil, server.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	// Warm up, then fill the disk.
	if status, _, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"warm"}]}`, nil); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	filler := filepath.Join(home, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	var rs []result
	content := strings.Repeat("full disk ", 200)
	for i := 0; i < 60; i++ {
		start := time.Now()
		status, hdr, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"`+content+`"}]}`, nil)
		if status != 200 {
			t.Fatalf("request %d on a full disk: %d %s", i, status, body)
		}
		rs = append(rs, result{id: hdr.Get("X-Request-Id"), status: status, latency: time.Since(start)})
	}
	time.Sleep(500 * time.Millisecond) // let the writer hit the wall
	// Every request got its 200 above while the writer could not write; the latency is
	// reported, not asserted (a loaded machine is not a failing gateway).
	t.Logf("p99 on a full disk: %v", p99(rs))
	logged := strings.Count(logs.String(), "cannot write to the database")
	if logged != 1 {
		t.Fatalf("the outage was logged %d times, want once:\n%s", logged, logs.String())
	}
	os.Remove(filler)
	// Every row lands once there is room again (the writer backs off up to 5s).
	st := openStore(t, g.Home)
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows, err := st.ListRequests(context.Background(), store.RequestFilter{Limit: 1000})
		if err == nil && len(rows) == len(rs)+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows after space came back, want %d (err %v)\n%s", len(rows), len(rs)+1, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "writing again") {
		t.Errorf("the end of the outage was not logged:\n%s", logs.String())
	}
	checkRowsN(t, g, rs, 1) // plus the warm-up request
}
