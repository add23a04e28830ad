// Package apierr is the OpenAI error envelope: every failure, from the gateway or an
// upstream, reaches the client as {"error":{"message","type","param","code"}}.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jmanhype/runestone/internal/jsonx"
)

// Error types and codes used across the gateway, as OpenAI names them.
const (
	TypeInvalidRequest    = "invalid_request_error"
	TypeRateLimit         = "rate_limit_exceeded"
	TypeInsufficientQuota = "insufficient_quota"
	TypeServer            = "server_error"

	CodeInvalidAPIKey       = "invalid_api_key"
	CodeModelNotAllowed     = "model_not_allowed"
	CodeModelNotFound       = "model_not_found"
	CodeRequestTooLarge     = "request_too_large"
	CodeRateLimitExceeded   = "rate_limit_exceeded"
	CodeInsufficientQuota   = "insufficient_quota"
	CodeProviderUnavailable = "provider_unavailable"
)

// Error is a failure with everything needed to answer the client and to decide
// whether the resilience layer may try again. It implements error.
type Error struct {
	Status  int    // HTTP status for the client
	Type    string // envelope "type"
	Code    string // envelope "code"; "" is written as null
	Param   string // envelope "param"; "" is written as null
	Message string // envelope "message"

	// Retryable reports a failure another attempt may not repeat (5xx, 429, 408,
	// 529, connection errors). Callers' own 4xx are never retryable.
	Retryable bool
	// RetryAfter is the upstream's Retry-After / retry-after-ms hint, 0 when absent.
	RetryAfter time.Duration
	// Provider names the provider that failed, "" for gateway errors.
	Provider string
	// Header holds extra response headers (Retry-After, x-ratelimit-*), may be nil.
	Header http.Header
	// Cause is the underlying error, if any (never shown to clients).
	Cause error
	// Body is the upstream's own error body (redacted), set by native relays: a client
	// of the same dialect gets it unmodified with Status, because agents such as Claude
	// Code match on the upstream's wording. Nil for errors in any other form.
	Body []byte

	// Attempts and Tried record the upstream calls behind a final error (set by the
	// resilience executor), so the request's log row can name them.
	Attempts int
	Tried    []string

	cut bool // Message quotes a long upstream body: Redact cuts it after masking
}

func (e *Error) Error() string {
	if e.Provider != "" {
		return fmt.Sprintf("%s: %d %s", e.Provider, e.Status, e.Message)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// As returns err as an *Error, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// AppendJSON appends the envelope to dst without reflection.
func (e *Error) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = jsonx.AppendString(dst, e.Message)
	dst = append(dst, `,"type":`...)
	dst = jsonx.AppendString(dst, e.Type)
	dst = append(dst, `,"param":`...)
	dst = appendNullable(dst, e.Param)
	dst = append(dst, `,"code":`...)
	dst = appendNullable(dst, e.Code)
	return append(dst, "}}"...)
}

func appendNullable(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return jsonx.AppendString(dst, s)
}

// Write sends e as a JSON response with its status and extra headers.
func Write(w http.ResponseWriter, e *Error) {
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(e.AppendJSON(make([]byte, 0, 128+len(e.Message))), '\n'))
}

// RetryableStatus reports whether an upstream status is worth another attempt.
func RetryableStatus(status int) bool {
	switch status {
	case 408, 429, 500, 502, 503, 504, 529:
		return true
	}
	return false
}

// BadRequest is a 400 naming the offending parameter.
func BadRequest(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: param,
		Message: fmt.Sprintf(format, args...)}
}

// InvalidAPIKey is the 401 for a missing, unknown, revoked or expired key.
func InvalidAPIKey(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Type: TypeInvalidRequest, Code: CodeInvalidAPIKey, Message: msg}
}

// ModelNotFound is the 404 for a model no route or provider serves.
func ModelNotFound(model string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: CodeModelNotFound, Param: "model",
		Message: fmt.Sprintf("The model `%s` does not exist or is not served by this gateway.", model)}
}

// ModelNotAllowed is the 403 for a model outside a key's allow-list.
func ModelNotAllowed(model string) *Error {
	return &Error{Status: http.StatusForbidden, Type: TypeInvalidRequest, Code: CodeModelNotAllowed, Param: "model",
		Message: fmt.Sprintf("This API key is not allowed to use the model `%s`.", model)}
}

// RateLimited is the 429 for a per-key limit, with Retry-After in whole seconds (at least 1).
func RateLimited(msg string, retryAfter time.Duration) *Error {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: CodeRateLimitExceeded,
		Message: msg, RetryAfter: retryAfter, Header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
}

// InsufficientQuota is the 429 for a spent budget; retrying cannot help.
func InsufficientQuota(msg string) *Error {
	return &Error{Status: http.StatusTooManyRequests, Type: TypeInsufficientQuota, Code: CodeInsufficientQuota,
		Message: msg, Header: http.Header{"X-Should-Retry": {"false"}}}
}

// Internal is a 500 that hides the cause from the client.
func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer,
		Message: "The gateway had an internal error while processing your request.", Cause: cause}
}

// CodeLimiterUnavailable is the code of the 503 sent while the shared limiter store
// (Redis) is unreachable and the gateway is configured to fail closed.
const CodeLimiterUnavailable = "limiter_unavailable"

// LimiterUnavailable is the 503 for a request that cannot be checked against its key's
// shared limits; SDKs may retry after a second.
func LimiterUnavailable() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: CodeLimiterUnavailable,
		Message:   "The gateway cannot reach its shared rate-limit store (Redis), so it cannot admit this request. Please try again shortly.",
		Retryable: true, RetryAfter: time.Second, Header: http.Header{"Retry-After": {"1"}}}
}
