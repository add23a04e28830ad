package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/bodyio"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

var proxyRoutes = map[string]provider.Endpoint{
	"/v1/chat/completions": provider.Chat,
	"/v1/completions":      provider.Completions,
	"/v1/embeddings":       provider.Embeddings,
	"/v1/messages":         provider.Messages,
	"/v1/responses":        provider.Responses,
}

// readBody reads the whole body, capped at max bytes (413 past it) and at timeout
// (408 past it: a body that stalls or never ends does not hold the request forever).
func readBody(w http.ResponseWriter, r *http.Request, max int64, timeout time.Duration) ([]byte, *apierr.Error) {
	if e := checkContentType(r); e != nil {
		return nil, e
	}
	if r.ContentLength > max {
		return nil, tooLarge(max)
	}
	// The deadline is the connection's: it ends a blocked read. It is lifted once the
	// body is in (a stream may then run for minutes), and kept after a failed read so
	// net/http's discard of an unread rest cannot block either; that connection closes.
	deadline := setReadDeadline(w, time.Now().Add(timeout)) == nil
	body, err := bodyio.ReadAll(http.MaxBytesReader(nil, r.Body, max), r.ContentLength)
	if err == nil && deadline {
		_ = setReadDeadline(w, time.Time{})
	}
	if err != nil {
		w.Header().Set("Connection", "close")
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(max)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, &apierr.Error{Status: http.StatusRequestTimeout, Type: apierr.TypeInvalidRequest, Code: "request_timeout",
				Message: "The request body did not arrive within " + timeout.String() + " (server.read_body_timeout)."}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || r.Context().Err() != nil {
			return nil, apierr.BadRequest("", "The request body was cut short.")
		}
		return nil, apierr.BadRequest("", "Could not read the request body: %v", err)
	}
	// Checked here, before any recursive parser, so every endpoint that reads its
	// body through readBody (every dialect) gets the depth and duplicate-key limits.
	if e := checkBody(body); e != nil {
		return nil, e
	}
	return body, nil
}

// setReadDeadline is http.ResponseController's SetReadDeadline without the
// controller (which escapes to the heap on every request).
func setReadDeadline(w http.ResponseWriter, t time.Time) error {
	for {
		switch v := w.(type) {
		case interface{ SetReadDeadline(time.Time) error }:
			return v.SetReadDeadline(t)
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return http.ErrNotSupported
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func tooLarge(max int64) *apierr.Error {
	return &apierr.Error{Status: http.StatusRequestEntityTooLarge, Type: apierr.TypeInvalidRequest,
		Code: apierr.CodeRequestTooLarge, Message: "The request body is larger than the gateway's limit of " +
			itoa(max) + " bytes (server.max_body_bytes)."}
}

// reqInfo is what the gateway needs from a body; everything else passes through.
type reqInfo struct {
	model        string
	stream       bool
	includeUsage bool
}

// inspectChecked validates a body that passed checkBody (UTF-8, syntax, depth,
// duplicate keys) just enough to route it, without unmarshalling it: gjson runs on a
// string view of it, so nothing is copied but the model name, which outlives the
// body in the log row and metrics. (inspect, in the tests, is checkBody and this.)
func inspectChecked(body []byte, ep provider.Endpoint) (reqInfo, *apierr.Error) {
	var info reqInfo
	js := unsafe.String(unsafe.SliceData(body), len(body))
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return info, apierr.BadRequest("", "The request body must be a JSON object.")
	}
	m := gjson.Get(js, "model")
	if m.Type != gjson.String || m.Str == "" {
		return info, apierr.BadRequest("model", "you must provide a model parameter (a non-empty string).")
	}
	if e := checkModelName(m.Str); e != nil {
		return info, e
	}
	info.model = strings.Clone(m.Str)
	if s := gjson.Get(js, "stream"); s.Exists() && s.Type != gjson.Null {
		if s.Type != gjson.True && s.Type != gjson.False {
			return info, apierr.BadRequest("stream", "'stream' must be a boolean.")
		}
		info.stream = s.Bool()
	}
	if info.stream && ep != provider.Embeddings {
		info.includeUsage = gjson.Get(js, "stream_options.include_usage").Bool()
	} else {
		info.stream = false
	}
	switch ep {
	case provider.Chat:
		msgs := gjson.Get(js, "messages")
		if !msgs.IsArray() {
			return info, apierr.BadRequest("messages", "'messages' must be an array of message objects.")
		}
		if !msgs.Get("0").Exists() {
			return info, apierr.BadRequest("messages", "'messages' must contain at least one message.")
		}
	case provider.Completions:
		if p := gjson.Get(js, "prompt"); !p.Exists() || p.Type == gjson.Null {
			return info, apierr.BadRequest("prompt", "you must provide a prompt parameter.")
		}
	case provider.Embeddings:
		if in := gjson.Get(js, "input"); !in.Exists() || in.Type == gjson.Null {
			return info, apierr.BadRequest("input", "you must provide an input parameter.")
		}
	}
	return info, nil
}
