// Package provider defines the seam between the gateway and the upstreams it relays to:
// one call in, an answer (a body or a stream of events) out, and errors that say whether
// another attempt may help. Every provider serves Chat Completions (the neutral form the
// gateway translates other dialects through); a provider that natively speaks another
// dialect (Anthropic Messages, OpenAI Responses) says so with Relayer and then gets the
// client's bytes unchanged and answers with raw bytes and SSE frames.
package provider

import (
	"context"
	"errors"
	"net/http"
)

// Endpoint is the OpenAI API a call targets.
type Endpoint uint8

// The endpoints a provider may serve.
const (
	Chat Endpoint = iota
	Completions
	Embeddings
	// Messages is Anthropic's Messages API (/v1/messages).
	Messages
	// Responses is OpenAI's Responses API (/v1/responses).
	Responses
	// CountTokens is Anthropic's /v1/messages/count_tokens.
	CountTokens
	// InputTokens is OpenAI's /v1/responses/input_tokens.
	InputTokens
	// ResponsesCompact is OpenAI's /v1/responses/compact (remote compaction).
	ResponsesCompact
)

func (e Endpoint) String() string {
	switch e {
	case Chat:
		return "chat/completions"
	case Completions:
		return "completions"
	case Embeddings:
		return "embeddings"
	case Messages:
		return "messages"
	case Responses:
		return "responses"
	case CountTokens:
		return "messages/count_tokens"
	case InputTokens:
		return "responses/input_tokens"
	case ResponsesCompact:
		return "responses/compact"
	}
	return "unknown"
}

// Path is the endpoint's request path, e.g. "/v1/chat/completions": the one form the
// request log, live events and the dashboard name it by.
func (e Endpoint) Path() string {
	if int(e) < len(endpointPaths) {
		return endpointPaths[e]
	}
	return "/v1/" + e.String()
}

// ErrRehearsal is the Cause of a failure the request itself asked for (the mock's
// x-mock-status and x-mock-cut-after): it is retried and reported like the real thing,
// but never counts toward a breaker, so one client rehearsing faults cannot take the
// provider away from everyone else.
var ErrRehearsal = errors.New("a fault the request asked for")

// endpointPaths holds Path for every endpoint, built once so the hot path does not
// concatenate per request.
var endpointPaths = func() (p [ResponsesCompact + 1]string) {
	for e := range p {
		p[e] = "/v1/" + Endpoint(e).String()
	}
	return p
}()

// Target is one candidate upstream for a request: a provider and the model name it
// knows. The router produces targets and the resilience layer tries them; it lives
// here, beside Provider, so neither owns the other's vocabulary.
type Target struct {
	Provider Provider
	Model    string // the model name the upstream knows
}

// Call is one upstream attempt. Providers must treat every field as read-only: the
// resilience layer replays the same Call on retries and failover.
type Call struct {
	Endpoint Endpoint
	// Model is the name the upstream knows; ClientModel is what the client sent.
	Model       string
	ClientModel string
	// Body is the client's JSON body exactly as received (its model is ClientModel).
	Body []byte
	// Stream and IncludeUsage are read from Body once by the gateway.
	Stream       bool
	IncludeUsage bool
	// Header is the client's request header (for x-mock-* and the like; a native
	// relay forwards the dialect's own headers such as anthropic-beta from it).
	Header http.Header
	// Query is the client's raw query string (Claude Code sends ?beta=true), forwarded
	// by native relays.
	Query string
}

// Usage is token accounting for one answer.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	CachedTokens     int // prompt tokens read from a cache (part of PromptTokens)
	CacheWriteTokens int // prompt tokens written to a cache (part of PromptTokens)
	// CacheWrite1hTokens are the CacheWriteTokens written with a 1-hour lifetime
	// (Anthropic's cache_creation.ephemeral_1h_input_tokens); they bill higher.
	CacheWrite1hTokens int
	// Reported is true when the upstream sent the counts; false means absent or estimated.
	Reported bool
	// ReasoningTokens are the CompletionTokens spent thinking: reported apart,
	// billed as output.
	ReasoningTokens int
	// CompactionInputTokens and CompactionOutputTokens are Anthropic's compaction
	// iterations (usage.iterations), which the top-level counts leave out and which
	// bill on top of them.
	CompactionInputTokens  int
	CompactionOutputTokens int
	// Server-side tool calls, billed per call (web search) or not at all beyond
	// their tokens (web fetch); code execution bills by container time.
	WebSearchCalls     int
	WebFetchCalls      int
	CodeExecutionCalls int
	// ServiceTier is the tier the answer says it ran on ("default", "flex",
	// "priority", Anthropic's "standard"); "" when not said.
	ServiceTier string
	// Model is the model the answer says produced it, which can differ from the
	// one asked for (aliases resolve to snapshots, fallbacks answer refusals).
	Model string
}

// Total is prompt plus completion tokens, compaction iterations included.
func (u Usage) Total() int {
	return u.PromptTokens + u.CompletionTokens + u.CompactionInputTokens + u.CompactionOutputTokens
}

// Response is a successful upstream answer in OpenAI's format.
type Response struct {
	// Header holds upstream headers worth forwarding (rate limits, request ids); may be nil.
	Header http.Header
	// Body is the complete JSON answer of a non-stream call.
	Body []byte
	// Usage is the usage found in Body (non-stream calls).
	Usage Usage
	// Stream is set for stream calls instead of Body.
	Stream Stream
	// Raw marks a native relay in a dialect other than chat: Body is the upstream's
	// answer as is, and Stream yields complete SSE frames ("event: x\ndata: y\n\n")
	// to be written unchanged.
	Raw bool
	// Dropped names request fields the provider's own translation left out (e.g.
	// "temperature" for an Anthropic API version that refuses it), for the log row.
	Dropped []string
}

// Stream yields OpenAI SSE data payloads (chat.completion.chunk or text_completion JSON).
type Stream interface {
	// Next returns the next data payload, valid until the following call. It returns
	// io.EOF after the upstream's clean end; the gateway then writes "data: [DONE]".
	// Any other error ends the stream (an *apierr.Error when the upstream said why).
	Next() ([]byte, error)
	// Usage is the usage seen so far (complete after io.EOF).
	Usage() Usage
	// Close releases the upstream connection; safe to call more than once.
	Close() error
}

// Provider is an upstream the gateway can route to.
type Provider interface {
	// Name is the unique configured name ("openai", "backup", "mock").
	Name() string
	// Kind is "openai", "anthropic" or "mock".
	Kind() string
	// Models lists the client-visible model names the provider serves.
	Models() []string
	// Do performs one attempt. For streams it returns once the upstream accepted the
	// request; errors are *apierr.Error values whose Retryable field is set.
	Do(ctx context.Context, call *Call) (*Response, error)
}

// Relayer is implemented by providers that natively serve endpoints beyond the
// OpenAI ones every provider answers (Messages, Responses, their token counters).
type Relayer interface {
	Serves(ep Endpoint) bool
}

// Serves reports whether p answers ep natively. Chat, Completions and Embeddings are
// every provider's (an Anthropic provider translates them itself); other dialects
// reach a provider that does not serve them through the gateway's translation.
func Serves(p Provider, ep Endpoint) bool {
	switch ep {
	case Chat, Completions, Embeddings:
		return true
	}
	r, ok := p.(Relayer)
	return ok && r.Serves(ep)
}

// ModelMatcher is optionally implemented by providers (the zero-config mock) that
// serve model names beyond their Models list.
type ModelMatcher interface {
	ServesModel(model string) bool
}

// ResponseDeleter is implemented by providers that keep Responses API state (OpenAI's
// stored responses): DELETE /v1/responses/{id} on a natively relayed response deletes
// it there too. An id the provider does not know is not an error (it is gone).
type ResponseDeleter interface {
	DeleteResponse(ctx context.Context, id string) error
}
