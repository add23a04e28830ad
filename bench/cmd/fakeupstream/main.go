// Command fakeupstream is a fast fake LLM upstream for benchmarks. It speaks OpenAI
// Chat Completions (POST /v1/chat/completions), OpenAI Responses (POST /v1/responses)
// and Anthropic Messages (POST /v1/messages), plain and streamed.
//
// The answer's shape is chosen per request, first match wins:
//
//   - headers  x-fake-latency-ms, x-fake-chunks, x-fake-pace-ms
//     (x-mock-latency-ms, x-mock-chunks, x-mock-chunk-delay-ms are accepted too)
//   - query    ?latency_ms=&chunks=&pace_ms=
//   - the model name: dash-separated tokens lat<N> (ms before the first byte),
//     c<N> (content chunks in a stream), p<N> (ms between chunks), e.g.
//     "fake-c200-p5" or "claude-fake-lat20". The model survives a gateway that
//     drops unknown headers and query strings, so this is what the bench uses.
//   - the -latency, -chunks and -pace flags.
//
// Answers are prebuilt byte slices cached per model; a stream flushes every chunk.
// Responses API answers carry a fresh response id per request (a gateway may store
// them by id), spliced between prebuilt pieces.
package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type mode struct {
	latency time.Duration
	chunks  int
	pace    time.Duration
}

var defaults mode

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	flag.DurationVar(&defaults.latency, "latency", 0, "default delay before the first byte")
	flag.IntVar(&defaults.chunks, "chunks", 64, "default content chunks per stream")
	flag.DurationVar(&defaults.pace, "pace", 20*time.Millisecond, "default delay between stream chunks")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", openaiHandler)
	mux.HandleFunc("POST /chat/completions", openaiHandler)
	mux.HandleFunc("POST /v1/messages", anthropicHandler)
	mux.HandleFunc("POST /v1/responses", responsesHandler)
	mux.HandleFunc("POST /responses", responsesHandler)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"object":"list","data":[{"id":"fake-instant","object":"model","created":1764115200,"owned_by":"fake"}]}`))
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 16}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		<-ch
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	fmt.Fprintf(os.Stderr, "fakeupstream listening on %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// ---- request parsing (byte scanning: no JSON decode on the hot path) ----

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

func readBody(r *http.Request) (*[]byte, error) {
	bp := bodyPool.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			break
		}
	}
	*bp = b
	return bp, nil
}

// jsonString returns the string value of the first "key": "value" in b.
func jsonString(b []byte, key string) string {
	i := bytes.Index(b, []byte(`"`+key+`"`))
	if i < 0 {
		return ""
	}
	b = b[i+len(key)+2:]
	b = bytes.TrimLeft(b, " \t\r\n:")
	if len(b) == 0 || b[0] != '"' {
		return ""
	}
	b = b[1:]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return ""
	}
	return string(b[:j])
}

// jsonTrue reports whether "key": true appears in b.
func jsonTrue(b []byte, key string) bool {
	k := []byte(`"` + key + `"`)
	for {
		i := bytes.Index(b, k)
		if i < 0 {
			return false
		}
		b = b[i+len(k):]
		rest := bytes.TrimLeft(b, " \t\r\n:")
		if bytes.HasPrefix(rest, []byte("true")) {
			return true
		}
	}
}

func hdrOrQuery(r *http.Request, q map[string][]string, names []string, qname string) string {
	for _, n := range names {
		if v := r.Header.Get(n); v != "" {
			return v
		}
	}
	if v := q[qname]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// takeRequest reads what every handler needs from a request: the model (fallback
// when absent), stream and include_usage, and the shape; it sleeps the requested
// latency first (false: the client went away meanwhile).
func takeRequest(r *http.Request, fallback string) (model string, stream, usage bool, m mode, ok bool) {
	bp, _ := readBody(r)
	body := *bp
	model = cmp.Or(jsonString(body, "model"), fallback)
	stream = jsonTrue(body, "stream")
	usage = stream && jsonTrue(body, "include_usage")
	bodyPool.Put(bp)
	m = modeFor(r, model)
	if m.latency > 0 && !sleepCtx(r.Context(), m.latency) {
		return model, stream, usage, m, false
	}
	return model, stream, usage, m, true
}

func modeFor(r *http.Request, model string) mode {
	m := defaults
	// the model name
	for _, tok := range strings.Split(model, "-") {
		switch {
		case strings.HasPrefix(tok, "lat"):
			if n, err := strconv.Atoi(tok[3:]); err == nil {
				m.latency = time.Duration(n) * time.Millisecond
			}
		case len(tok) > 1 && tok[0] == 'c':
			if n, err := strconv.Atoi(tok[1:]); err == nil {
				m.chunks = n
			}
		case len(tok) > 1 && tok[0] == 'p':
			if n, err := strconv.Atoi(tok[1:]); err == nil {
				m.pace = time.Duration(n) * time.Millisecond
			}
		}
	}
	// query and headers override
	var q map[string][]string
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	if v := hdrOrQuery(r, q, []string{"x-fake-latency-ms", "x-mock-latency-ms"}, "latency_ms"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			m.latency = time.Duration(n) * time.Millisecond
		}
	}
	if v := hdrOrQuery(r, q, []string{"x-fake-chunks", "x-mock-chunks"}, "chunks"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			m.chunks = n
		}
	}
	if v := hdrOrQuery(r, q, []string{"x-fake-pace-ms", "x-mock-chunk-delay-ms"}, "pace_ms"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			m.pace = time.Duration(n) * time.Millisecond
		}
	}
	return m
}

// ---- prebuilt answers, cached per model ----

const answerText = "Runestone bench answer: the quick brown fox jumps over the lazy dog while the gateway relays every byte without buffering, counting tokens, logging the request and keeping the stream flowing at a steady pace."

type prebuilt struct {
	oaFull    []byte // non-stream chat.completion
	oaRole    []byte // first stream chunk: role only
	oaDelta   []byte // one content chunk
	oaFinish  []byte // finish_reason chunk
	oaUsage   []byte // usage chunk (choices: [])
	oaDone    []byte
	anFull    []byte
	anStart   []byte // message_start + content_block_start + ping
	anDelta   []byte
	anStopFmt string // content_block_stop + message_delta(%d) + message_stop
}

var cache sync.Map // model -> *prebuilt

func answers(model string) *prebuilt {
	if p, ok := cache.Load(model); ok {
		return p.(*prebuilt)
	}
	const id = "chatcmpl-bench7f3a9c2e1d"
	const created = "1764115200"
	head := `{"id":"` + id + `","object":"chat.completion.chunk","created":` + created + `,"model":"` + model + `","system_fingerprint":"fp_bench01","choices":[`
	p := &prebuilt{
		oaFull: []byte(`{"id":"` + id + `","object":"chat.completion","created":` + created + `,"model":"` + model +
			`","choices":[{"index":0,"message":{"role":"assistant","content":"` + answerText +
			`","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
			`"usage":{"prompt_tokens":64,"completion_tokens":42,"total_tokens":106,` +
			`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},` +
			`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},` +
			`"service_tier":"default","system_fingerprint":"fp_bench01"}`),
		oaRole:   []byte("data: " + head + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}` + "\n\n"),
		oaDelta:  []byte("data: " + head + `{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}` + "\n\n"),
		oaFinish: []byte("data: " + head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n"),
		oaDone:   []byte("data: [DONE]\n\n"),
		anFull: []byte(`{"id":"msg_bench01XyZ","type":"message","role":"assistant","model":"` + model +
			`","content":[{"type":"text","text":"` + answerText + `"}],"stop_reason":"end_turn","stop_sequence":null,` +
			`"usage":{"input_tokens":64,"output_tokens":42,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`),
		anStart: []byte("event: message_start\ndata: " + `{"type":"message_start","message":{"id":"msg_bench01XyZ","type":"message","role":"assistant","model":"` + model +
			`","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":64,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}` + "\n\n" +
			"event: content_block_start\ndata: " + `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
			"event: ping\ndata: " + `{"type": "ping"}` + "\n\n"),
		anDelta: []byte("event: content_block_delta\ndata: " + `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token"}}` + "\n\n"),
		anStopFmt: "event: content_block_stop\ndata: " + `{"type":"content_block_stop","index":0}` + "\n\n" +
			"event: message_delta\ndata: " + `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}` + "\n\n" +
			"event: message_stop\ndata: " + `{"type":"message_stop"}` + "\n\n",
	}
	p.oaUsage = []byte("data: " + head + `],"usage":{"prompt_tokens":64,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}` + "\n\n")
	actual, _ := cache.LoadOrStore(model, p)
	return actual.(*prebuilt)
}

// ---- handlers ----

func openaiHandler(w http.ResponseWriter, r *http.Request) {
	model, stream, usage, m, ok := takeRequest(r, "fake")
	if !ok {
		return
	}
	p := answers(model)
	h := w.Header()
	h["X-Request-Id"] = []string{"req_fake"}
	if !stream {
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(p.oaFull))}
		w.Write(p.oaFull)
		return
	}
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	f := http.NewResponseController(w)
	w.WriteHeader(200)
	w.Write(p.oaRole)
	if f.Flush() != nil {
		return
	}
	if !paced(r.Context(), m, func() bool { _, err := w.Write(p.oaDelta); return err == nil && f.Flush() == nil }) {
		return
	}
	w.Write(p.oaFinish)
	if usage {
		fmt.Fprintf(w, string(p.oaUsage), m.chunks, 64+m.chunks)
	}
	w.Write(p.oaDone)
	f.Flush()
}

func anthropicHandler(w http.ResponseWriter, r *http.Request) {
	model, stream, _, m, ok := takeRequest(r, "claude-fake")
	if !ok {
		return
	}
	p := answers(model)
	h := w.Header()
	h["Request-Id"] = []string{"req_fake"}
	if !stream {
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(p.anFull))}
		w.Write(p.anFull)
		return
	}
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	f := http.NewResponseController(w)
	w.WriteHeader(200)
	w.Write(p.anStart)
	if f.Flush() != nil {
		return
	}
	if !paced(r.Context(), m, func() bool { _, err := w.Write(p.anDelta); return err == nil && f.Flush() == nil }) {
		return
	}
	fmt.Fprintf(w, p.anStopFmt, m.chunks)
	f.Flush()
}

// paced calls send m.chunks times: the first at once, then every m.pace on an
// absolute schedule (a late chunk does not push back the ones after it).
func paced(ctx context.Context, m mode, send func() bool) bool {
	start := time.Now()
	var t *time.Timer
	for i := 0; i < m.chunks; i++ {
		if i > 0 && m.pace > 0 {
			d := time.Until(start.Add(time.Duration(i) * m.pace))
			if d > 0 {
				if t == nil {
					t = time.NewTimer(d)
				} else {
					t.Reset(d)
				}
				select {
				case <-ctx.Done():
					t.Stop()
					return false
				case <-t.C:
				}
			}
		}
		if !send() {
			return false
		}
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
