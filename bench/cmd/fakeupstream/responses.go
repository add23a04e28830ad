package main

// The OpenAI Responses API (POST /v1/responses). The event JSON follows a real
// recording of api.openai.com (testdata/responses-stream-text.sse, gpt-3.5-turbo,
// Oct 2025): the same events in the same order with the same fields, only the ids,
// model, text and usage differ. A non-stream answer is the response object that
// response.completed carries.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

const (
	respItemID  = "msg_bench0068ff5b17fd08819787a7a968fc33300f"
	respCreated = "1764115200"
	// idMark stands for the response id in a template until it is split.
	idMark = "\x00ID\x00"
)

// newRespID makes a fresh response id per request: "resp_" and 48 hex digits, like
// the real ones: a random prefix per process (ids stay apart across restarts), then
// a counter.
var (
	respIDSeed = func() string {
		b := make([]byte, 16)
		rand.Read(b)
		return hex.EncodeToString(b)
	}()
	respIDNext atomic.Uint64
)

func newRespID() []byte {
	b := make([]byte, 0, 5+48)
	b = append(b, "resp_"...)
	b = append(b, respIDSeed...)
	return fmt.Appendf(b, "%016x", respIDNext.Add(1))
}

// template is prebuilt bytes with a hole for the response id between each piece.
type template [][]byte

func newTemplate(s string) template {
	var t template
	for _, p := range strings.Split(s, idMark) {
		t = append(t, []byte(p))
	}
	return t
}

func (t template) size(id []byte) int {
	n := len(id) * (len(t) - 1)
	for _, p := range t {
		n += len(p)
	}
	return n
}

func (t template) write(w http.ResponseWriter, id []byte) error {
	for i, p := range t {
		if i > 0 {
			if _, err := w.Write(id); err != nil {
				return err
			}
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// respObject is a response object as the API sends it; output and usage are JSON.
func respObject(model, status, tier, output, usage string) string {
	return `{"id":"` + idMark + `","object":"response","created_at":` + respCreated + `,"status":"` + status + `","background":false,` +
		`"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,` +
		`"model":"` + model + `","output":` + output + `,"parallel_tool_calls":true,"previous_response_id":null,` +
		`"prompt_cache_key":null,"reasoning":{"effort":null,"summary":null},"safety_identifier":null,"service_tier":"` + tier + `",` +
		`"store":true,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],` +
		`"top_logprobs":0,"top_p":1.0,"truncation":"disabled","usage":` + usage + `,"user":null,"metadata":{}}`
}

func respUsage(in, out int) string {
	return fmt.Sprintf(`{"input_tokens":%d,"input_tokens_details":{"cached_tokens":0},"output_tokens":%d,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":%d}`,
		in, out, in+out)
}

func respPart(text string) string {
	return `{"type":"output_text","annotations":[],"logprobs":[],"text":"` + text + `"}`
}

func respItem(status, content string) string {
	return `{"id":"` + respItemID + `","type":"message","status":"` + status + `","content":` + content + `,"role":"assistant"}`
}

func respEvent(name string, seq int, rest string) string {
	return "event: " + name + "\ndata: " + `{"type":"` + name + `","sequence_number":` + strconv.Itoa(seq) + rest + "}\n\n"
}

// respStream is one model's stream, for one chunk count: head events, the delta
// event around its sequence number, and the tail events.
type respStream struct {
	head      []template // response.created, response.in_progress, output_item.added, content_part.added
	deltaPre  []byte
	deltaPost []byte
	tail      []template // output_text.done, content_part.done, output_item.done, response.completed
}

type respKey struct {
	model  string
	chunks int
}

var (
	respFullCache   sync.Map // model -> template
	respStreamCache sync.Map // respKey -> *respStream
)

func respFull(model string) template {
	if t, ok := respFullCache.Load(model); ok {
		return t.(template)
	}
	t := newTemplate(respObject(model, "completed", "default",
		"["+respItem("completed", "["+respPart(answerText)+"]")+"]", respUsage(64, 42)))
	actual, _ := respFullCache.LoadOrStore(model, t)
	return actual.(template)
}

const respDelta = " token"

func respStreamFor(model string, chunks int) *respStream {
	k := respKey{model, chunks}
	if s, ok := respStreamCache.Load(k); ok {
		return s.(*respStream)
	}
	item := `,"item_id":"` + respItemID + `","output_index":0,"content_index":0`
	text := strings.Repeat(respDelta, chunks)
	s := &respStream{
		head: []template{
			newTemplate(respEvent("response.created", 0, `,"response":`+respObject(model, "in_progress", "auto", "[]", "null"))),
			newTemplate(respEvent("response.in_progress", 1, `,"response":`+respObject(model, "in_progress", "auto", "[]", "null"))),
			newTemplate(respEvent("response.output_item.added", 2, `,"output_index":0,"item":`+respItem("in_progress", "[]"))),
			newTemplate(respEvent("response.content_part.added", 3, item+`,"part":`+respPart(""))),
		},
		deltaPre:  []byte("event: response.output_text.delta\ndata: " + `{"type":"response.output_text.delta","sequence_number":`),
		deltaPost: []byte(item + `,"delta":"` + respDelta + `","logprobs":[],"obfuscation":"mvkAadOx3f"}` + "\n\n"),
	}
	seq := 4 + chunks
	s.tail = []template{
		newTemplate(respEvent("response.output_text.done", seq, item+`,"text":"`+text+`","logprobs":[]`)),
		newTemplate(respEvent("response.content_part.done", seq+1, item+`,"part":`+respPart(text))),
		newTemplate(respEvent("response.output_item.done", seq+2, `,"output_index":0,"item":`+respItem("completed", "["+respPart(text)+"]"))),
		newTemplate(respEvent("response.completed", seq+3, `,"response":`+
			respObject(model, "completed", "default", "["+respItem("completed", "["+respPart(text)+"]")+"]", respUsage(64, chunks)))),
	}
	actual, _ := respStreamCache.LoadOrStore(k, s)
	return actual.(*respStream)
}

func responsesHandler(w http.ResponseWriter, r *http.Request) {
	model, stream, _, m, ok := takeRequest(r, "fake")
	if !ok {
		return
	}
	id := newRespID()
	h := w.Header()
	h["X-Request-Id"] = []string{"req_fake"}
	if !stream {
		t := respFull(model)
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(t.size(id))}
		t.write(w, id)
		return
	}
	s := respStreamFor(model, m.chunks)
	h["Content-Type"] = []string{"text/event-stream; charset=utf-8"}
	h["Cache-Control"] = []string{"no-cache"}
	f := http.NewResponseController(w)
	w.WriteHeader(200)
	for _, t := range s.head {
		if t.write(w, id) != nil || f.Flush() != nil {
			return
		}
	}
	buf := make([]byte, 0, len(s.deltaPre)+len(s.deltaPost)+8)
	seq := 4
	if !paced(r.Context(), m, func() bool {
		buf = append(strconv.AppendInt(append(buf[:0], s.deltaPre...), int64(seq), 10), s.deltaPost...)
		seq++
		_, err := w.Write(buf)
		return err == nil && f.Flush() == nil
	}) {
		return
	}
	for _, t := range s.tail {
		if t.write(w, id) != nil || f.Flush() != nil {
			return
		}
	}
}
