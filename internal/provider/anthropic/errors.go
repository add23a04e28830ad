package anthropic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
)

// errorBody is Anthropic's {"type":"error","error":{"type","message"},"request_id"}.
type errorBody struct {
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// statusOfType gives the HTTP status Anthropic uses for an error type, for errors that
// arrive inside a stream after the 200.
var statusOfType = map[string]int{
	"invalid_request_error": 400,
	"authentication_error":  401,
	"billing_error":         402,
	"permission_error":      403,
	"not_found_error":       404,
	"request_too_large":     413,
	"rate_limit_error":      429,
	"api_error":             500,
	"timeout_error":         504,
	"overloaded_error":      529,
}

// mapHTTPError translates an upstream error response into the OpenAI envelope.
func mapHTTPError(name string, status int, raw []byte, h http.Header) *apierr.Error {
	var b errorBody
	_ = json.Unmarshal(raw, &b) // a non-JSON body (a proxy's HTML) still maps by status
	e := mapError(name, status, b.Error.Type, b.Error.Message)
	if e.Retryable {
		e.RetryAfter = retryAfter(h)
	}
	return e
}

// mapStreamError translates an "error" event received after the 200.
func mapStreamError(name, typ, msg string) *apierr.Error {
	status, ok := statusOfType[typ]
	if !ok {
		status = http.StatusInternalServerError
	}
	return mapError(name, status, typ, msg)
}

func mapError(name string, status int, typ, msg string) *apierr.Error {
	if msg == "" {
		msg = fmt.Sprintf("anthropic returned HTTP %d", status)
		if typ != "" {
			msg = fmt.Sprintf("anthropic returned HTTP %d (%s)", status, typ)
		}
	}
	e := &apierr.Error{Status: status, Type: apierr.TypeInvalidRequest, Message: msg,
		Retryable: apierr.RetryableStatus(status), Provider: name}
	switch status {
	case 400:
		if strings.Contains(msg, "prompt is too long") {
			e.Code, e.Param = "context_length_exceeded", "messages"
		}
	case 401:
		// The key that failed is the gateway's own provider key, not the caller's:
		// answering 401 would tell the client to fix a key it does not control. The
		// upstream message is not kept in case it ever quotes the key.
		e.Status, e.Type, e.Code = http.StatusBadGateway, apierr.TypeServer, "provider_auth_failed"
		e.Message = fmt.Sprintf("anthropic rejected the gateway's API key for provider %s", name)
	case 402:
		// Not 429: SDKs retry 429, and a spent balance does not come back by waiting.
		e.Type, e.Code = apierr.TypeInsufficientQuota, apierr.CodeInsufficientQuota
	case 403:
		e.Type = "permission_error"
	case 404:
		e.Code, e.Param = apierr.CodeModelNotFound, "model"
	case 413:
		e.Code = apierr.CodeRequestTooLarge
	case 429:
		e.Type, e.Code = apierr.TypeRateLimit, apierr.CodeRateLimitExceeded
	case 529:
		// 529 is Anthropic's own; OpenAI clients know 503 as "overloaded, retry".
		e.Status, e.Type, e.Code = http.StatusServiceUnavailable, apierr.TypeServer, "overloaded"
	default:
		if status >= 500 || status == 408 {
			e.Type = apierr.TypeServer
		}
	}
	return e
}

// retryAfter reads retry-after-ms (float milliseconds, preferred as the SDKs do) or
// retry-after (seconds or an HTTP date).
func retryAfter(h http.Header) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("retry-after")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// forwardHeaders picks the upstream headers worth passing on, renamed to OpenAI's
// conventions: rate limits as x-ratelimit-<what>-<bucket> with the reset as a Go
// duration (OpenAI clients parse "1.5s", Anthropic sends an RFC 3339 time).
func forwardHeaders(h http.Header, now time.Time) http.Header {
	out := http.Header{}
	if v := h.Get("request-id"); v != "" {
		out.Set("x-upstream-request-id", v)
	}
	for _, k := range []string{"retry-after", "retry-after-ms"} {
		if v := h.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		rest, ok := strings.CutPrefix(strings.ToLower(k), "anthropic-ratelimit-")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '-')
		if i <= 0 {
			continue
		}
		bucket, what := rest[:i], rest[i+1:]
		v := vs[0]
		switch what {
		case "limit", "remaining":
		case "reset":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				continue
			}
			d := max(t.Sub(now), 0).Round(time.Millisecond)
			v = d.String()
		default:
			continue
		}
		out.Set("x-ratelimit-"+what+"-"+bucket, v)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
