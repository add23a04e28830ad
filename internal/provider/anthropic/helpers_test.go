package anthropic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/anthropic")

const testdata = "../../../testdata/anthropic"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func readFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares got with the golden file as parsed JSON, or rewrites it.
func checkGolden(t *testing.T, rel string, got []byte) {
	t.Helper()
	path := filepath.Join(testdata, rel)
	if *update {
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, got)
		}
		pretty, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(pretty, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("golden %s is not JSON: %v", rel, err)
	}
	if !reflect.DeepEqual(g, w) {
		pg, _ := json.MarshalIndent(g, "", "  ")
		t.Errorf("%s mismatch\n--- got\n%s\n--- want\n%s", rel, pg, want)
	}
}

// httprrResponse reads the first exchange of an httprr trace: "httprr trace v1", a
// line "N M", N bytes of request and M bytes of response.
func httprrResponse(t testing.TB, rel string) (*http.Request, *http.Response, []byte) {
	t.Helper()
	raw := readFile(t, rel)
	rest, ok := bytes.CutPrefix(raw, []byte("httprr trace v1\n"))
	if !ok {
		t.Fatalf("%s: not an httprr trace", rel)
	}
	line, rest, _ := bytes.Cut(rest, []byte("\n"))
	var n, m int
	if _, err := fmt.Sscanf(string(line), "%d %d", &n, &m); err != nil {
		t.Fatalf("%s: bad header %q", rel, line)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(rest[:n])))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(rest[n:n+m])), req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return req, resp, body
}

// chunksToSSE re-frames a .chunks.txt (one data payload a line) as the SSE the API
// sends: an event: line naming the payload's type, then data:.
func chunksToSSE(t testing.TB, raw []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var v struct{ Type string }
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("chunk %q: %v", line, err)
		}
		fmt.Fprintf(&out, "event: %s\ndata: %s\n\n", v.Type, line)
	}
	return out.Bytes()
}

// captureSSE returns a recorded stream body and its recorded headers (nil when the
// capture kept none).
func captureSSE(t testing.TB, name string) ([]byte, http.Header) {
	t.Helper()
	switch {
	case strings.HasSuffix(name, ".httprr"):
		_, resp, body := httprrResponse(t, "captures/"+name)
		return body, resp.Header
	case strings.HasSuffix(name, ".chunks.txt"):
		return chunksToSSE(t, readFile(t, "captures/"+name)), nil
	}
	return readFile(t, "captures/"+name), nil
}

// sseEvents splits an SSE body into (event, data) pairs, the translator's input.
func sseEvents(body []byte) (names, datas [][]byte) {
	for _, ev := range bytes.Split(body, []byte("\n\n")) {
		var name, data []byte
		for _, line := range bytes.Split(ev, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
				name = v
			}
			if v, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				data = v
			}
		}
		if data != nil {
			names, datas = append(names, name), append(datas, data)
		}
	}
	return names, datas
}

// fakeAnthropic is an httptest server that checks the request the way the API would
// and answers with status, headers and body, flushing after every SSE event.
type fakeAnthropic struct {
	*httptest.Server
	t       testing.TB
	status  int
	header  http.Header
	body    []byte
	gotBody chan []byte
}

func newFake(t testing.TB, status int, header http.Header, body []byte) *fakeAnthropic {
	f := &fakeAnthropic{t: t, status: status, header: header, body: body, gotBody: make(chan []byte, 4)}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAnthropic) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		f.t.Errorf("fake: got %s %s", r.Method, r.URL.Path)
	}
	if r.Header.Get("x-api-key") != "test-key" || r.Header.Get("anthropic-version") != "2023-06-01" ||
		!strings.HasPrefix(r.Header.Get("content-type"), "application/json") {
		f.t.Errorf("fake: bad headers %v", r.Header)
	}
	b, _ := io.ReadAll(r.Body)
	if !json.Valid(b) {
		f.t.Errorf("fake: request body is not JSON: %s", b)
	}
	select {
	case f.gotBody <- b:
	default:
	}
	for k, vs := range f.header {
		switch strings.ToLower(k) {
		case "content-length", "transfer-encoding":
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(f.status)
	rc := http.NewResponseController(w)
	for _, ev := range bytes.SplitAfter(f.body, []byte("\n\n")) {
		if _, err := w.Write(ev); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

func newTestProvider(t testing.TB, url string) *Provider {
	p := New(Options{Name: "claude", BaseURL: url, APIKey: "test-key", Models: []string{"claude-sonnet-4-5"}})
	t.Cleanup(p.CloseIdleConnections)
	return p
}
