package server_test

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// liveHeap is the heap still reachable after two collections (the second frees what
// finalizers of the first released).
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// post sends body to path on a connection of its own, closed afterwards, so no
// connection buffer outlives the request.
func post(t *testing.T, g *gw, path, body string, hdr map[string]string) (int, string) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest("POST", g.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if g.Key != "" {
		req.Header.Set("Authorization", "Bearer "+g.Key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 32<<10)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header.Get("X-Request-Id")
}

// TestHugeModelNamesAreNotKept: 150 requests with 1 MB model names on each dialect
// get their 400 and leave nothing of the names behind once collected (before, the
// recent-requests ring and error strings kept +127 MiB on /v1/messages and +215 MiB
// on /v1/responses).
func TestHugeModelNamesAreNotKept(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	name := strings.Repeat("m", 1<<20)
	bodies := map[string]string{
		"/v1/chat/completions": `{"model":"` + name + `","messages":[{"role":"user","content":"hi"}]}`,
		"/v1/messages":         `{"model":"` + name + `","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`,
		"/v1/responses":        `{"model":"` + name + `","input":"hi"}`,
	}
	for path, body := range bodies {
		t.Run(strings.TrimPrefix(path, "/v1/"), func(t *testing.T) {
			before := liveHeap()
			for i := range 150 {
				if s, _ := post(t, g, path, body, nil); s != 400 {
					t.Fatalf("request %d: status %d", i, s)
				}
			}
			after := liveHeap()
			grew := int64(after) - int64(before)
			t.Logf("%s: live heap %+d KiB after 150 requests with 1 MB model names", path, grew>>10)
			if grew > 16<<20 {
				t.Fatalf("%s: the live heap grew %d MiB after 150 refused 1 MB model names", path, grew>>20)
			}
		})
	}
}

// TestBigAnswersAreNotKept: mock answers of 1.7 MB each leave nothing behind once
// the log has written them. Before, each finished request's event in the recent ring
// named its providers through a view into the executor's result, which holds the
// answer: 60 answers kept ~100 MB (several times that streamed) until 200 newer
// requests pushed them out. 24 a dialect keep the test short; a leak is ~40 MB.
func TestBigAnswersAreNotKept(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	prompt := strings.Repeat("word ", 340<<10) // 1.7 MB, echoed back by the mock
	bodies := map[string]string{
		"/v1/chat/completions": `{"model":"mock","messages":[{"role":"user","content":"` + prompt + `"}]}`,
		"/v1/messages":         `{"model":"mock","max_tokens":16,"messages":[{"role":"user","content":"` + prompt + `"}]}`,
		"/v1/responses":        `{"model":"mock","input":"` + prompt + `"}`,
	}
	for path, body := range bodies {
		for _, stream := range []bool{false, true} {
			b := body
			if stream {
				b = `{"stream":true,` + body[1:]
			}
			t.Run(strings.TrimPrefix(path, "/v1/")+map[bool]string{false: "", true: "-stream"}[stream], func(t *testing.T) {
				// Warm up first: one-time state (the tokenizer's vocabulary, the store's
				// statements) and the newest request's own buffers are not a leak.
				for range 2 {
					post(t, g, path, b, nil)
				}
				before := liveHeap()
				var last string
				for i := range 24 {
					s, id := post(t, g, path, b, nil)
					if s != 200 {
						t.Fatalf("request %d: status %d", i, s)
					}
					last = id
				}
				waitRow(t, g, last) // rows are written in order: the log holds none of them now
				after := liveHeap()
				grew := int64(after) - int64(before)
				t.Logf("%s stream=%v: live heap %+d KiB after 24 answers of 1.7 MB", path, stream, grew>>10)
				if grew > 16<<20 {
					t.Fatalf("%s: the live heap grew %d MiB after 24 answers of 1.7 MB", path, grew>>20)
				}
			})
		}
	}
}
