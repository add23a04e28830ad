package telemetry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/jmanhype/runestone/internal/apierr"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// GenAI semantic-convention attribute keys (gen_ai.* as of semconv 1.37+).
const (
	keyOperation     = attribute.Key("gen_ai.operation.name")
	keyProvider      = attribute.Key("gen_ai.provider.name")
	keyRequestModel  = attribute.Key("gen_ai.request.model")
	keyResponseModel = attribute.Key("gen_ai.response.model")
	keyResponseID    = attribute.Key("gen_ai.response.id")
	keyFinish        = attribute.Key("gen_ai.response.finish_reasons")
	keyInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	keyOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	keyCacheRead     = attribute.Key("gen_ai.usage.cache_read.input_tokens")
	keyCacheWrite    = attribute.Key("gen_ai.usage.cache_creation.input_tokens")
	keyInputMsgs     = attribute.Key("gen_ai.input.messages")
	keyOutputMsgs    = attribute.Key("gen_ai.output.messages")
	keyTokenType     = attribute.Key("gen_ai.token.type")
	keyErrorType     = attribute.Key("error.type")
	keyStatus        = attribute.Key("http.response.status_code")
)

// Operation names per the GenAI conventions.
const (
	OpChat           = "chat"
	OpTextCompletion = "text_completion"
	OpEmbeddings     = "embeddings"
	// OpCountTokens is not a GenAI convention name: token counting (Anthropic's
	// count_tokens, OpenAI's input_tokens) generates nothing.
	OpCountTokens = "runestone.count_tokens"
)

// Span is one request's server span. A nil *Span (telemetry off) does nothing.
type Span struct {
	t     *Telemetry
	span  trace.Span
	ctx   context.Context // carries span: the parent of attempt spans
	start time.Time
	op    string
	brk   uint64 // breaker log position at start

	mu       sync.Mutex
	attempts int
	open     trace.Span // the successful attempt, ended with the request
	provider string     // gen_ai.provider.name of the last attempt
	tried    []string   // configured names of the providers attempted
	stream   streamInfo
}

// streamInfo is what a streamed answer says about itself (its chunks are peeked).
type streamInfo struct {
	peeked    bool // the first chunk was read for id and model
	id, model string
	finish    []string
}

// StartRequest starts the server span of a request, as a child of the caller's
// W3C trace context (traceparent, tracestate, baggage) when r carries one. The span
// is named "{operation}" until End learns the model.
func (t *Telemetry) StartRequest(r *http.Request, operation string) *Span {
	if t == nil {
		return nil
	}
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	s := &Span{t: t, start: time.Now(), op: operation, brk: t.breakers.current()}
	s.ctx, s.span = t.tracer.Start(ctx, operation, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(s.start), trace.WithAttributes(keyOperation.String(operation)))
	return s
}

// TraceID is the request's trace id (32 hex digits), "" when off or when the trace
// is not sampled (nothing would be found under it in the backend).
func (s *Span) TraceID() string {
	if s == nil {
		return ""
	}
	if sc := s.span.SpanContext(); sc.HasTraceID() && sc.IsSampled() {
		return sc.TraceID().String()
	}
	return ""
}

// Event adds a named event to the request span.
func (s *Span) Event(name string, attrs ...attribute.KeyValue) {
	if s == nil {
		return
	}
	s.span.AddEvent(name, trace.WithAttributes(attrs...))
}

func noEnd(error) {}

// Attempt starts the client span of one upstream attempt, a child of the request
// span; retries and failover show as siblings. The returned context carries it (the
// transport injects it upstream); call end with the attempt's error. A successful
// attempt's span stays open until the request ends (a stream is still flowing).
func (s *Span) Attempt(ctx context.Context, providerName, providerKind, model string) (context.Context, func(error)) {
	if s == nil {
		return ctx, noEnd
	}
	s.mu.Lock()
	s.attempts++
	n := s.attempts
	s.provider = genAIProvider(providerKind)
	if !slices.Contains(s.tried, providerName) {
		s.tried = append(s.tried, providerName)
	}
	s.mu.Unlock()
	// The executor's ctx is the request's (deadline, cancellation); the span parent
	// comes from s.ctx.
	ctx, sp := s.t.tracer.Start(trace.ContextWithSpan(ctx, s.span), s.op+" "+model,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			keyOperation.String(s.op), keyProvider.String(genAIProvider(providerKind)),
			keyRequestModel.String(model), attribute.String("runestone.provider", providerName),
			attribute.Int("runestone.attempt", n)))
	return ctx, func(err error) {
		if err != nil {
			sp.SetStatus(codes.Error, s.t.redact(err.Error()))
			sp.SetAttributes(keyErrorType.String(errorType(err)))
			sp.End()
			return
		}
		s.mu.Lock()
		s.open = sp
		s.mu.Unlock()
	}
}

// genAIProvider maps a provider kind to the well-known gen_ai.provider.name values.
func genAIProvider(kind string) string {
	switch kind {
	case "openai", "anthropic":
		return kind
	case "":
		return "unknown"
	}
	return "runestone." + kind
}

// errorType is a low-cardinality name for an attempt's error: the API error's code or
// type when it has one.
func errorType(err error) string {
	if e := apierr.As(err); e != nil {
		return cmp.Or(e.Code, e.Type, "_OTHER")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled"
	}
	return "_OTHER"
}

// Record is a finished request, as the gateway knows it at the end.
type Record struct {
	RequestModel  string // the model the client asked for
	ResponseModel string // the model name sent upstream ("" = the answer's own, else RequestModel)
	Provider      string // configured provider name that answered
	Status        int
	Error         string // the error message sent to the client, if any
	ErrorType     string // low-cardinality error kind (an API error code); "" = derived from Status
	Stream        bool

	InputTokens, OutputTokens   int
	CacheReadTokens, CacheWrite int
	TokensEstimated             bool
	TTFT                        time.Duration // streams with at least one event
	QueueWait                   time.Duration
	KeyName, Project, Route     string
	Attempts                    int
	Dialect, UpstreamDialect    string // API spoken by the client / to the provider (chat, messages, …)
	Conversation                string // the client's session id (gen_ai.conversation.id)
	CostUSD                     *float64
	RequestBody                 []byte // request parameters are read from it (and content, when captured)
	ResponseBody                []byte // non-stream answer (id, finish reasons)
	Completion                  string // streamed answer text, when captured
	// Token classes beyond prompt and completion (see events.Request) and the
	// service tier the answer ran on.
	ReasoningTokens, CacheWrite1hTokens, CompactionTokens, WebSearchCalls int
	ServiceTier                                                           string
}

// End finishes the request span with rec and records the GenAI metrics.
func (s *Span) End(rec Record) {
	if s == nil {
		return
	}
	now := time.Now()
	t := s.t
	s.mu.Lock()
	open, provider, si, tried := s.open, s.provider, s.stream, s.tried
	s.mu.Unlock()
	if rec.RequestModel != "" {
		s.span.SetName(s.op + " " + rec.RequestModel)
	}
	respModel := rec.ResponseModel
	respID, finish := si.id, si.finish
	if len(rec.ResponseBody) > 0 {
		r := gjson.GetManyBytes(rec.ResponseBody, "id", "model", "choices.#.finish_reason", "stop_reason", "status")
		respID = r[0].String()
		if respModel == "" {
			respModel = r[1].String()
		}
		finish = finish[:0:0]
		for _, f := range r[2].Array() {
			finish = append(finish, f.String())
		}
		if len(finish) == 0 { // native Anthropic (stop_reason) or Responses (status) body
			if f := cmp.Or(r[3].String(), r[4].String()); f != "" {
				finish = append(finish, f)
			}
		}
	} else if respModel == "" {
		respModel = si.model
	}
	if respModel == "" {
		respModel = rec.RequestModel
	}
	if provider == "" {
		provider = "unknown"
	}
	attrs := make([]attribute.KeyValue, 0, 24)
	attrs = append(attrs, keyRequestModel.String(rec.RequestModel), keyProvider.String(provider),
		keyStatus.Int(rec.Status), attribute.Bool("runestone.stream", rec.Stream))
	if rec.Provider != "" {
		attrs = append(attrs, keyResponseModel.String(respModel), attribute.String("runestone.provider", rec.Provider))
	}
	if respID != "" {
		attrs = append(attrs, keyResponseID.String(respID))
	}
	if len(finish) > 0 {
		attrs = append(attrs, keyFinish.StringSlice(finish))
	}
	if rec.InputTokens > 0 || rec.OutputTokens > 0 {
		attrs = append(attrs, keyInputTokens.Int(rec.InputTokens), keyOutputTokens.Int(rec.OutputTokens))
		// Every figure says where it came from: the provider's usage or our estimate.
		source := "reported"
		if rec.TokensEstimated {
			source = "estimated"
			attrs = append(attrs, attribute.Bool("runestone.tokens_estimated", true))
		}
		attrs = append(attrs, attribute.String("runestone.usage.source", source))
	}
	for _, c := range [...]struct {
		key string
		n   int
	}{{"runestone.usage.reasoning_tokens", rec.ReasoningTokens}, {"runestone.usage.cache_write_1h_tokens", rec.CacheWrite1hTokens},
		{"runestone.usage.compaction_tokens", rec.CompactionTokens}, {"runestone.usage.web_search_calls", rec.WebSearchCalls}} {
		if c.n > 0 {
			attrs = append(attrs, attribute.Int(c.key, c.n))
		}
	}
	if rec.ServiceTier != "" {
		attrs = append(attrs, attribute.String("runestone.service_tier", rec.ServiceTier))
	}
	if rec.CacheReadTokens > 0 {
		attrs = append(attrs, keyCacheRead.Int(rec.CacheReadTokens))
	}
	if rec.CacheWrite > 0 {
		attrs = append(attrs, keyCacheWrite.Int(rec.CacheWrite))
	}
	attrs = appendParams(attrs, rec.RequestBody)
	if rec.KeyName != "" {
		attrs = append(attrs, attribute.String("runestone.key.name", rec.KeyName))
	}
	if rec.Project != "" {
		attrs = append(attrs, attribute.String("runestone.key.project", rec.Project))
	}
	if rec.Route != "" {
		attrs = append(attrs, attribute.String("runestone.route", rec.Route))
	}
	attrs = append(attrs, attribute.Int("runestone.attempts", rec.Attempts))
	if rec.Dialect != "" {
		attrs = append(attrs, attribute.String("runestone.dialect", rec.Dialect))
	}
	if rec.UpstreamDialect != "" {
		attrs = append(attrs, attribute.String("runestone.upstream_dialect", rec.UpstreamDialect))
	}
	if rec.Conversation != "" {
		attrs = append(attrs, attribute.String("gen_ai.conversation.id", rec.Conversation))
	}
	if rec.CostUSD != nil {
		attrs = append(attrs, attribute.Float64("runestone.cost_usd", *rec.CostUSD))
	}
	if rec.TTFT > 0 {
		attrs = append(attrs, attribute.Float64("gen_ai.response.time_to_first_chunk", rec.TTFT.Seconds()))
	}
	if rec.QueueWait > 0 {
		s.span.AddEvent("runestone.queue.wait", trace.WithTimestamp(s.start),
			trace.WithAttributes(attribute.Float64("runestone.queue.wait_ms", float64(rec.QueueWait.Microseconds())/1000)))
	}
	errType := ""
	if rec.Status >= 400 || rec.Status == 0 {
		errType = rec.ErrorType
		if errType == "" {
			errType = http.StatusText(rec.Status)
			if rec.Status == 499 {
				errType = "client_closed"
			}
			if errType == "" {
				errType = "_OTHER"
			}
		}
		attrs = append(attrs, keyErrorType.String(errType))
	}
	if t.capture {
		attrs = t.appendContent(attrs, rec)
	}
	s.span.SetAttributes(attrs...)
	for _, b := range t.breakers.since(s.brk) {
		if !slices.Contains(tried, b.provider) {
			continue // another request's provider
		}
		s.span.AddEvent("runestone.breaker.state_change", trace.WithTimestamp(b.at), trace.WithAttributes(
			attribute.String("runestone.provider", b.provider), attribute.String("runestone.breaker.from", b.from),
			attribute.String("runestone.breaker.to", b.to)))
	}
	// 4xx are the caller's doing: the span is in error only when the gateway or the
	// upstream failed (server-span rule of the HTTP conventions).
	if rec.Status >= 500 {
		s.span.SetStatus(codes.Error, t.redact(rec.Error))
	}
	if open != nil {
		if rec.Status >= 500 {
			open.SetStatus(codes.Error, t.redact(rec.Error))
		}
		open.End(trace.WithTimestamp(now))
	}
	s.span.End(trace.WithTimestamp(now))

	// Metrics: the GenAI client metrics, as seen by the gateway's client.
	mattrs := []attribute.KeyValue{keyOperation.String(s.op), keyProvider.String(provider),
		keyRequestModel.String(rec.RequestModel)}
	if rec.Provider != "" {
		mattrs = append(mattrs, keyResponseModel.String(respModel))
	}
	base := metric.WithAttributes(mattrs...)
	ctx := context.Background()
	if errType != "" {
		t.duration.Record(ctx, now.Sub(s.start).Seconds(), metric.WithAttributes(append(mattrs, keyErrorType.String(errType))...))
	} else {
		t.duration.Record(ctx, now.Sub(s.start).Seconds(), base)
	}
	if rec.InputTokens > 0 || rec.OutputTokens > 0 {
		t.tokens.Record(ctx, int64(rec.InputTokens), metric.WithAttributes(append(mattrs, keyTokenType.String("input"))...))
		t.tokens.Record(ctx, int64(rec.OutputTokens), metric.WithAttributes(append(mattrs, keyTokenType.String("output"))...))
	}
	if rec.TTFT > 0 {
		t.ttft.Record(ctx, rec.TTFT.Seconds(), base)
	}
}

// appendParams adds the request parameters the GenAI conventions name, read from the
// body without unmarshalling it.
func appendParams(attrs []attribute.KeyValue, body []byte) []attribute.KeyValue {
	if len(body) == 0 {
		return attrs
	}
	r := gjson.GetManyBytes(body, "temperature", "max_tokens", "max_completion_tokens", "top_p",
		"frequency_penalty", "presence_penalty", "seed", "n", "stop")
	if r[0].Type == gjson.Number {
		attrs = append(attrs, attribute.Float64("gen_ai.request.temperature", r[0].Float()))
	}
	if r[1].Type == gjson.Number {
		attrs = append(attrs, attribute.Int64("gen_ai.request.max_tokens", r[1].Int()))
	} else if r[2].Type == gjson.Number {
		attrs = append(attrs, attribute.Int64("gen_ai.request.max_tokens", r[2].Int()))
	}
	if r[3].Type == gjson.Number {
		attrs = append(attrs, attribute.Float64("gen_ai.request.top_p", r[3].Float()))
	}
	if r[4].Type == gjson.Number {
		attrs = append(attrs, attribute.Float64("gen_ai.request.frequency_penalty", r[4].Float()))
	}
	if r[5].Type == gjson.Number {
		attrs = append(attrs, attribute.Float64("gen_ai.request.presence_penalty", r[5].Float()))
	}
	if r[6].Type == gjson.Number {
		attrs = append(attrs, attribute.Int64("gen_ai.request.seed", r[6].Int()))
	}
	if r[7].Type == gjson.Number && r[7].Int() != 1 {
		attrs = append(attrs, attribute.Int64("gen_ai.request.choice.count", r[7].Int()))
	}
	switch {
	case r[8].Type == gjson.String:
		attrs = append(attrs, attribute.StringSlice("gen_ai.request.stop_sequences", []string{r[8].Str}))
	case r[8].IsArray():
		var stops []string
		for _, v := range r[8].Array() {
			stops = append(stops, v.String())
		}
		attrs = append(attrs, attribute.StringSlice("gen_ai.request.stop_sequences", stops))
	}
	return attrs
}

// appendContent adds the prompt and the answer (opt-in: capture_content), capped and
// with every configured secret masked.
func (t *Telemetry) appendContent(attrs []attribute.KeyValue, rec Record) []attribute.KeyValue {
	if len(rec.RequestBody) > 0 {
		r := gjson.GetManyBytes(rec.RequestBody, "messages", "prompt", "input")
		for _, v := range r {
			if v.Exists() {
				attrs = append(attrs, keyInputMsgs.String(t.redact(capText(v.Raw, t.capMax))))
				break
			}
		}
	}
	answer := rec.Completion
	if answer == "" && len(rec.ResponseBody) > 0 {
		r := gjson.GetManyBytes(rec.ResponseBody, "choices.0.message.content", "choices.0.text")
		answer = r[0].String() + r[1].String()
	}
	if answer != "" {
		out, _ := json.Marshal([]map[string]any{{"role": "assistant",
			"parts": []map[string]string{{"type": "text", "content": t.redact(capText(answer, t.capMax))}}}})
		attrs = append(attrs, keyOutputMsgs.String(string(out)))
	}
	return attrs
}

// redact masks every configured secret in s (as apierr.Redact does for error text).
func (t *Telemetry) redact(s string) string {
	for _, sec := range t.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, sec[:3]+"…"+sec[len(sec)-3:])
		}
	}
	return s
}

// capText keeps at most max bytes of s, cut on a rune boundary and marked.
func capText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[truncated]"
}

// PeekChunk reads a streamed chunk's id, model and finish reason (cheap byte checks
// first; gjson only where they match). The gateway calls it per relayed chunk.
func (s *Span) PeekChunk(chunk []byte) {
	if s == nil {
		return
	}
	if len(chunk) > 0 && chunk[0] != '{' {
		// A native relay's complete SSE frame ("event: x\ndata: {...}").
		i := bytes.Index(chunk, []byte("data:"))
		if i < 0 {
			return
		}
		chunk = bytes.TrimSpace(chunk[i+len("data:"):])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stream.peeked {
		// OpenAI chunks carry both at the top; a native relay's first event (Anthropic
		// message_start, Responses response.created) nests them.
		s.stream.peeked = true
		r := gjson.GetManyBytes(chunk, "id", "model", "message.id", "message.model", "response.id", "response.model")
		s.stream.id = cmp.Or(r[0].String(), r[2].String(), r[4].String())
		s.stream.model = cmp.Or(r[1].String(), r[3].String(), r[5].String())
	}
	// One scan per chunk for both spellings; most chunks say "finish_reason":null.
	if !bytes.Contains(chunk, []byte(`_reason":"`)) {
		return
	}
	if bytes.Contains(chunk, []byte(`"finish_reason":"`)) {
		gjson.GetBytes(chunk, "choices.#.finish_reason").ForEach(func(_, v gjson.Result) bool {
			if v.Type == gjson.String {
				s.stream.finish = append(s.stream.finish, v.Str)
			}
			return true
		})
	} else if v := gjson.GetBytes(chunk, "delta.stop_reason"); v.Type == gjson.String { // Anthropic message_delta
		s.stream.finish = append(s.stream.finish, v.Str)
	}
}
