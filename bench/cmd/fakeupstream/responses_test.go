package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

type sseEvent struct {
	name string
	data []byte
}

// readSSE splits an SSE body into its events (event name and data line).
func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "event: "):
			cur.name = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: "):
			cur.data = []byte(strings.TrimPrefix(l, "data: "))
		case l == "" && cur.data != nil:
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// keyPaths lists every object key path in a JSON document ("response.usage.total_tokens";
// array elements share their array's path), so two events compare by shape, not values.
func keyPaths(t *testing.T, data []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("invalid JSON %s: %v", data, err)
	}
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				set[prefix+k] = true
				walk(prefix+k+".", e)
			}
		case []any:
			for _, e := range x {
				walk(prefix, e)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func postFake(t *testing.T, body string) []sseEvent {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(responsesHandler))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/responses", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	return readSSE(t, resp.Body)
}

// collapse drops repeats of consecutive event names (the recording has 11 deltas).
func collapse(ev []sseEvent) []string {
	var names []string
	for _, e := range ev {
		if len(names) == 0 || names[len(names)-1] != e.name {
			names = append(names, e.name)
		}
	}
	return names
}

// TestResponsesStreamMatchesRecording holds the fake's stream to a real one from
// api.openai.com: the same events in the same order, each with the same fields.
func TestResponsesStreamMatchesRecording(t *testing.T) {
	rec, err := os.ReadFile("testdata/responses-stream-text.sse")
	if err != nil {
		t.Fatal(err)
	}
	want := readSSE(t, bytes.NewReader(rec))
	got := postFake(t, `{"model":"resp-fake-c3-p1","input":"hi","stream":true}`)

	if g, w := collapse(got), collapse(want); !slices.Equal(g, w) {
		t.Fatalf("event order\n got %v\nwant %v", g, w)
	}
	if n := strings.Count(string(joinData(got)), `"type":"response.output_text.delta"`); n != 3 {
		t.Fatalf("%d deltas, want 3", n)
	}
	shape := map[string][]string{}
	for _, e := range want {
		shape[e.name] = keyPaths(t, e.data)
	}
	for i, e := range got {
		var head struct {
			Type string `json:"type"`
			Seq  int    `json:"sequence_number"`
		}
		if err := json.Unmarshal(e.data, &head); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if head.Type != e.name || head.Seq != i {
			t.Fatalf("event %d: type %q seq %d under event: %s", i, head.Type, head.Seq, e.name)
		}
		if g, w := keyPaths(t, e.data), shape[e.name]; !slices.Equal(g, w) {
			t.Errorf("%s fields differ from the recording\n got %v\nwant %v", e.name, g, w)
		}
	}
}

func joinData(ev []sseEvent) []byte {
	var b []byte
	for _, e := range ev {
		b = append(append(b, e.data...), '\n')
	}
	return b
}

func TestResponsesFreshIDs(t *testing.T) {
	id := func() string {
		ev := postFake(t, `{"model":"resp-fake-c1-p0","stream":true}`)
		var first, last struct {
			Response struct {
				ID string `json:"id"`
			} `json:"response"`
		}
		json.Unmarshal(ev[0].data, &first)
		json.Unmarshal(ev[len(ev)-1].data, &last)
		if first.Response.ID != last.Response.ID || len(first.Response.ID) != len("resp_")+48 {
			t.Fatalf("ids %q / %q", first.Response.ID, last.Response.ID)
		}
		return first.Response.ID
	}
	if a, b := id(), id(); a == b {
		t.Fatalf("two responses share the id %s", a)
	}
}

// TestResponsesSDK reads the fake with the official OpenAI Go SDK, streamed and not.
func TestResponsesSDK(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/responses", responsesHandler)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	ctx := context.Background()
	params := responses.ResponseNewParams{
		Model: "resp-fake-c5-p1",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	}

	stream := client.Responses.NewStreaming(ctx, params)
	var text, done string
	var completed *responses.Response
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		switch e := ev.AsAny().(type) {
		case responses.ResponseTextDeltaEvent:
			text += e.Delta
		case responses.ResponseTextDoneEvent:
			done = e.Text
		case responses.ResponseCompletedEvent:
			completed = &e.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	stream.Close()
	if len(types) != 4+5+4 {
		t.Fatalf("events %v", types)
	}
	if want := strings.Repeat(respDelta, 5); text != want || done != want {
		t.Fatalf("deltas %q, done %q", text, done)
	}
	if completed == nil || completed.Status != responses.ResponseStatusCompleted || completed.OutputText() != text ||
		completed.Usage.OutputTokens != 5 || completed.Usage.TotalTokens != 69 || completed.Model != "resp-fake-c5-p1" {
		t.Fatalf("completed %+v", completed)
	}

	resp, err := client.Responses.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != answerText || resp.Usage.InputTokens != 64 || resp.Usage.OutputTokens != 42 ||
		!strings.HasPrefix(resp.ID, "resp_") || resp.Status != responses.ResponseStatusCompleted {
		t.Fatalf("non-stream %+v", resp)
	}
}
