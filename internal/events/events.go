// Package events holds the live-event types the gateway publishes and the dashboard,
// /admin/events and /admin/state consume. It is a leaf: the ui package imports only this.
package events

import (
	"errors"
	"strings"
	"time"
)

// Kind names an event.
type Kind string

// The events the gateway publishes.
const (
	KindRequestStarted  Kind = "request_started"
	KindRequestProgress Kind = "request_progress" // tokens streamed so far, at most a few per second
	KindRequestFinished Kind = "request_finished"
	KindAttempt         Kind = "attempt"
	KindAuthFailed      Kind = "auth_failed"
	KindRateLimited     Kind = "rate_limited"
	KindBreakerChanged  Kind = "breaker_changed"
	KindLimiterSnapshot Kind = "limiter_snapshot"
	KindDropped         Kind = "dropped" // a slow subscriber lost Dropped events
)

// Event is one live event. Exactly one of the pointer fields is set, according to Kind.
type Event struct {
	Seq     uint64      `json:"seq"`
	Kind    Kind        `json:"kind"`
	Time    time.Time   `json:"time"`
	Request *Request    `json:"request,omitempty"`
	Attempt *Attempt    `json:"attempt,omitempty"`
	Breaker *Breaker    `json:"breaker,omitempty"`
	Limits  []KeyLimits `json:"limits,omitempty"`
	Denied  *Denied     `json:"denied,omitempty"`
	Dropped uint64      `json:"dropped,omitempty"`
}

// Request describes a request in flight (started, progress) or finished.
type Request struct {
	ID            string    `json:"id"`
	KeyID         string    `json:"key_id,omitempty"`
	KeyName       string    `json:"key_name,omitempty"`
	Project       string    `json:"project,omitempty"`
	Endpoint      string    `json:"endpoint"` // the request path, e.g. /v1/chat/completions
	Model         string    `json:"model"`
	Provider      string    `json:"provider,omitempty"`       // the provider that answered (or last tried)
	UpstreamModel string    `json:"upstream_model,omitempty"` // the model name sent upstream
	Providers     []string  `json:"providers,omitempty"`      // every provider tried, in order
	Attempts      int       `json:"attempts,omitempty"`
	Stream        bool      `json:"stream"`
	Started       time.Time `json:"started"`
	Status        int       `json:"status,omitempty"` // 0 while in flight
	LatencyMS     float64   `json:"latency_ms,omitempty"`
	TTFTMS        float64   `json:"ttft_ms,omitempty"`
	OverheadMS    float64   `json:"overhead_ms,omitempty"`
	// Tokens: for in-flight streams CompletionTokens counts chunks streamed so far.
	PromptTokens     int      `json:"prompt_tokens,omitempty"`
	CompletionTokens int      `json:"completion_tokens,omitempty"`
	TokensEstimated  bool     `json:"tokens_estimated,omitempty"`
	CachedTokens     int      `json:"cached_tokens,omitempty"`      // of PromptTokens, read from a cache
	CacheWriteTokens int      `json:"cache_write_tokens,omitempty"` // of PromptTokens, written to a cache
	CostUSD          *float64 `json:"cost_usd,omitempty"`           // nil when the model has no price
	Error            string   `json:"error,omitempty"`
	// Dialect is the API the client spoke (chat, messages, responses, completions,
	// embeddings); UpstreamDialect the one spoken to the provider, when known.
	Dialect         string `json:"dialect,omitempty"`
	UpstreamDialect string `json:"upstream_dialect,omitempty"`
	// Session is the client's session id (X-Claude-Code-Session-Id, session_id).
	Session string `json:"session,omitempty"`
	// Dropped lists request fields a translation between dialects could not carry.
	Dropped []string `json:"dropped,omitempty"`
	// TraceID is the OpenTelemetry trace id of the request, when tracing is on.
	TraceID string `json:"trace_id,omitempty"`
	// AnsweredModel is the model the provider's answer names, when it names one;
	// CostUSD is its price. It can differ from UpstreamModel (an alias resolved to a
	// snapshot, a fallback answering a refusal).
	AnsweredModel string `json:"answered_model,omitempty"`
	// The token classes beyond prompt and completion: reasoning (of completion),
	// 1-hour cache writes (of CacheWriteTokens), compaction iterations (on top) and
	// server-side web searches; ServiceTier is the tier the answer ran on.
	ReasoningTokens    int    `json:"reasoning_tokens,omitempty"`
	CacheWrite1hTokens int    `json:"cache_write_1h_tokens,omitempty"`
	CompactionTokens   int    `json:"compaction_tokens,omitempty"`
	WebSearchCalls     int    `json:"web_search_calls,omitempty"`
	ServiceTier        string `json:"service_tier,omitempty"`
	// Agent and AgentVersion name the client from its User-Agent (claude-code 2.0.76).
	Agent        string `json:"agent,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
}

// ModelDiffers reports whether the answer names another model than the one sent
// upstream, ignoring a dated snapshot of the same name (claude-opus-5-5 answered
// as claude-opus-5-5-20260922 is the same model).
func (r *Request) ModelDiffers() bool {
	a, u := r.AnsweredModel, r.UpstreamModel
	if a == "" || u == "" || a == u {
		return false
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 {
		u = u[i+1:]
	}
	return !strings.HasPrefix(a, u+"-") || !isDateSuffix(a[len(u)+1:])
}

// isDateSuffix reports "20260922" or "2024-07-18".
func isDateSuffix(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] >= '0' && s[i] <= '9':
			digits++
		case s[i] != '-':
			return false
		}
	}
	return digits == 8 && (len(s) == 8 || len(s) == 10)
}

// Attempt is one upstream try within a request.
type Attempt struct {
	RequestID string  `json:"request_id"`
	Provider  string  `json:"provider"`
	Model     string  `json:"model"`
	Number    int     `json:"number"` // 1-based across the whole request
	Status    int     `json:"status,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
	Retrying  bool    `json:"retrying,omitempty"` // another attempt follows
	// RateLimitedUntil is set when the upstream answered 429: until then the gateway
	// tries this provider's target last (and never again within the same request).
	RateLimitedUntil time.Time `json:"rate_limited_until,omitzero"`
}

// Breaker is a circuit-breaker state change of one provider.
type Breaker struct {
	Provider  string    `json:"provider"`
	From      string    `json:"from"` // closed | open | half-open
	To        string    `json:"to"`
	NextProbe time.Time `json:"next_probe,omitempty"` // when an open breaker lets a probe through
	Reason    string    `json:"reason,omitempty"`
}

// Denied is an auth failure or a rate-limit rejection.
type Denied struct {
	RequestID string `json:"request_id"`
	KeyID     string `json:"key_id,omitempty"`
	KeyName   string `json:"key_name,omitempty"`
	Model     string `json:"model,omitempty"`
	Reason    string `json:"reason"`
}

// KeyLimits is one key's limiter counters at a moment.
type KeyLimits struct {
	KeyID      string   `json:"key_id"`
	KeyName    string   `json:"key_name"`
	RPM        int      `json:"rpm"`
	RPMLimit   int      `json:"rpm_limit"` // 0 = unlimited
	RPH        int      `json:"rph"`
	RPHLimit   int      `json:"rph_limit"`
	TPM        int      `json:"tpm"`
	TPMLimit   int      `json:"tpm_limit"`
	InFlight   int      `json:"in_flight"`
	Concurrent int      `json:"concurrent"` // 0 = unlimited
	Queued     int      `json:"queued"`
	SpentUSD   float64  `json:"spent_usd"`
	BudgetUSD  *float64 `json:"budget_usd,omitempty"`
	// BudgetPeriod is "day", "week" or "month" when the budget (and SpentUSD) is the
	// current UTC period's; empty for a lifetime budget.
	BudgetPeriod string `json:"budget_period,omitempty"`
	// Models is the key's model allow-list (empty: every model), for the key detail.
	Models []string `json:"models,omitempty"`
}

// ProviderState is one provider's health as /health/providers and the dashboard show it.
type ProviderState struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Breaker   string    `json:"breaker"` // closed | open | half-open
	NextProbe time.Time `json:"next_probe,omitempty"`
	// RateLimitedUntil is when the provider's latest 429 (its retry-after) ends, while
	// that is still to come: a 429 paces the gateway but never counts toward the breaker.
	RateLimitedUntil time.Time `json:"rate_limited_until,omitzero"`
	LastError        string    `json:"last_error,omitempty"`
	LastErrorAt      time.Time `json:"last_error_at,omitempty"`
	Requests         uint64    `json:"requests"`
	Errors           uint64    `json:"errors"`
	ErrorRate        float64   `json:"error_rate"`
	P50MS            float64   `json:"p50_ms"`
	P95MS            float64   `json:"p95_ms"`
	InFlight         int       `json:"in_flight"`
	// BaseURL (credentials masked) and Models (the model names and patterns it
	// serves) fill the dashboard's provider detail; /admin/state sets them.
	BaseURL string   `json:"base_url,omitempty"`
	Models  []string `json:"models,omitempty"`
}

// Totals are session-wide counters.
type Totals struct {
	Requests         uint64  `json:"requests"`
	Errors           uint64  `json:"errors"`
	InFlight         int64   `json:"in_flight"`
	PromptTokens     uint64  `json:"prompt_tokens"`
	CompletionTokens uint64  `json:"completion_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	// UnpricedRequests used tokens but have no cost (no price, or a rate the table
	// lacks): CostUSD leaves them out, and every total shows them beside it.
	UnpricedRequests uint64 `json:"unpriced_requests"`
}

// Unpriced reports whether a finished request used tokens but got no cost; a
// replayed answer costs nothing by design.
func (r *Request) Unpriced() bool {
	return r.CostUSD == nil && r.PromptTokens+r.CompletionTokens > 0 && r.Provider != "replay"
}

// State is the snapshot /admin/state returns and a dashboard starts from.
type State struct {
	Version   string          `json:"version"`
	Addr      string          `json:"addr"`
	Started   time.Time       `json:"started"`
	AuthOn    bool            `json:"auth_enabled"`
	Providers []ProviderState `json:"providers"`
	Keys      []KeyLimits     `json:"keys"`
	InFlight  []Request       `json:"in_flight"`
	Recent    []Request       `json:"recent"` // newest first
	Totals    Totals          `json:"totals"`
}

// ErrRequestNotFound is what a RequestDetail lookup returns for an id the request
// log does not hold, in process (the gateway) or over the admin API (adminapi).
var ErrRequestNotFound = errors.New("request not found")

// ErrUnauthorized matches (errors.Is) a gateway refusing the admin key: asking again
// with the same key cannot help, so the dashboard stops reconnecting on it.
var ErrUnauthorized = errors.New("admin key required")

// RequestDetail is one finished request with its captured bodies, for a detail view.
type RequestDetail struct {
	Request      Request   `json:"request"`
	Attempts     []Attempt `json:"attempts,omitempty"`
	RequestBody  string    `json:"request_body,omitempty"`
	ResponseBody string    `json:"response_body,omitempty"`
}
