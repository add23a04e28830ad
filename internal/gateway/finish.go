package gateway

import (
	"context"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/reqlog"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/telemetry"
)

func (g *Gateway) captureLimit() int {
	if !g.o.CaptureBodies {
		return 64 << 10 // still reassembled for token estimates, never stored
	}
	return max(g.o.MaxBodyCapture, 1)
}

// finish does the accounting once the answer is out: limiter, spend, live state,
// metrics, events and the request-log row (queued; never written on this goroutine).
func (x *exchange) finish() {
	g := x.g
	if x.status == 0 {
		x.status = 500 // a panic is unwinding through here
	}
	latency := time.Since(x.start)
	x.endTake()
	x.estimateUsage()
	tokens := x.usage.Total()
	ev := x.event(latency)
	x.traceEnd(&ev) // telemetry
	if ev.CostUSD != nil && x.p != nil {
		// Without cancel: a client that hung up was still billed by the upstream.
		// Booked to the period the request started in, as the ledger books its row.
		g.o.Spend.Add(context.WithoutCancel(x.r.Context()), x.p.KeyID, x.p.BudgetPeriod, x.at, *ev.CostUSD)
	}
	// Spend is booked before the slot is freed, so the key's next admitted request
	// (on any replica, when the book is shared) already sees this cost.
	if x.ticket != nil {
		x.ticket.Release(tokens)
	}
	g.state.end(x, ev)
	if g.o.Metrics != nil {
		g.o.Metrics.ObserveRequest(ev)
	}
	if g.o.Bus.Active() {
		// A copy for the bus: taking ev's address would move it to the heap on
		// every request, bus or not.
		published := ev
		g.o.Bus.Publish(events.Event{Kind: events.KindRequestFinished, Request: &published})
	}
	if g.o.Log != nil {
		g.o.Log.Write(x.row(ev))
	}
	if g.o.LogRequests {
		g.o.Logger.Info("request", "id", x.id, "key", ev.KeyName, "model", ev.Model, "provider", ev.Provider,
			"status", ev.Status, "stream", ev.Stream, "latency_ms", round(ev.LatencyMS), "tokens", tokens,
			"attempts", ev.Attempts, "error", ev.Error)
	}
}

// upstreamDialect names the API spoken to the provider that answered: the client's
// when relayed natively, else chat — which the Anthropic provider speaks to its
// upstream as Messages.
func (x *exchange) upstreamDialect() string {
	switch {
	case x.res.Target.Provider.Kind() == "anthropic":
		return "messages"
	case x.native:
		return x.di.inbound(x.ep)
	case x.codec != nil:
		return "chat"
	}
	return x.di.inbound(x.ep)
}

// estimateUsage fills token counts the upstream did not report.
func (x *exchange) estimateUsage() {
	// A stream cut after some events still delivered (and was billed for) them.
	if x.usage.Reported || x.g.o.Tokens == nil || x.body == nil || (x.status != 200 && x.chunks == 0) {
		return
	}
	model := x.info.model
	if x.codec != nil {
		x.usage.PromptTokens, _ = x.codec.estimate(x.g.o.Tokens, x.body)
	} else {
		x.usage.PromptTokens = x.g.o.Tokens.Prompt(model, x.ep.String(), x.body)
	}
	if x.info.stream {
		x.usage.CompletionTokens = x.g.o.Tokens.Text(model, x.text.String())
	} else if len(x.respBody) > 0 {
		x.usage.CompletionTokens = x.g.o.Tokens.Text(model, answerText(x.respBody))
	}
}

func (x *exchange) event(latency time.Duration) events.Request {
	ev := events.Request{ID: x.id, Endpoint: x.ep.Path(), Model: x.info.model, Stream: x.info.stream,
		Started: x.at, Status: x.status, LatencyMS: ms(latency), Error: x.errMsg,
		PromptTokens: x.usage.PromptTokens, CompletionTokens: x.usage.CompletionTokens,
		CachedTokens: x.usage.CachedTokens, CacheWriteTokens: x.usage.CacheWriteTokens,
		TokensEstimated: !x.usage.Reported && x.usage.Total() > 0,
		AnsweredModel:   x.usage.Model, ReasoningTokens: x.usage.ReasoningTokens,
		CacheWrite1hTokens: x.usage.CacheWrite1hTokens, WebSearchCalls: x.usage.WebSearchCalls,
		CompactionTokens: x.usage.CompactionInputTokens + x.usage.CompactionOutputTokens,
		ServiceTier:      x.usage.ServiceTier}
	if x.res != nil && x.di.upstream == "" {
		x.di.upstream = x.upstreamDialect()
	}
	ev.Dialect, ev.UpstreamDialect, ev.Dropped = x.di.inbound(x.ep), x.di.upstream, x.di.dropped
	if x.p != nil {
		ev.KeyID, ev.KeyName, ev.Project = x.p.KeyID, x.p.Name, x.p.Project
	}
	if x.di.session == "" {
		x.di.session = sessionID(x.r.Header)
	}
	ev.Session = x.di.session
	ev.Agent, ev.AgentVersion = agentOf(x.r.Header.Get("User-Agent"))
	if x.info.stream && x.chunks > 0 {
		ev.TTFTMS = ms(x.ttft)
	}
	if e := x.failErr; x.res == nil && e != nil && e.Provider != "" {
		// Failed upstream: the error carries who answered and how many calls it took.
		ev.Provider, ev.Attempts, ev.Providers = e.Provider, e.Attempts, e.Tried
	}
	if r := x.res; r != nil {
		ev.Provider, ev.UpstreamModel, ev.Attempts, ev.Providers = r.Target.Provider.Name(), r.Target.Model, r.Attempts, r.Tried
		if x.info.stream {
			ev.OverheadMS = ms(x.ttft - r.Upstream)
		} else {
			ev.OverheadMS = ms(x.overhead)
		}
	}
	if x.res != nil && x.g.o.Pricer != nil {
		priced := x.g.o.Pricer.PricedName(ev.AnsweredModel, ev.UpstreamModel)
		if x.res.Target.Provider.Kind() == "mock" {
			priced = "mock" // the zero-config mock answers any name; it costs nothing
		}
		if usd, ok := x.g.o.Pricer.Cost(priced, x.usage); ok {
			ev.CostUSD = &usd
		}
	}
	if x.replayed {
		ev.Provider = "replay" // a recorded answer: no provider was called, nothing is priced
	}
	ev.Bound() // the ring, the bus and the log row keep no client's megabytes
	return ev
}

// traceUsage adds to a span's record what the answer said beyond prompt and
// completion: the answered model and every other token class.
func traceUsage(rec *telemetry.Record, ev *events.Request) {
	if ev.AnsweredModel != "" {
		rec.ResponseModel = ev.AnsweredModel
	}
	rec.ReasoningTokens, rec.CacheWrite1hTokens, rec.CompactionTokens = ev.ReasoningTokens, ev.CacheWrite1hTokens, ev.CompactionTokens
	rec.WebSearchCalls, rec.ServiceTier = ev.WebSearchCalls, ev.ServiceTier
}

// row is the request-log record of a finished request (ev is its final event).
func (x *exchange) row(ev events.Request) store.RequestRow {
	row := store.RequestRow{
		ID: ev.ID, Started: x.at, KeyID: ev.KeyID, KeyName: ev.KeyName, Project: ev.Project,
		Endpoint: ev.Endpoint, Model: ev.Model, Provider: ev.Provider, UpstreamModel: ev.UpstreamModel,
		ProvidersTried: ev.Providers, Status: ev.Status, Stream: ev.Stream,
		LatencyMS: ev.LatencyMS, OverheadMS: ev.OverheadMS, PromptTokens: ev.PromptTokens,
		CompletionTokens: ev.CompletionTokens, CachedTokens: ev.CachedTokens, CacheWriteTokens: ev.CacheWriteTokens,
		TokensEstimated: ev.TokensEstimated, CostUSD: ev.CostUSD, Attempts: ev.Attempts, Error: ev.Error,
		Dialect: ev.Dialect, UpstreamDialect: ev.UpstreamDialect, SessionID: ev.Session, Dropped: ev.Dropped,
		Keep:          x.keep,
		AnsweredModel: ev.AnsweredModel, ReasoningTokens: ev.ReasoningTokens, CacheWrite1hTokens: ev.CacheWrite1hTokens,
		CompactionTokens: ev.CompactionTokens, WebSearchCalls: ev.WebSearchCalls, ServiceTier: ev.ServiceTier,
		Agent: ev.Agent, AgentVersion: ev.AgentVersion,
	}
	if ev.Stream && x.chunks > 0 {
		ttft := ev.TTFTMS
		row.TTFTMS = &ttft
	}
	if x.g.o.CaptureBodies {
		limit := x.g.o.MaxBodyCapture
		row.RequestBody = capView(x.body, limit)
		if x.info.stream {
			row.ResponseBody = x.text.String()
		} else {
			row.ResponseBody = capView(x.respBody, limit)
		}
	}
	return row
}

// detailFromRow is the way back from row: a logged request as the detail view shows it.
func detailFromRow(row store.RequestRow) *events.RequestDetail {
	ev := events.Request{ID: row.ID, KeyID: row.KeyID, KeyName: row.KeyName, Project: row.Project, Endpoint: row.Endpoint,
		Model: row.Model, Provider: row.Provider, UpstreamModel: row.UpstreamModel, Attempts: row.Attempts,
		Stream: row.Stream, Started: row.Started, Status: row.Status, LatencyMS: row.LatencyMS,
		OverheadMS: row.OverheadMS, PromptTokens: row.PromptTokens, CompletionTokens: row.CompletionTokens,
		TokensEstimated: row.TokensEstimated, CostUSD: row.CostUSD, Error: row.Error,
		CachedTokens: row.CachedTokens, CacheWriteTokens: row.CacheWriteTokens, Dialect: row.Dialect,
		UpstreamDialect: row.UpstreamDialect, Session: row.SessionID, Dropped: row.Dropped,
		AnsweredModel: row.AnsweredModel, ReasoningTokens: row.ReasoningTokens, CacheWrite1hTokens: row.CacheWrite1hTokens,
		CompactionTokens: row.CompactionTokens, WebSearchCalls: row.WebSearchCalls, ServiceTier: row.ServiceTier,
		Agent: row.Agent, AgentVersion: row.AgentVersion}
	if row.TTFTMS != nil {
		ev.TTFTMS = *row.TTFTMS
	}
	ev.Providers = row.ProvidersTried
	return &events.RequestDetail{Request: ev, RequestBody: row.RequestBody, ResponseBody: row.ResponseBody}
}

// denied publishes an auth failure or rate-limit rejection.
func (g *Gateway) denied(kind events.Kind, id string, p *auth.Principal, model, reason string) {
	if g.o.Metrics != nil && kind == events.KindAuthFailed {
		g.o.Metrics.AuthFailed()
	}
	if !g.o.Bus.Active() {
		return
	}
	d := &events.Denied{RequestID: id, Model: model, Reason: reason}
	if p != nil {
		d.KeyID, d.KeyName = p.KeyID, p.Name
	}
	g.o.Bus.Publish(events.Event{Kind: kind, Denied: d})
}

func (g *Gateway) progress(x *exchange) {
	ev := x.startedEvent()
	ev.CompletionTokens = x.chunks
	if x.res != nil {
		ev.Provider = x.res.Target.Provider.Name()
	}
	g.o.Bus.Publish(events.Event{Kind: events.KindRequestProgress, Request: &ev})
}

// startedEvent describes x from fields set before it went in flight, so other
// goroutines (the /admin/state snapshot) may call it.
func (x *exchange) startedEvent() events.Request {
	ev := events.Request{ID: x.id, Endpoint: x.ep.Path(), Model: x.info.model, Stream: x.info.stream, Started: x.at,
		Dialect: x.di.inbound(x.ep)}
	if x.p != nil {
		ev.KeyID, ev.KeyName, ev.Project = x.p.KeyID, x.p.Name, x.p.Project
	}
	return ev
}

// answerText is a non-stream answer's text: the chat message (and tool-call
// arguments) or the legacy completion text.
func answerText(body []byte) string {
	r := gjson.GetManyBytes(body, "choices.0.message.content", "choices.0.message.tool_calls.#.function.arguments", "choices.0.text",
		"content.#.text", "content.#.input", "output.#.content.#.text", "output.#.arguments")
	var b []byte
	for _, v := range r {
		if v.IsArray() {
			for _, e := range v.Array() {
				b = append(b, e.String()...)
			}
		} else {
			b = append(b, v.String()...)
		}
	}
	return string(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round(f float64) float64 { return float64(int64(f*1000)) / 1000 }

// capView is reqlog.Cap without a copy when b fits: the row's string then shares b's
// bytes. Only for buffers nothing writes to after the answer (the request body is
// read once and only read after; answers are fresh slices or recorded cassettes),
// so the database driver's copy is the only one.
func capView(b []byte, limit int) string {
	if limit > 0 && len(b) > limit {
		return reqlog.Cap(b, limit)
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
