package messages

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

func TestErrorTypes(t *testing.T) {
	for status, want := range map[int]string{
		400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
		404: "not_found_error", 408: "timeout_error", 409: "conflict_error", 413: "request_too_large",
		429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "overloaded_error", 504: "timeout_error",
		529: "overloaded_error", 418: "invalid_request_error", 0: "api_error",
	} {
		if got := ErrorType(&apierr.Error{Status: status}); got != want {
			t.Errorf("%d: %q, want %q", status, got, want)
		}
	}
	if got := ErrorType(apierr.InsufficientQuota("spent")); got != "billing_error" {
		t.Errorf("quota: %q", got)
	}
	got := string(AppendError(nil, apierr.BadRequest("model", "bad \"model\""), "req_1"))
	if want := `{"type":"error","error":{"type":"invalid_request_error","message":"bad \"model\""},"request_id":"req_1"}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(AppendError(nil, &apierr.Error{Status: 500}, "")); got != `{"type":"error","error":{"type":"api_error","message":"Internal Server Error"},"request_id":null}` {
		t.Errorf("%s", got)
	}
}

func TestWriteErrorHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, &apierr.Error{Status: 429, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, "req_9")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" || rec.Header().Get("request-id") != "req_9" ||
		rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("%d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	WriteError(rec, apierr.RateLimited("limit", 3*time.Second), "")
	if rec.Header().Get("Retry-After") != "3" || rec.Header().Get("request-id") != "" {
		t.Errorf("%v", rec.Header())
	}
}

// TestErrorsSDK: the official SDK reads the envelope as an *anthropic.Error with the
// status, type, message and request id.
func TestErrorsSDK(t *testing.T) {
	for _, tc := range []struct {
		err  *apierr.Error
		typ  anthropic.ErrorType
		code int
	}{
		{apierr.RateLimited("Too many requests for this key.", time.Second), anthropic.ErrorTypeRateLimitError, 429},
		{apierr.BadRequest("max_tokens", "max_tokens: Field required"), anthropic.ErrorTypeInvalidRequestError, 400},
		{apierr.ModelNotFound("nope"), anthropic.ErrorTypeNotFoundError, 404},
		{&apierr.Error{Status: 529, Message: "Overloaded"}, anthropic.ErrorTypeOverloadedError, 529},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			WriteError(w, tc.err, "req_abc")
		}))
		client := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0))
		_, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
			Model: "m", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
		})
		srv.Close()
		var ae *anthropic.Error
		if !errors.As(err, &ae) {
			t.Fatalf("%d: not an *anthropic.Error: %v", tc.code, err)
		}
		if ae.StatusCode != tc.code || ae.Type() != tc.typ || ae.Message != tc.err.Message || ae.RequestID != "req_abc" {
			t.Errorf("%d: status %d type %q message %q request id %q", tc.code, ae.StatusCode, ae.Type(), ae.Message, ae.RequestID)
		}
	}
}

// TestErrorMatchesCapture: the envelope is byte for byte what Anthropic sent in a
// recorded 529.
func TestErrorMatchesCapture(t *testing.T) {
	want := bytes.TrimSpace(testutil.ReadFile(t, "anthropic", "captures", "error-529-overloaded.body.json"))
	id := gjson.GetBytes(want, "request_id").Str
	got := AppendError(nil, &apierr.Error{Status: 529, Message: "Overloaded"}, id)
	if !bytes.Equal(got, want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
