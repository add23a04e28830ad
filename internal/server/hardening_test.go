package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// endless is a body of n bytes of filler produced on the fly, so the test itself
// allocates nothing however large the body. sent is read while the transport may
// still be writing.
type endless struct {
	n    int64
	sent atomic.Int64
}

func (e *endless) Read(p []byte) (int, error) {
	sent := e.sent.Load()
	if sent >= e.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), e.n-sent)
	for i := range p[:k] {
		p[i] = 'a'
	}
	e.sent.Add(k)
	return int(k), nil
}

// TestHugeBodiesAreCutAtTheLimit sends 50 MB bodies, with and without a declared
// length: each gets 413 with an envelope, the gateway reads no more than about
// max_body_bytes of it (allocation stays far below 50 MB), and keeps serving.
func TestHugeBodiesAreCutAtTheLimit(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n[server]\nmax_body_bytes = 1048576\n", nil)
	const size = 50 << 20
	for _, chunked := range []bool{false, true} {
		name := "content-length"
		if chunked {
			name = "chunked"
		}
		t.Run(name, func(t *testing.T) {
			body := &endless{n: size}
			req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", io.MultiReader(strings.NewReader(`{"model":"mock","x":"`), body))
			req.Header.Set("Content-Type", "application/json")
			if !chunked {
				req.ContentLength = size + int64(len(`{"model":"mock","x":"`))
			}
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Do(req)
			if err != nil {
				// The gateway may close the connection while the client is still writing;
				// then it must not have swallowed the 50 MB first.
				if body.sent.Load() >= size {
					t.Fatalf("error after the whole body was sent: %v", err)
				}
				t.Logf("client saw %v after sending %d bytes", err, body.sent.Load())
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Fatalf("status %d: %.200s", resp.StatusCode, b)
				}
				if gjson.GetBytes(b, "error.code").String() != "request_too_large" {
					t.Fatalf("body %s", b)
				}
			}
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: %d bytes sent by the client, %d MB allocated, %v", name, body.sent.Load(), alloc>>20, time.Since(start))
			if alloc > 24<<20 {
				t.Fatalf("the gateway allocated %d MB for a 50 MB body over a 1 MB limit", alloc>>20)
			}
		})
	}
	if status, _, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"after"}]}`, nil); status != 200 {
		t.Fatalf("gateway stopped serving: %d %s", status, body)
	}
}

// rawConn opens a TCP connection to the gateway, closed when the test ends.
func rawConn(t *testing.T, g *gw) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestStalledBodiesAreCutByTheBodyTimeout covers uploads that never finish: a chunked
// body that stops (or trickles forever), and a body shorter than its Content-Length.
// Each gets 408 within about server.read_body_timeout, gets its log row, and the
// gateway goes on serving meanwhile.
func TestStalledBodiesAreCutByTheBodyTimeout(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n[server]\nread_body_timeout = \"400ms\"\n", nil)
	const head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	cases := []struct {
		name    string
		head    string
		trickle string // written one byte every 50ms for as long as the test waits
	}{
		{"chunked stops", head + "Transfer-Encoding: chunked\r\n\r\n8\r\n{\"model\"\r\n", ""},
		{"chunked trickles", head + "Transfer-Encoding: chunked\r\n\r\n400\r\n{\"model\":\"mock\",\"x\":\"", strings.Repeat("a", 1000)},
		{"short content-length", head + "Content-Length: 1000\r\n\r\n{\"model\":\"mock\"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := rawConn(t, g)
			start := time.Now()
			if _, err := io.WriteString(conn, tc.head); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; i < len(tc.trickle); i++ {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := conn.Write([]byte{tc.trickle[i]}); err != nil {
						return
					}
				}
			}()
			defer func() { close(stop); <-done }()
			// Meanwhile the gateway answers others at once.
			if status, _, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"x"}]}`, nil); status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a stalled body after %v: %v", time.Since(start), err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != http.StatusRequestTimeout || gjson.GetBytes(b, "error.code").String() != "request_timeout" {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			envelope(t, b)
			// The 408 shows the body timeout fired; not before it is all the clock can
			// say without racing a loaded machine (the read deadline above bounds a hang).
			if took < 350*time.Millisecond {
				t.Fatalf("answered after %v, before the 400ms body timeout", took)
			}
		})
	}
}

// TestBodyTimeoutDoesNotLimitLongStreams checks the body deadline is lifted once the
// body is in: a stream that runs far longer than read_body_timeout completes.
func TestBodyTimeoutDoesNotLimitLongStreams(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n[server]\nread_body_timeout = \"200ms\"\n", nil)
	status, _, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","stream":true,"messages":[{"role":"user","content":"a b c d e f g h"}]}`,
		map[string]string{"x-mock-chunk-delay-ms": "100"})
	if status != 200 || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Fatalf("%d %s", status, body)
	}
	// Keep-alive: the next request on the same connection works after the deadline passed.
	for i := 0; i < 2; i++ {
		time.Sleep(250 * time.Millisecond)
		if status, _, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"x"}]}`, nil); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	}
}

// TestStalledBodyOnRefusedRequests: a request refused before its body is read (bad
// key, bad content type, unknown path, wrong method) is answered at once even when
// the body stalls: net/http must not wait for the unread rest of it (before the fix
// an unauthenticated client could hold a connection and goroutine forever).
func TestStalledBodyOnRefusedRequests(t *testing.T) {
	// A body timeout far past the read deadline below: a refusal that waited for the
	// body would miss the deadline, so no wall-clock limit of our own is needed.
	g := startGateway(t, "[auth]\nkeys = [\"sk-test-static-key-0123456789abcdef\"]\n[server]\nread_body_timeout = \"60s\"\n", nil)
	for _, head := range []string{
		"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer wrong\r\nContent-Length: 1000\r\n\r\n{\"model\"",
		"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/html\r\nAuthorization: Bearer sk-test-static-key-0123456789abcdef\r\nContent-Length: 1000\r\n\r\n{\"model\"",
		"POST /v1/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"model\"",
		"PUT /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"model\"",
		"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"model\"",
	} {
		conn := rawConn(t, g)
		start := time.Now()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%q: no answer after %v: %v", head, time.Since(start), err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("%q: %d after %v", head, resp.StatusCode, time.Since(start))
		}
	}
}
