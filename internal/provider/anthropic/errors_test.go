package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string // inline JSON or "capture:<file>"
		header     http.Header
		wantStatus int
		wantType   string
		wantCode   string
		wantParam  string
		wantMsg    string // substring
		retryable  bool
		retryAfter time.Duration
	}{
		{"400 prompt too long", 400, "capture:error-400-prompt-too-long.body.json", nil,
			400, apierr.TypeInvalidRequest, "context_length_exceeded", "messages", "prompt is too long: 3333404 tokens", false, 0},
		{"400 other", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}`, nil,
			400, apierr.TypeInvalidRequest, "", "", "max_tokens: too big", false, 0},
		{"401 gateway key", 401, "capture:error-401-authentication.body.json", nil,
			502, apierr.TypeServer, "provider_auth_failed", "", "anthropic rejected the gateway's API key for provider claude", false, 0},
		{"402 billing", 402, `{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low"}}`, nil,
			402, apierr.TypeInsufficientQuota, apierr.CodeInsufficientQuota, "", "credit balance", false, 0},
		{"403", 403, `{"type":"error","error":{"type":"permission_error","message":"no access"}}`, nil,
			403, "permission_error", "", "", "no access", false, 0},
		{"404 model", 404, "capture:error-404-not-found-model.body.json", nil,
			404, apierr.TypeInvalidRequest, apierr.CodeModelNotFound, "model", "model: claude-sonet-4-5", false, 0},
		{"413", 413, `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}`, nil,
			413, apierr.TypeInvalidRequest, apierr.CodeRequestTooLarge, "", "maximum size", false, 0},
		{"429 retry-after", 429, "capture:error-429-rate-limit.body.json", http.Header{"Retry-After": {"12"}},
			429, apierr.TypeRateLimit, apierr.CodeRateLimitExceeded, "", "20,000 input tokens per minute", true, 12 * time.Second},
		{"429 retry-after-ms wins", 429, "capture:error-429-rate-limit.body.json", http.Header{"Retry-After": {"12"}, "Retry-After-Ms": {"1500.5"}},
			429, apierr.TypeRateLimit, apierr.CodeRateLimitExceeded, "", "rate limit", true, 1500500 * time.Microsecond},
		{"500", 500, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, nil,
			500, apierr.TypeServer, "", "", "Internal server error", true, 0},
		{"529 overloaded", 529, "capture:error-529-overloaded.body.json", http.Header{"Retry-After": {"3"}},
			503, apierr.TypeServer, "overloaded", "", "Overloaded", true, 3 * time.Second},
		{"408", 408, ``, nil, 408, apierr.TypeServer, "", "", "HTTP 408", true, 0},
		{"502 html", 502, `<html>bad gateway</html>`, nil, 502, apierr.TypeServer, "", "", "HTTP 502", true, 0},
		{"503", 503, ``, nil, 503, apierr.TypeServer, "", "", "HTTP 503", true, 0},
		{"504", 504, `{"type":"error","error":{"type":"timeout_error","message":"Request timeout"}}`, nil,
			504, apierr.TypeServer, "", "", "Request timeout", true, 0},
		{"409 not retried", 409, `{"type":"error","error":{"type":"conflict_error","message":"conflict"}}`, nil,
			409, apierr.TypeInvalidRequest, "", "", "conflict", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if f, ok := strings.CutPrefix(tt.body, "capture:"); ok {
				body = readFile(t, "captures/"+f)
			}
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			h.Set("Request-Id", "req_x")
			// Through the provider, so forwarded headers and Provider are checked too.
			fake := newFake(t, tt.status, h, body)
			p := newTestProvider(t, fake.URL)
			_, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "m",
				Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)})
			e := apierr.As(err)
			if e == nil {
				t.Fatalf("got %v, want *apierr.Error", err)
			}
			if e.Status != tt.wantStatus || e.Type != tt.wantType || e.Code != tt.wantCode || e.Param != tt.wantParam ||
				e.Retryable != tt.retryable || e.RetryAfter != tt.retryAfter || e.Provider != "claude" {
				t.Errorf("got status=%d type=%q code=%q param=%q retryable=%v retryAfter=%v provider=%q",
					e.Status, e.Type, e.Code, e.Param, e.Retryable, e.RetryAfter, e.Provider)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message %q lacks %q", e.Message, tt.wantMsg)
			}
			if strings.Contains(e.Message, "x-api-key") || strings.Contains(e.Message, "test-key") {
				t.Errorf("message leaks key details: %q", e.Message)
			}
			if e.Header.Get("x-upstream-request-id") != "req_x" {
				t.Errorf("headers %v", e.Header)
			}
		})
	}
}

func TestStreamErrorTypes(t *testing.T) {
	for typ, want := range map[string]struct {
		status    int
		code      string
		retryable bool
	}{
		"overloaded_error":      {503, "overloaded", true},
		"api_error":             {500, "", true},
		"rate_limit_error":      {429, apierr.CodeRateLimitExceeded, true},
		"invalid_request_error": {400, "", false},
		"authentication_error":  {502, "provider_auth_failed", false},
		"something_new":         {500, "", true},
	} {
		e := mapStreamError("claude", typ, "msg")
		if e.Status != want.status || e.Code != want.code || e.Retryable != want.retryable {
			t.Errorf("%s: got %d %q %v", typ, e.Status, e.Code, e.Retryable)
		}
	}
}

func TestConnectionErrors(t *testing.T) {
	// Nothing listens on port 1: a retryable 502 with the cause kept.
	p := newTestProvider(t, "http://127.0.0.1:1")
	call := &provider.Call{Endpoint: provider.Chat, Model: "m", Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)}
	_, err := p.Do(context.Background(), call)
	e := apierr.As(err)
	if e == nil || e.Status != 502 || e.Type != apierr.TypeServer || !e.Retryable || e.Cause == nil || e.Provider != "claude" {
		t.Fatalf("got %#v", err)
	}

	// A caller that is already gone gets its own context error, not a retryable one.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Do(ctx, call)
	if !errors.Is(err, context.Canceled) || apierr.As(err) != nil {
		t.Fatalf("got %v, want a wrapped context.Canceled", err)
	}
}

func TestUpstreamErrorsNeverEchoTheKey(t *testing.T) {
	const key = "test-anthropic-key-SECRETSECRET"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad header x-api-key: `+key+`"}}`)
	}))
	defer srv.Close()
	p := New(Options{Name: "claude", BaseURL: srv.URL, APIKey: key, Transport: &http.Transport{}})
	_, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "claude-haiku-4-5", ClientModel: "claude-haiku-4-5",
		Body: []byte(`{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"x"}]}`)})
	if err == nil || strings.Contains(err.Error(), key) {
		t.Fatalf("error leaks the key: %v", err)
	}
}
