package sse

import "net/http"

// Headers sets the response headers of an OpenAI-style event stream.
func Headers(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
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
