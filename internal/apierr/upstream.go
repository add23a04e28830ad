package apierr

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// FromUpstream turns an upstream's error answer into an *Error. An OpenAI envelope
// keeps its message, type, param and code. Statuses that are the gateway's problem
// rather than the caller's (401/403: the provider key) become 502s that never quote
// the upstream body, which may echo the gateway's own key.
func FromUpstream(provider string, status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status, Provider: provider, Retryable: RetryableStatus(status), RetryAfter: RetryAfter(h)}
	if status == http.StatusTooManyRequests && e.RetryAfter == 0 {
		e.RetryAfter = resetHint(h)
	}
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
		// Kept long here and cut in Redact, after the secrets are masked: cutting
		// first can leave half a key that no longer matches the secret it is part of.
		e.Message = fmt.Sprintf("%s answered %d %s: %s", provider, status, http.StatusText(status), snippetN(body, maxRawSnippet))
		e.cut = true
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
//
// Every text field is redacted (type, code, param, message), then long fields are
// cut, so a secret straddling the cut is masked whole first. Strings shaped like API
// keys (sk-…, Bearer …) are masked too: an upstream may quote a key the gateway does
// not know, such as another tenant's.
func (e *Error) Redact(secrets []string) *Error {
	if e == nil {
		return nil
	}
	for _, f := range []*string{&e.Message, &e.Type, &e.Code, &e.Param} {
		*f = RedactText(*f, secrets)
	}
	if e.Body != nil {
		e.Body = []byte(RedactText(string(e.Body), secrets))
	}
	if e.cut {
		e.Message = cutText(e.Message, maxSnippet)
		e.cut = false
	}
	for _, f := range []*string{&e.Type, &e.Code, &e.Param} {
		*f = cutText(*f, maxField)
	}
	return e
}

// RedactText masks each secret (8 bytes or longer) and anything shaped like an API
// key or bearer token in s.
func RedactText(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) < 8 {
			continue
		}
		s = strings.ReplaceAll(s, sec, mask(sec))
	}
	return keyShape.ReplaceAllStringFunc(s, mask)
}

// keyShape matches common API key and token forms: OpenAI/Anthropic/Groq style
// prefixed keys, and the credential after "Bearer ".
var keyShape = regexp.MustCompile(`\b(?:sk|rk|pk|gsk|xai|sk-ant|sk-proj|sk-rs)-[A-Za-z0-9_\-]{12,}|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{12,}=*`)

func mask(s string) string {
	if len(s) < 8 {
		return "…"
	}
	return s[:3] + "…" + s[len(s)-3:]
}

const (
	maxSnippet    = 200      // upstream body quoted in a message
	maxRawSnippet = 64 << 10 // kept until Redact cuts it
	maxField      = 200      // type, code, param
)

func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
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

// resetHint reads OpenAI's x-ratelimit-reset-requests / -tokens ("1s", "6m0s",
// "20ms") for a 429 that carries no Retry-After: the reset of a bucket that is empty,
// else of the token bucket (a request larger than what is left of it is refused while
// the bucket is not empty). 0 when neither says anything usable.
func resetHint(h http.Header) time.Duration {
	reset := func(bucket string) time.Duration {
		d, err := time.ParseDuration(h.Get("X-Ratelimit-Reset-" + bucket))
		if err != nil || d <= 0 {
			return 0
		}
		return d
	}
	var d time.Duration
	for _, b := range []string{"Requests", "Tokens"} {
		if h.Get("X-Ratelimit-Remaining-"+b) == "0" {
			d = max(d, reset(b))
		}
	}
	if d == 0 {
		d = reset("Tokens")
	}
	return d
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

func snippetN(b []byte, n int) string {
	s := strings.TrimSpace(string(b[:min(len(b), n+1)]))
	if len(s) > n {
		s = cutText(s, n)
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}
