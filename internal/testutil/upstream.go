package testutil

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Upstream is a fake provider that answers every request with a scripted response
// and remembers what it received.
type Upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []Received
	// Respond decides each answer; the default replays Status/Header/Body.
	Respond func(w http.ResponseWriter, r *http.Request, body []byte)
}

// Received is one request the fake saw.
type Received struct {
	Path   string
	Query  string // raw query string
	Header http.Header
	Body   []byte
	// Done is closed when the request's context ends (client gone or answer sent).
	Done <-chan struct{}
}

// NewUpstream starts a fake answering with respond.
func NewUpstream(t testing.TB, respond func(w http.ResponseWriter, r *http.Request, body []byte)) *Upstream {
	u := &Upstream{Respond: respond}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.requests = append(u.requests, Received{Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, Done: r.Context().Done()})
		u.mu.Unlock()
		u.Respond(w, r, body)
	}))
	t.Cleanup(u.Close)
	return u
}

// Replay answers with a recorded exchange; SSE bodies are written event by event
// with a flush (and an optional gap) between events, as a real upstream streams.
func Replay(ex Exchange, gap time.Duration) func(w http.ResponseWriter, r *http.Request, body []byte) {
	return func(w http.ResponseWriter, r *http.Request, _ []byte) {
		for k, v := range ex.Header {
			if k == "Content-Length" {
				continue
			}
			w.Header()[k] = v
		}
		w.WriteHeader(ex.Status)
		if !bytes.Contains([]byte(ex.Header.Get("Content-Type")), []byte("event-stream")) {
			_, _ = w.Write(ex.Body)
			return
		}
		WriteSSE(w, r, ex.Body, gap)
	}
}

// WriteSSE writes an SSE body split at blank lines, flushing each event.
func WriteSSE(w http.ResponseWriter, r *http.Request, body []byte, gap time.Duration) {
	rc := http.NewResponseController(w)
	for _, ev := range bytes.SplitAfter(body, []byte("\n\n")) {
		if len(ev) == 0 {
			continue
		}
		if _, err := w.Write(ev); err != nil {
			return
		}
		_ = rc.Flush()
		if gap > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(gap):
			}
		}
	}
}

// Requests returns what the fake received so far.
func (u *Upstream) Requests() []Received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Received(nil), u.requests...)
}

// Last returns the most recent request.
func (u *Upstream) Last(t testing.TB) Received {
	t.Helper()
	rs := u.Requests()
	if len(rs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return rs[len(rs)-1]
}
