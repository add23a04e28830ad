package messages

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/jsonx"
)

// Status is the HTTP status a Messages client gets for e. The gateway's statuses are
// kept: Anthropic's SDKs decide retries by status, and the gateway's 503 (overloaded,
// limiter down) already means "retry later" to them. Only a missing status becomes 500.
func Status(e *apierr.Error) int {
	if e == nil || e.Status == 0 {
		return http.StatusInternalServerError
	}
	return e.Status
}

// ErrorType is the Anthropic error type for e, chosen by status as Anthropic's error
// reference does (platform.claude.com/docs/en/api/errors), with 408 joining 504 as a
// timeout and 503 joining 529 as overloaded. The gateway's own types are OpenAI's
// names and mean nothing to a Messages client.
func ErrorType(e *apierr.Error) string {
	if e == nil {
		return "api_error"
	}
	if e.Type == apierr.TypeInsufficientQuota {
		// A spent budget is a billing matter whatever the status; the 429 it comes
		// with carries x-should-retry: false.
		return "billing_error"
	}
	switch Status(e) {
	case 400, 422:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 408, 504:
		return "timeout_error"
	case 409:
		return "conflict_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 503, 529:
		return "overloaded_error"
	}
	if Status(e) < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// AppendError appends Anthropic's error body:
// {"type":"error","error":{"type":T,"message":M},"request_id":ID}.
func AppendError(dst []byte, e *apierr.Error, requestID string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = jsonx.AppendString(dst, ErrorType(e))
	dst = append(dst, `,"message":`...)
	dst = jsonx.AppendString(dst, errorMessage(e))
	dst = append(dst, `},"request_id":`...)
	if requestID == "" {
		dst = append(dst, "null"...)
	} else {
		dst = jsonx.AppendString(dst, requestID)
	}
	return append(dst, '}')
}

// WriteError sends e as a Messages error response: e.Header (retry-after,
// x-should-retry, rate limits), a retry-after computed from e.RetryAfter when the
// header is missing, and the request id in Anthropic's request-id header.
func WriteError(w http.ResponseWriter, e *apierr.Error, requestID string) {
	h := w.Header()
	if e != nil {
		for k, v := range e.Header {
			h[k] = v
		}
		if e.RetryAfter > 0 && h.Get("Retry-After") == "" {
			secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
		}
	}
	if requestID != "" {
		h.Set("Request-Id", requestID)
	}
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(Status(e))
	_, _ = w.Write(append(AppendError(make([]byte, 0, 160), e, requestID), '\n'))
}

func errorMessage(e *apierr.Error) string {
	if e != nil && e.Message != "" {
		return e.Message
	}
	return http.StatusText(Status(e))
}
