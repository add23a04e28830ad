package cassette

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

const chatEP = "/v1/chat/completions"

// fakeClock advances by step on every call.
func fakeClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

func recordBody(t *testing.T, r *Recorder, h http.Header, req, resp string) {
	t.Helper()
	tk := r.Begin(chatEP, "POST", h, []byte(req))
	tk.Header(200, http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"a=b"}, "X-Request-Id": {"req_1"}})
	tk.Body([]byte(resp))
	if err := tk.End(); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t *testing.T, dir string, o ReplayOptions) *Replayer {
	t.Helper()
	rp, err := OpenReplayer(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func TestRoundTripBody(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRecorder(dir, RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Upstreams send compact, indented and trailing-newline bodies: each must come back byte for byte.
	bodies := []string{
		`{"id":"a","choices":[{"message":{"content":"<b>hi</b> & é"}}]}`,
		"{\n  \"id\": \"b\",\n  \"n\": 1.50\n}\n",
		`{"id": "c",   "odd":true}`,
		`not json at all`,
	}
	for i, b := range bodies {
		recordBody(t, r, http.Header{"Anthropic-Beta": {"tools-2024"}, "Authorization": {"Bearer xyz"}},
			fmt.Sprintf(`{"model":"gpt-4o-mini","n":%d}`, i), b)
	}
	files, _ := listFiles(dir)
	if len(files) != 4 {
		t.Fatalf("%d files, want 4", len(files))
	}
	if !strings.HasPrefix(filepath.Base(files[0]), "chat-completions-gpt-4o-mini-") {
		t.Errorf("file name %s", filepath.Base(files[0]))
	}
	raw, _ := os.ReadFile(files[0])
	for _, bad := range []string{"Set-Cookie", "set-cookie", "req_1", "Authorization", "authorization"} {
		if bytes.Contains(raw, []byte(bad)) {
			t.Errorf("cassette keeps %q:\n%s", bad, raw)
		}
	}
	if !bytes.Contains(raw, []byte(`"anthropic-beta": "tools-2024"`)) {
		t.Errorf("cassette lost the anthropic-beta header:\n%s", raw)
	}
	rp := mustOpen(t, dir, ReplayOptions{})
	for i, b := range bodies {
		c, miss := rp.Match(chatEP, http.Header{"Anthropic-Beta": {"tools-2024"}}, fmt.Appendf(nil, `{"model":"gpt-4o-mini","n":%d}`, i))
		if miss != nil {
			t.Fatalf("body %d: %v", i, miss)
		}
		if string(c.Body) != b {
			t.Errorf("body %d replayed as %q, want %q", i, c.Body, b)
		}
		if c.Status != 200 || c.Header.Get("Content-Type") != "application/json" || c.Stream {
			t.Errorf("body %d: status %d header %v stream %v", i, c.Status, c.Header, c.Stream)
		}
	}
	// The header takes part in matching.
	if _, miss := rp.Match(chatEP, nil, []byte(`{"model":"gpt-4o-mini","n":0}`)); miss == nil ||
		!strings.Contains(miss.Error(), `header anthropic-beta: (absent) ≠ "tools-2024"`) {
		t.Errorf("miss without the header: %v", miss)
	}
}

func TestRoundTripStream(t *testing.T) {
	dir := t.TempDir()
	r, _ := NewRecorder(dir, RecordOptions{})
	r.Clock = fakeClock(40 * time.Millisecond)
	frames := []string{
		"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
		": keep-alive\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
		"data: line1\ndata: line2\n\n",
		"id: 7\ndata: x\n\n",
		"data: [DONE]\n\n",
	}
	tk := r.Begin(chatEP, "POST", nil, []byte(`{"model":"m","stream":true}`))
	tk.Header(200, http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}})
	for _, f := range frames {
		tk.Frame([]byte(f))
	}
	if err := tk.End(); err != nil {
		t.Fatal(err)
	}
	files, _ := listFiles(dir)
	rec, err := ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Response.Events) != 5 || rec.Response.Events[0].Event != "message_start" || rec.Response.Events[2].Data != "line1\nline2" {
		t.Fatalf("events %+v", rec.Response.Events)
	}
	for i, want := range []int64{0, 40, 80, 120, 160} {
		if got := rec.Response.Events[i].OffsetMS; got != want {
			t.Errorf("event %d offset %d, want %d", i, got, want)
		}
	}
	rp := mustOpen(t, dir, ReplayOptions{})
	c, miss := rp.Match(chatEP, nil, []byte(`{"stream":true,"model":"m"}`))
	if miss != nil {
		t.Fatal(miss)
	}
	var got []string
	if err := c.Play(context.Background(), func(f []byte) bool { got = append(got, string(f)); return true }); err != nil {
		t.Fatal(err)
	}
	want := append(append([]string{}, frames[0]), frames[2:]...)
	if strings.Join(got, "") != strings.Join(want, "") || !c.Stream {
		t.Errorf("replayed\n%q\nwant\n%q", got, want)
	}
}

func TestPlayPaceAndCancel(t *testing.T) {
	c := &Cassette{Stream: true, speed: 2}
	for _, off := range []int64{0, 100, 1000} {
		e := Event{Data: fmt.Sprint(off), OffsetMS: off}
		c.events = append(c.events, e)
		c.frames = append(c.frames, e.Frame())
	}
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		if err := c.Play(context.Background(), func([]byte) bool { at = append(at, time.Since(start)); return true }); err != nil {
			t.Fatal(err)
		}
		if want := []time.Duration{0, 50 * time.Millisecond, 500 * time.Millisecond}; fmt.Sprint(at) != fmt.Sprint(want) {
			t.Errorf("frames at %v, want %v (speed 2)", at, want)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		err := c.Play(ctx, func([]byte) bool { n++; cancel(); return true })
		if !errors.Is(err, context.Canceled) || n != 1 {
			t.Errorf("cancelled play: err %v after %d frames", err, n)
		}
		if err := c.Play(context.Background(), func([]byte) bool { return false }); !errors.Is(err, ErrStopped) {
			t.Errorf("writer stop: %v", err)
		}
	})
	c.speed = 0
	n := 0
	_ = c.Play(context.Background(), func([]byte) bool { n++; return true })
	if n != 3 {
		t.Errorf("speed 0 played %d frames", n)
	}
}

func TestMatchingCanonical(t *testing.T) {
	dir := t.TempDir()
	r, _ := NewRecorder(dir, RecordOptions{})
	recordBody(t, r, nil, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"},{"role":"user","content":"again"}],"temperature":0.5,"user":"alice","metadata":{"run":1},"stream_options":{"include_usage":true},"prompt_cache_key":"k1"}`, `{"ok":1}`)
	rp := mustOpen(t, dir, ReplayOptions{Ignore: []string{"$.messages[1].content"}})
	rp2 := mustOpen(t, dir, ReplayOptions{Ignore: []string{"messages.*.content"}})
	for _, tc := range []struct {
		body string
		hit  bool
	}{
		{"{ \"temperature\" : 0.5,\n \"messages\":[{\"content\":\"hi\",\"role\":\"user\"},{\"role\":\"user\",\"content\":\"again\"}], \"model\":\"gpt-4o-mini\"}", true},
		{`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"},{"role":"user","content":"CHANGED"}],"temperature":0.5,"user":"bob","metadata":{"run":2},"prompt_cache_key":"k2"}`, true},
		{`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"},{"role":"user","content":"again"}],"temperature":0.5}`, false},
		{`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"},{"role":"user","content":"again"}],"temperature":0.50}`, false},
	} {
		if _, miss := rp.Match(chatEP, nil, []byte(tc.body)); (miss == nil) != tc.hit {
			t.Errorf("%s: hit %v, want %v (%v)", tc.body, miss == nil, tc.hit, miss)
		}
	}
	// The wildcard form ignores every message's content, the first one's too.
	if _, miss := rp2.Match(chatEP, nil, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"},{"role":"user","content":"y"}],"temperature":0.5}`)); miss != nil {
		t.Errorf("wildcard ignore: %v", miss)
	}
	if _, miss := rp.Match("/v1/embeddings", nil, []byte(`{"model":"gpt-4o-mini"}`)); miss == nil || miss.Nearest != "" {
		t.Errorf("other endpoint: %v", miss)
	}
	if _, err := OpenReplayer(dir, ReplayOptions{Ignore: []string{"a..b"}}); err == nil {
		t.Error("bad ignore path accepted")
	}
}

func TestIdenticalRequestsInOrder(t *testing.T) {
	dir := t.TempDir()
	r, _ := NewRecorder(dir, RecordOptions{})
	req := `{"model":"m","messages":[{"role":"user","content":"next?"}]}`
	recordBody(t, r, nil, req, `{"answer":"first"}`)
	recordBody(t, r, nil, req, `{"answer":"second"}`)
	files, _ := listFiles(dir)
	if len(files) != 2 || !strings.HasSuffix(files[1], "-2.json") && !strings.HasSuffix(files[0], "-2.json") {
		t.Fatalf("files %v", files)
	}
	rp := mustOpen(t, dir, ReplayOptions{})
	var got []string
	for range 4 {
		c, miss := rp.Match(chatEP, nil, []byte(req))
		if miss != nil {
			t.Fatal(miss)
		}
		got = append(got, string(c.Body))
	}
	if want := `[{"answer":"first"} {"answer":"second"} {"answer":"second"} {"answer":"second"}]`; fmt.Sprint(got) != want {
		t.Errorf("answers %v, want %v", got, want)
	}
	if s := rp.Stats(); s.Replayed != 4 || s.Misses != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestStrictMissMessage(t *testing.T) {
	dir := t.TempDir()
	r, _ := NewRecorder(dir, RecordOptions{})
	recordBody(t, r, nil, `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"a"},{"role":"user","content":"hello"}]}`, `{}`)
	recordBody(t, r, nil, `{"model":"gpt-4o","messages":[{"role":"user","content":"something else entirely"}],"tools":[]}`, `{}`)
	rp := mustOpen(t, dir, ReplayOptions{Strict: true})
	_, miss := rp.Match(chatEP, nil, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"a"},{"role":"user","content":"hi"}],"seed":`+strings.Repeat("9", 100)+`}`))
	if miss == nil {
		t.Fatal("matched a changed request")
	}
	if !strings.HasPrefix(miss.Nearest, "chat-completions-gpt-4o-mini-") {
		t.Errorf("nearest %q", miss.Nearest)
	}
	want := []string{`messages[2].content: "hi" ≠ "hello"`, "seed: " + strings.Repeat("9", 60) + "… ≠ (absent)"}
	if fmt.Sprint(miss.Paths) != fmt.Sprint(want) {
		t.Errorf("paths\n%q\nwant\n%q", miss.Paths, want)
	}
	if msg := miss.Error(); !strings.Contains(msg, miss.Nearest) || !strings.Contains(msg, want[0]) {
		t.Errorf("message %q", msg)
	}
	// At most five paths, the rest counted.
	_, miss = rp.Match(chatEP, nil, []byte(`{"model":"x","a":1,"b":2,"c":3,"d":4,"e":5,"f":6}`))
	if len(miss.Paths) != 5 || miss.More == 0 || !strings.Contains(miss.Error(), "more") {
		t.Errorf("long miss %+v", miss)
	}
	if s := rp.Stats(); s.Misses != 2 || len(s.MissMessages) != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestParallelReplay(t *testing.T) {
	dir := t.TempDir()
	r, _ := NewRecorder(dir, RecordOptions{})
	r.Clock = fakeClock(time.Millisecond)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tk := r.Begin(chatEP, "POST", nil, fmt.Appendf(nil, `{"model":"m","stream":true,"n":%d}`, i))
			tk.Header(200, http.Header{"Content-Type": {"text/event-stream"}})
			for j := range 3 {
				tk.Frame(fmt.Appendf(nil, "data: {\"n\":%d,\"j\":%d}\n\n", i, j))
			}
			if err := tk.End(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rp := mustOpen(t, dir, ReplayOptions{})
	for g := range 32 {
		wg.Go(func() {
			for k := range 50 {
				i := (g + k) % 8
				c, miss := rp.Match(chatEP, nil, fmt.Appendf(nil, `{"n":%d,"stream":true,"model":"m"}`, i))
				if miss != nil {
					t.Error(miss)
					return
				}
				var b bytes.Buffer
				_ = c.Play(context.Background(), func(f []byte) bool { b.Write(f); return true })
				if want := fmt.Sprintf("data: {\"n\":%d,\"j\":2}\n\n", i); !strings.HasSuffix(b.String(), want) {
					t.Errorf("goroutine %d got %q", g, b.String())
					return
				}
			}
		})
	}
	wg.Wait()
	if s := rp.Stats(); s.Replayed != 32*50 {
		t.Errorf("replayed %d", s.Replayed)
	}
}

func TestPlantedSecrets(t *testing.T) {
	dir := t.TempDir()
	secrets := []string{
		"sk-proj-" + strings.Repeat("A1", 20),
		"sk-ant-api03-" + strings.Repeat("b2", 20),
		"sk-rs-" + strings.Repeat("C3", 20),
		"AKIAIOSFODNN7EXAMPLE",
		"hunter2-userinfo-pass", // a base_url password: only the configured list catches it
		"plainproviderkey/with+odd=chars",
	}
	r, _ := NewRecorder(dir, RecordOptions{Secrets: []string{secrets[4], secrets[5]}})
	r.Clock = fakeClock(time.Millisecond)
	all := strings.Join(secrets, " ")
	req := fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":%q}]}`, "keys: "+all)
	tk := r.Begin(chatEP, "POST", http.Header{
		"Authorization": {"Bearer " + secrets[2]}, "X-Api-Key": {secrets[1]},
		"Anthropic-Beta": {"beta " + secrets[0]}, "X-Mock-Echo": {secrets[4]},
	}, []byte(req))
	tk.Header(200, http.Header{"Content-Type": {"text/event-stream"}, "Openai-Version": {"Bearer tokentokentoken"}})
	tk.Frame(fmt.Appendf(nil, "data: {\"content\":%q}\n\n", all))
	tk.Frame(fmt.Appendf(nil, "event: %s\ndata: %s\n\n", secrets[3], secrets[5]))
	if err := tk.End(); err != nil {
		t.Fatal(err)
	}
	tk = r.Begin(chatEP, "POST", nil, []byte(`{"model":"m","key":"`+secrets[4]+`"}`))
	tk.Header(401, http.Header{"Content-Type": {"application/json"}})
	tk.Body([]byte(`{"error":{"message":"Incorrect API key provided: ` + secrets[0] + `. Authorization: Bearer abcdefgh12345678"}}`))
	if err := tk.End(); err != nil {
		t.Fatal(err)
	}
	files, _ := listFiles(dir)
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	redacted := 0
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, s := range append(secrets, "tokentokentoken", "abcdefgh12345678", strings.Repeat("C3", 20)) {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("%s keeps secret %q", filepath.Base(f), s)
			}
		}
		redacted += bytes.Count(raw, []byte(Redacted))
		if _, err := ReadFile(f); err != nil {
			t.Errorf("scrubbed file is invalid: %v", err)
		}
	}
	if redacted < 10 {
		t.Errorf("only %d redactions", redacted)
	}
	// Prose that merely mentions sk- survives.
	s := newScrubber(nil)
	if got := s.scrub("use sk-learn or task-abcdefghijklmnopqrstuvwxyz"); got != "use sk-learn or task-abcdefghijklmnopqrstuvwxyz" {
		t.Errorf("scrubbed prose: %q", got)
	}
	// A replayed request carrying the same secret still matches its scrubbed cassette.
	rp := mustOpen(t, dir, ReplayOptions{Secrets: []string{secrets[4]}})
	if _, miss := rp.Match(chatEP, nil, []byte(`{"model":"m","key":"`+secrets[4]+`"}`)); miss != nil {
		t.Errorf("secret-bearing request: %v", miss)
	}
}

func TestCheckAndDiff(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	r1, _ := NewRecorder(d1, RecordOptions{})
	r2, _ := NewRecorder(d2, RecordOptions{})
	chat := func(r *Recorder, q, content, tools, finish string) {
		recordBody(t, r, nil, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"`+q+`"}]}`,
			`{"id":"x`+q+`","choices":[{"index":0,"message":{"role":"assistant","content":`+content+`,"tool_calls":`+tools+`},"finish_reason":"`+finish+`"}]}`)
	}
	weather := `[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]`
	chat(r1, "weather", "null", weather, "tool_calls")
	chat(r2, "weather", "null", strings.Replace(weather, "Paris", "Lyon", 1), "tool_calls")
	chat(r1, "hello", `"Hi there"`, "null", "stop")
	chat(r2, "hello", `"Hello!"`, "null", "length")
	chat(r1, "same", `"x"`, "null", "stop")
	chat(r2, "same", `"x"`, "null", "stop")
	chat(r1, "gone", `"x"`, "null", "stop")
	chat(r2, "new", `"x"`, "null", "stop")

	sums, err := Check(d1, ReadOptions{})
	if err != nil || len(sums) != 4 {
		t.Fatalf("check: %v %+v", err, sums)
	}
	found := false
	for _, s := range sums {
		if strings.Contains(s.Answer, `get_weather({"city":"Paris"})`) && s.Model == "gpt-4o-mini" {
			found = true
		}
	}
	if !found {
		t.Errorf("summaries %+v", sums)
	}
	changes, err := Diff(d1, d2, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, c := range changes {
		text = append(text, c.String())
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{
		`tool calls: get_weather({"city":"Paris"}) → get_weather({"city":"Lyon"})`,
		`text: "Hi there" → "Hello!"`, "stop reason: stop → length", "+ chat-completions", "- chat-completions",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("diff lacks %q:\n%s", want, all)
		}
	}
	if len(changes) != 4 {
		t.Errorf("%d changes, want 4 (the identical pair is not one):\n%s", len(changes), all)
	}
	// A broken file fails Check and OpenReplayer, naming it.
	if err := os.WriteFile(filepath.Join(d1, "broken.json"), []byte(`{"version":1,"seq":1,"request":{"endpoint":"x"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(d1, ReadOptions{}); err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Errorf("check of a broken file: %v", err)
	}
	if _, err := OpenReplayer(d1, ReplayOptions{}); err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Errorf("replayer over a broken file: %v", err)
	}
}

func TestFromLog(t *testing.T) {
	dir := t.TempDir()
	r, _ := NewRecorder(dir, RecordOptions{})
	req := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"weather?"}]}`
	for _, tc := range []struct {
		e      LogEntry
		answer string
	}{
		{LogEntry{ID: "req_1", Endpoint: chatEP, Model: "gpt-4o-mini", Status: 200, Stream: true, RequestBody: req,
			ResponseBody: "Let me check.\n[tool_call get_weather({\"city\":\"Paris\"})]"}, `"Let me check." get_weather({"city":"Paris"}) stop=tool_calls`},
		{LogEntry{ID: "req_2", Endpoint: chatEP, Status: 200, Stream: true, RequestBody: strings.Replace(req, "weather?", "hi", 1),
			ResponseBody: "You said hi"}, `"You said hi" stop=stop`},
		{LogEntry{ID: "req_3", Endpoint: "/v1/messages", Model: "claude", Status: 200, Stream: true, RequestBody: `{"model":"claude","stream":true}`,
			ResponseBody: "ok[tool_call f] {\"a\":1}"}, `"ok" f({"a":1}) stop=tool_use`},
		{LogEntry{ID: "req_4", Endpoint: "/v1/embeddings", Status: 200, RequestBody: `{"model":"e","input":"x"}`,
			ResponseBody: `{"data":[{"embedding":[0.1,0.2]}]}`}, `"1 embedding(s) [0.1,0.2]"`},
	} {
		rec, err := FromLog(tc.e)
		if err != nil {
			t.Fatal(err)
		}
		path, err := r.Add(rec)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := answerOf(back).String(); got != tc.answer {
			t.Errorf("%s: answer %s, want %s", tc.e.ID, got, tc.answer)
		}
	}
	for _, e := range []LogEntry{
		{ID: "a", Status: 200},
		{ID: "b", Status: 200, RequestBody: `{"model":"m","mess…[truncated 9 bytes]`},
		{ID: "c", Status: 200, RequestBody: `{}`, ResponseBody: `{"x":"…[truncated 3 bytes]`},
		{ID: "d", Status: 200, Endpoint: "/v1/responses", Stream: true, RequestBody: `{}`, ResponseBody: "text"},
	} {
		if _, err := FromLog(e); !errors.Is(err, ErrNotExportable) {
			t.Errorf("%s: %v", e.ID, err)
		}
	}
	if _, err := Check(dir, ReadOptions{}); err != nil {
		t.Error(err)
	}
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	tk := r.Begin(chatEP, "POST", nil, nil)
	tk.Header(200, nil)
	tk.Body([]byte("x"))
	tk.Frame([]byte("data: x\n\n"))
	if err := tk.End(); err != nil || r.Stats().Recorded != 0 {
		t.Error("nil recorder did something")
	}
}

func TestAnswerOfDialects(t *testing.T) {
	ev := func(name, data string) Event { return Event{Event: name, Data: data} }
	for _, tc := range []struct {
		name string
		resp Response
		want string
	}{
		{"anthropic body", Response{Status: 200, Body: []byte(`{"type":"message","content":[{"type":"text","text":"Hi"},{"type":"tool_use","name":"f","input":{"a":1}}],"stop_reason":"tool_use"}`)},
			`"Hi" f({"a":1}) stop=tool_use`},
		{"responses body", Response{Status: 200, Body: []byte(`{"object":"response","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Yo"}]},{"type":"function_call","name":"g","arguments":"{}"}]}`)},
			`"Yo" g({}) stop=completed`},
		{"responses stream", Response{Status: 200, Stream: true, Events: []Event{
			ev("response.output_text.delta", `{"type":"response.output_text.delta","delta":"Y"}`),
			ev("response.output_text.delta", `{"type":"response.output_text.delta","delta":"o"}`),
			ev("response.completed", `{"type":"response.completed","response":{"object":"response","status":"completed","output":[{"type":"function_call","name":"g","arguments":"{\"x\":2}"}]}}`),
		}}, `"Yo" g({"x":2}) stop=completed`},
		{"chat stream tools", Response{Status: 200, Stream: true, Events: []Event{
			ev("", `{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"h","arguments":"{\"q\""}}]}}]}`),
			ev("", `{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}`),
			ev("", `[DONE]`),
		}}, `h({"q":1}) stop=tool_calls`},
		{"error", Response{Status: 429, Body: []byte(`{"error":{"message":"slow down"}}`)}, `error=slow down`},
	} {
		if got := answerOf(&Record{Response: tc.resp}).String(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
