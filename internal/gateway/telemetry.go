package gateway

import (
	"context"

	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/telemetry"
)

// The exchange's OpenTelemetry glue. Every helper returns at once when tracing is off
// (x.span is nil), so the request path pays one nil check per call site.

// traceStart opens the request's server span (a child of the client's traceparent).
// Call it first thing, before auth: refused requests are traced too.
func (x *exchange) traceStart() {
	if x.g.o.Telemetry == nil {
		return
	}
	x.span = x.g.o.Telemetry.StartRequest(x.r, operation(x.ep))
}

// operation is the GenAI operation name of an endpoint: chat, Messages and Responses
// are all "chat" in the conventions.
func operation(ep provider.Endpoint) string {
	switch ep {
	case provider.Completions:
		return telemetry.OpTextCompletion
	case provider.Embeddings:
		return telemetry.OpEmbeddings
	case provider.CountTokens, provider.InputTokens:
		return telemetry.OpCountTokens
	}
	return telemetry.OpChat
}

type attemptFunc = func(ctx context.Context, t provider.Target) (*provider.Response, error)

// traced wraps the executor's attempt func so each upstream attempt gets its own
// client span (retries and failover become siblings under the request span) and the
// attempt's context carries it upstream. A streamed answer is peeked chunk by chunk
// for its response id and finish reasons.
func (x *exchange) traced(fn attemptFunc) attemptFunc {
	if x.span == nil {
		return fn
	}
	return func(ctx context.Context, t provider.Target) (*provider.Response, error) {
		ctx, end := x.span.Attempt(ctx, t.Provider.Name(), t.Provider.Kind(), t.Model)
		resp, err := fn(ctx, t)
		end(err)
		if err == nil && resp != nil && resp.Stream != nil {
			resp.Stream = &peekStream{Stream: resp.Stream, span: x.span}
		}
		return resp, err
	}
}

// peekStream shows each relayed chunk to the span (id, model, finish reasons).
type peekStream struct {
	provider.Stream
	span *telemetry.Span
}

func (p *peekStream) Next() ([]byte, error) {
	b, err := p.Stream.Next()
	if err == nil {
		p.span.PeekChunk(b)
	}
	return b, err
}

// traceEnd ends the request span with what finish computed, and stamps the event
// with the trace id (the dashboard's detail view shows it). Call it in finish right
// after the event is built.
func (x *exchange) traceEnd(ev *events.Request) {
	if x.span == nil {
		return
	}
	ev.TraceID = x.span.TraceID()
	rec := telemetry.Record{
		RequestModel: x.info.model, ResponseModel: ev.UpstreamModel, Provider: ev.Provider,
		Status: ev.Status, Error: ev.Error, Stream: ev.Stream,
		InputTokens: ev.PromptTokens, OutputTokens: ev.CompletionTokens, TokensEstimated: ev.TokensEstimated,
		CacheReadTokens: x.usage.CachedTokens, CacheWrite: x.usage.CacheWriteTokens,
		KeyName: ev.KeyName, Project: ev.Project, Attempts: ev.Attempts, CostUSD: ev.CostUSD,
		RequestBody: x.body, ResponseBody: x.respBody,
		Dialect: ev.Dialect, UpstreamDialect: ev.UpstreamDialect, Conversation: ev.Session,
	}
	traceUsage(&rec, ev)
	if x.info.model != "" && ev.UpstreamModel != "" && x.info.model != ev.UpstreamModel {
		rec.Route = x.info.model // a [[routes]] name or an alias resolved to another model
	}
	if x.info.stream && x.chunks > 0 {
		rec.TTFT = x.ttft
		rec.Completion = x.text.String()
	}
	if x.ticket != nil {
		rec.QueueWait = x.ticket.Waited()
	}
	x.span.End(rec)
}
