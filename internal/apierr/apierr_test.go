package apierr

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEnvelopeHasAllFourKeys(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, BadRequest("messages", "bad \"quote\" and \u2028 line"))
	if rec.Code != 400 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d ct %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var env struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("invalid JSON %q: %v", rec.Body.String(), err)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := env.Error[k]; !ok {
			t.Errorf("missing %q in %s", k, rec.Body.String())
		}
	}
	if env.Error["code"] != nil || env.Error["param"] != "messages" {
		t.Errorf("code/param wrong: %v", env.Error)
	}
}

func TestFromUpstream(t *testing.T) {
	h := http.Header{"Retry-After-Ms": {"1500"}}
	e := FromUpstream("openai", 429, h, []byte(`{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}`))
	if !e.Retryable || e.RetryAfter != 1500*time.Millisecond || e.Message != "slow down" || e.Code != "rate_limit_exceeded" || e.Header.Get("Retry-After") != "2" {
		t.Fatalf("%+v", e)
	}
	e = FromUpstream("openai", 401, nil, []byte(`{"error":{"message":"Incorrect API key provided: sk-secret"}}`))
	if e.Status != 502 || e.Retryable || contains(e.Message, "sk-secret") {
		t.Fatalf("401 must become a 502 that hides the body: %+v", e)
	}
	e = FromUpstream("x", 400, nil, []byte(`<html>nope</html>`))
	if e.Retryable || e.Status != 400 || !contains(e.Message, "<html>") {
		t.Fatalf("%+v", e)
	}
	if RetryAfter(http.Header{"Retry-After": {"3"}}) != 3*time.Second {
		t.Fatal("seconds form")
	}
}

// TestRetryAfterForms: seconds, an HTTP date, retry-after-ms, and for a 429 without
// any of them OpenAI's x-ratelimit-reset-* of the bucket that ran out.
func TestRetryAfterForms(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if d := RetryAfter(http.Header{"Retry-After": {date}}); d < 80*time.Second || d > 90*time.Second {
		t.Errorf("HTTP date: %v", d)
	}
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"6m0s"},
			"X-Ratelimit-Remaining-Tokens": {"900"}, "X-Ratelimit-Reset-Tokens": {"20ms"}}, 6 * time.Minute},
		{http.Header{"X-Ratelimit-Remaining-Requests": {"3"}, "X-Ratelimit-Reset-Requests": {"1s"},
			"X-Ratelimit-Remaining-Tokens": {"10"}, "X-Ratelimit-Reset-Tokens": {"1.5s"}}, 1500 * time.Millisecond},
		{http.Header{"Retry-After": {"2"}, "X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"6m0s"}}, 2 * time.Second},
		{http.Header{"X-Ratelimit-Reset-Tokens": {"soon"}}, 0},
	} {
		if e := FromUpstream("openai", 429, tc.h, nil); e.RetryAfter != tc.want {
			t.Errorf("%v: retry after %v, want %v", tc.h, e.RetryAfter, tc.want)
		}
	}
	h := http.Header{"X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"6m0s"}}
	if e := FromUpstream("openai", 500, h, nil); e.RetryAfter != 0 {
		t.Errorf("a 500 took a rate-limit reset as its retry-after: %v", e.RetryAfter)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
