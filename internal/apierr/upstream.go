package apierr

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// FromUpstream turns an upstream's error answer into an *Error. An OpenAI envelope
// keeps its message, type, param and code. Statuses that are the gateway's problem
// rather than the caller's (401/403: the provider key) become 502s that never quote
// the upstream body, which may echo the gateway's own key.
func FromUpstream(provider string, status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status, Provider: provider, Retryable: RetryableStatus(status), RetryAfter: RetryAfter(h)}
	env := gjson.GetBytes(body, "error")
	if env.IsObject() {
		e.Message = env.Get("message").String()
		e.Type = env.Get("type").String()
		e.Param = env.Get("param").String()
		e.Code = env.Get("code").String()
	} else if env.Type == gjson.String {
		e.Message = env.String()
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("%s answered %d %s: %s", provider, status, http.StatusText(status), snippet(body))
	}
	if e.Type == "" {
		e.Type = TypeInvalidRequest
		if status >= 500 || status == 429 {
			e.Type = TypeServer
		}
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return &Error{Status: http.StatusBadGateway, Type: TypeServer, Code: "provider_auth_failed", Provider: provider,
			Message: fmt.Sprintf("provider %s rejected the gateway's credentials (%d); check its api_key", provider, status)}
	}
	if e.RetryAfter > 0 {
		e.Header = http.Header{"Retry-After": {strconv.Itoa(int((e.RetryAfter + time.Second - 1) / time.Second))}}
	}
	return e
}

// Redact replaces every secret (a provider's API key, its extra header values) found
// in the error's text with a masked form. An upstream may quote the credentials it
// was sent, and its message reaches the client, the request log and the process log.
// Secrets shorter than 8 bytes are left alone (they would mask ordinary words).
func (e *Error) Redact(secrets []string) *Error {
	if e == nil {
		return nil
	}
	for _, s := range secrets {
		if len(s) < 8 {
			continue
		}
		masked := s[:3] + "…" + s[len(s)-3:]
		e.Message = strings.ReplaceAll(e.Message, s, masked)
		e.Param = strings.ReplaceAll(e.Param, s, masked)
		e.Code = strings.ReplaceAll(e.Code, s, masked)
		if e.Body != nil {
			e.Body = bytes.ReplaceAll(e.Body, []byte(s), []byte(masked))
		}
	}
	return e
}

// RetryAfter reads retry-after-ms (float milliseconds) or Retry-After (seconds or an
// HTTP date), 0 when absent.
func RetryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// Unreachable is the retryable 502 for a connection error or timeout.
func Unreachable(provider string, cause error) *Error {
	return &Error{Status: http.StatusBadGateway, Type: TypeServer, Code: "upstream_unreachable", Provider: provider,
		Retryable: true, Cause: cause, Message: fmt.Sprintf("provider %s is unreachable: %v", provider, cause)}
}

// BadUpstream is the retryable 502 for an answer the gateway cannot use.
func BadUpstream(provider, what string) *Error {
	return &Error{Status: http.StatusBadGateway, Type: TypeServer, Code: "bad_upstream_response", Provider: provider,
		Retryable: true, Message: fmt.Sprintf("provider %s sent an invalid answer: %s", provider, what)}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}
