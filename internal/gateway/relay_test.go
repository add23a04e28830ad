package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/resilience"
	"github.com/jmanhype/runestone/internal/router"
)

// The stream writer's timing (keep-alives, the idle cut-off) runs on synctest's fake
// clock: the tests wait out minutes of upstream silence instantly and can assert when
// things happen to the nanosecond, on any machine however loaded.

// step is one scripted upstream event: after wait, a chunk, an error or a panic.
// block waits until the gateway closes the stream (the idle cut-off does).
type step struct {
	wait  time.Duration
	chunk string
	err   error
	panic bool
	block bool
}

// scriptStream is an upstream stream that plays steps, then ends.
type scriptStream struct {
	steps     []step
	closeOnce sync.Once
	closed    chan struct{}
}

func (s *scriptStream) Next() ([]byte, error) {
	if len(s.steps) == 0 {
		return nil, io.EOF
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	if st.block {
		<-s.closed
		return nil, errors.New("stream closed")
	}
	select {
	case <-time.After(st.wait):
	case <-s.closed:
		return nil, errors.New("stream closed")
	}
	switch {
	case st.panic:
		panic("upstream decoder bug")
	case st.err != nil:
		return nil, st.err
	}
	return []byte(st.chunk), nil
}

func (s *scriptStream) Usage() provider.Usage { return provider.Usage{} }
func (s *scriptStream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// scripted is a provider whose one stream is s.
type scripted struct{ s *scriptStream }

func (p *scripted) Name() string     { return "up" }
func (p *scripted) Kind() string     { return "openai" }
func (p *scripted) Models() []string { return []string{"m"} }
func (p *scripted) Do(context.Context, *provider.Call) (*provider.Response, error) {
	return &provider.Response{Stream: p.s}, nil
}

func chunk(text string) string {
	return `{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"` + text + `"}}]}`
}

// streamThrough sends one streaming chat request through a gateway built from the
// nil-able Options (no auth, store, limiter or metrics) to an upstream playing steps,
// and returns the recorded answer, how long it took on the fake clock, and what the
// handler panicked with, if anything.
func streamThrough(t *testing.T, o Options, steps ...step) (rec *httptest.ResponseRecorder, took time.Duration, panicked any) {
	t.Helper()
	up := &scripted{s: &scriptStream{steps: steps, closed: make(chan struct{})}}
	ps := []provider.Provider{up}
	o.Router = router.New(ps, nil)
	o.Executor = resilience.New(resilience.Options{}, ps)
	g := New(o)
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Host = "127.0.0.1" // the gateway answers loopback names only
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	func() {
		defer func() { panicked = recover() }()
		g.Handler().ServeHTTP(rec, req)
	}()
	return rec, time.Since(start), panicked
}

func TestStreamKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 20s before the first token, then 40s of silence mid-stream: a comment every 15s
		// of silence, counted from the last event.
		rec, took, p := streamThrough(t, Options{KeepAlive: 15 * time.Second},
			step{wait: 20 * time.Second, chunk: chunk("a")},
			step{wait: 40 * time.Second, chunk: chunk("b")})
		if p != nil {
			t.Fatalf("panic: %v", p)
		}
		if took != 60*time.Second {
			t.Errorf("the stream took %v on the fake clock, want 60s", took)
		}
		body := rec.Body.String()
		first, rest, _ := strings.Cut(body, `"a"`)
		if n := strings.Count(first, ": keep-alive"); n != 1 {
			t.Errorf("%d keep-alives before the first token (20s), want 1:\n%s", n, body)
		}
		if n := strings.Count(rest, ": keep-alive"); n != 2 {
			t.Errorf("%d keep-alives in 40s of silence, want 2:\n%s", n, body)
		}
		if rec.Code != http.StatusOK || !strings.HasSuffix(body, "data: [DONE]\n\n") {
			t.Errorf("status %d, body %q: want 200 ending in [DONE]", rec.Code, body)
		}
	})
}

func TestStreamIdleCutOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec, took, p := streamThrough(t, Options{KeepAlive: 15 * time.Second, StreamIdle: 2 * time.Minute},
			step{chunk: chunk("a")}, step{block: true})
		if p != nil {
			t.Fatalf("panic: %v", p)
		}
		if took != 2*time.Minute {
			t.Errorf("cut after %v of silence, want exactly the 2m idle limit", took)
		}
		body := rec.Body.String()
		if !strings.Contains(body, `"code":"stream_idle_timeout"`) || strings.Contains(body, "[DONE]") {
			t.Errorf("want an idle-timeout error event and no [DONE], got:\n%s", body)
		}
		if n := strings.Count(body, ": keep-alive"); n != 7 {
			t.Errorf("%d keep-alives in 2m of silence, want 7 (every 15s until the cut)", n)
		}
	})
}

func TestStreamFailureAfterHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec, _, p := streamThrough(t, Options{},
			step{chunk: chunk("a")},
			step{wait: time.Second, err: &apierr.Error{Status: 502, Type: apierr.TypeServer, Code: "upstream_error", Message: "upstream reset"}})
		if p != nil {
			t.Fatalf("panic: %v", p)
		}
		body := rec.Body.String()
		// The 200 is out: the failure can only be an error event, in OpenAI's envelope.
		if rec.Code != http.StatusOK || !strings.Contains(body, `"a"`) {
			t.Fatalf("status %d body %q", rec.Code, body)
		}
		if !strings.Contains(body, "data: {\"error\":") || !strings.Contains(body, "upstream reset") ||
			strings.Contains(body, "[DONE]") || strings.Contains(body, "event:") {
			t.Errorf("want one data: {\"error\":...} event and no [DONE], got:\n%s", body)
		}
	})
}

// A panic after the headers is TestPanicMidStreamEndsWithAnErrorEvent's (panic_test.go).

func TestPanicBeforeHeadersIs500(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec, _, p := streamThrough(t, Options{}, step{panic: true})
		if p != nil {
			t.Fatalf("panic escaped: %v", p)
		}
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("status %d body %q, want a 500 error envelope", rec.Code, rec.Body.String())
		}
	})
}
