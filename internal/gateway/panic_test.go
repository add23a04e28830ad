package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/resilience"
	"github.com/jmanhype/runestone/internal/router"
)

// panicky streams one event, then panics inside Next.
type panicky struct{}

func (panicky) Name() string     { return "panicky" }
func (panicky) Kind() string     { return "openai" }
func (panicky) Models() []string { return []string{"m"} }
func (panicky) Do(context.Context, *provider.Call) (*provider.Response, error) {
	return &provider.Response{Stream: &panicStream{}}, nil
}

type panicStream struct{ n int }

func (s *panicStream) Next() ([]byte, error) {
	s.n++
	if s.n == 1 {
		return []byte(`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}`), nil
	}
	panic("boom")
}
func (s *panicStream) Usage() provider.Usage { return provider.Usage{} }
func (s *panicStream) Close() error          { return nil }

// TestPanicMidStreamEndsWithAnErrorEvent: before, the recovery wrote a JSON error body
// after the SSE events, which no SSE client can parse.
func TestPanicMidStreamEndsWithAnErrorEvent(t *testing.T) {
	ps := []provider.Provider{panicky{}}
	g := New(Options{Router: router.New(ps, nil), Executor: resilience.New(resilience.Options{}, ps)})
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	r.Host = "127.0.0.1"
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, r)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `data: {"id":"c"`) {
		t.Fatalf("%d %s", w.Code, body)
	}
	last := body[strings.LastIndex(strings.TrimRight(body, "\n"), "\n")+1:]
	if !strings.HasPrefix(last, `data: {"error":`) || !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("stream does not end with an error event:\n%s", body)
	}
}

// TestPanicMidStreamInTheClientsDialect: a Messages stream ends with Anthropic's error
// event, not a chat data line its SDK cannot read.
func TestPanicMidStreamInTheClientsDialect(t *testing.T) {
	ps := []provider.Provider{panicky{}}
	g := New(Options{Router: router.New(ps, nil), Executor: resilience.New(resilience.Options{}, ps)})
	r := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(`{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"x"}]}`))
	r.Host = "127.0.0.1"
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, r)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "event: message_start") ||
		!strings.HasSuffix(body, "\n\n") || !strings.Contains(body, "event: error\ndata: {\"type\":\"error\"") {
		t.Fatalf("%d %s", w.Code, body)
	}
}
