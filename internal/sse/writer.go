package sse

import "net/http"

// Headers sets the response headers of an OpenAI-style event stream.
func Headers(h http.Header) {
	// One backing array for the four values (h.Set allocates one per header); each
	// slice is capped at its length, so an Add elsewhere copies rather than overwrites.
	v := [...]string{"text/event-stream; charset=utf-8", "no-cache", "keep-alive", "no"}
	vals := v[:]
	h["Content-Type"] = vals[0:1:1]
	h["Cache-Control"] = vals[1:2:2]
	h["Connection"] = vals[2:3:3]
	h["X-Accel-Buffering"] = vals[3:4:4]
	h.Del("Content-Length")
}

// AppendData appends one "data: <payload>\n\n" event to dst. OpenAI streams never
// carry "event:" lines: the Node SDK drops named events.
func AppendData(dst, payload []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, payload...)
	return append(dst, '\n', '\n')
}

// Done is the stream terminator OpenAI clients wait for.
var Done = []byte("data: [DONE]\n\n")

// KeepAlive is a comment line every SSE parser ignores; it keeps idle proxies from
// dropping a stream whose first token is slow.
var KeepAlive = []byte(": keep-alive\n\n")
