package gateway

import (
	"errors"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/sse"
)

// reqIDFrom returns the request id the middleware assigned. It lives in the answer's
// X-Request-Id header, set before any handler runs: carrying it in the request's
// context instead cost a context and a copy of the *http.Request per request. Read
// it before upstream headers are copied into the answer (handlers do, first thing).
func reqIDFrom(w http.ResponseWriter) string {
	if v := w.Header()["X-Request-Id"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// middleware assigns the request id and turns panics into a 500 envelope.
func (g *Gateway) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := g.ids.requestID(r)
		w.Header().Set("X-Request-Id", id)
		if r.ContentLength != 0 {
			// A body (known length or chunked) must arrive within BodyTimeout, on every
			// route: a handler that answers without reading it (401, 404, 405) would
			// otherwise leave net/http waiting for its unread rest with no deadline.
			// readBody lifts the deadline once a proxied body is in.
			_ = setReadDeadline(w, time.Now().Add(g.o.BodyTimeout))
		}
		if g.guard(w, r) {
			return
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				g.o.Logger.Error("panic serving request", "request_id", id, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
				e := apierr.Internal(errors.New("panic"))
				if strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
					// A stream is under way: a JSON body appended to it would be
					// garbage to an SSE parser. End it with the dialect's error event.
					frame := sse.AppendData(nil, e.AppendJSON(nil))
					for ep, c := range codecs {
						if r.URL.Path == ep.Path() {
							frame = c.errorFrame(nil, e)
						}
					}
					_, _ = w.Write(frame)
					_ = http.NewResponseController(w).Flush()
					return
				}
				writeError(w, r, e)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		g.refuse(w, r, &apierr.Error{Status: http.StatusMethodNotAllowed, Type: apierr.TypeInvalidRequest,
			Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path + "; use " + allow + "."})
	}
}

func (g *Gateway) notFound(w http.ResponseWriter, r *http.Request) {
	g.refuse(w, r, &apierr.Error{Status: http.StatusNotFound, Type: apierr.TypeInvalidRequest, Code: "unknown_url",
		Message: "Unknown request URL: " + r.Method + " " + r.URL.Path + ". See the README for the endpoints Runestone serves."})
}

// closeIfBody marks the answer to a request whose body will not be read as the
// connection's last, so net/http does not wait for the rest of that body first.
func closeIfBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}
