package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/cassette"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/reqlog"
	"github.com/jmanhype/runestone/internal/resilience"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/telemetry"
	"github.com/tidwall/gjson"
)

var completedEvent = []byte("event: response.completed\n")

// statusClientClosed records a request whose client went away (nginx's convention).
const statusClientClosed = 499

// exchange is one proxied request from arrival to its log row.
type exchange struct {
	g     *Gateway
	w     http.ResponseWriter
	r     *http.Request
	ep    provider.Endpoint
	id    string
	start time.Time
	// at is when the request started by the gateway's clock (Options.Now; start itself
	// without one): its log row's time and the budget period it counts in. start keeps
	// the monotonic reading latencies are measured with.
	at time.Time

	// codec is the inbound dialect's translator (nil for chat, completions, embeddings).
	codec *codec
	// chat is the body translated to chat, made once when some target needs it (what
	// the translation could not carry is in di.dropped).
	chat []byte
	// native is set when the answer came from a provider speaking the client's dialect.
	native bool
	keep   *store.Response // a native Responses answer to store with the log row
	// enc is the encoder of the attempt being relayed translated, and relayEnd the
	// follower of one relayed natively (Responses): what ends the stream in the
	// client's dialect if it breaks. do sets them for each attempt, so the failure
	// path never looks for them through the stream wrappers (telemetry, primed...).
	enc      encoder
	relayEnd relayEnd
	// take records the exchange as a cassette (nil when not recording); replayed is
	// set when a cassette answered instead of a provider.
	take     *cassette.Take
	replayed bool

	p       *auth.Principal
	body    []byte
	info    reqInfo
	ticket  limits.Admission
	res     *resilience.Result
	started bool // counted in flight

	status    int
	errMsg    string
	failErr   *apierr.Error // the error answered, for the log row's provider and attempts
	ttft      time.Duration
	usage     provider.Usage
	respBody  []byte // non-stream answer, for capture and estimation
	text      reqlog.TextCapture
	chunks    int
	overhead  time.Duration
	upstreamT time.Duration
	di        dialectInfo     // dialects, session and dropped fields, for the log (dialectinfo.go)
	span      *telemetry.Span // telemetry; nil when off
}

func (g *Gateway) proxyHandler(ep provider.Endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x := &exchange{g: g, w: w, r: r, ep: ep, id: reqIDFrom(w), start: time.Now(), codec: codecs[ep]}
		x.at = x.start
		if g.o.Now != nil {
			x.at = g.o.Now()
		}
		x.text.Max = g.captureLimit()
		if x.codec != nil {
			x.di.dialect = x.codec.name
		}
		if ep == provider.Messages {
			// Anthropic's clients report this header's value in their errors.
			w.Header().Set("Request-Id", x.id)
		}
		x.traceStart()
		defer x.finish()
		x.serve()
	}
}

func (x *exchange) serve() {
	g := x.g
	p, aerr := g.authenticate(x.r)
	if aerr != nil {
		x.p = g.keyOwner(x.r) // a revoked or expired key's 401 row names the key
		g.denied(events.KindAuthFailed, x.id, x.p, "", aerr.Message)
		x.fail(aerr)
		return
	}
	x.p = p
	if x.body, aerr = readBody(x.w, x.r, g.o.MaxBodyBytes, g.o.BodyTimeout); aerr != nil {
		x.fail(aerr)
		return
	}
	if x.codec != nil {
		if x.info.model, x.info.stream, aerr = x.codec.inspect(x.body); aerr == nil {
			aerr = checkModelName(x.info.model)
		}
	} else {
		x.info, aerr = inspectChecked(x.body, x.ep) // readBody ran checkBody
	}
	if aerr != nil {
		x.fail(aerr)
		return
	}
	model := x.info.model
	if !p.Allows(model) {
		x.fail(apierr.ModelNotAllowed(model))
		return
	}
	// Unknown models are refused before they cost a limit slot; with replay on, a
	// recorded answer comes first (a CI run replays models no provider serves).
	var targets []provider.Target
	resolve := func() bool {
		if targets = g.o.Router.Resolve(model); len(targets) == 0 {
			x.fail(g.o.Router.NotFound(model))
			return false
		}
		return true
	}
	if g.o.Replayer == nil && !resolve() {
		return
	}
	acct := budget.For(p.KeyID, p.BudgetPeriod, x.at)
	if p.BudgetUSD != nil {
		g.periodStarted(x.r.Context(), p, acct)
		if g.o.Spend.Exhausted(acct, *p.BudgetUSD) {
			g.denied(events.KindRateLimited, x.id, p, model, "budget exhausted")
			spent := g.o.Spend.Spent(x.r.Context(), []budget.Account{acct})[0]
			x.fail(apierr.InsufficientQuota(budget.Exhausted(p.KeyID, *p.BudgetUSD, spent, p.BudgetPeriod, x.at)))
			return
		}
	}
	if g.o.Limiter != nil {
		lim := p.Limits
		lim.Budget, lim.BudgetPeriod, lim.BudgetStart = p.BudgetUSD, p.BudgetPeriod, acct.Start
		t, err := g.o.Limiter.Admit(x.r.Context(), p.KeyID, p.Name, lim)
		if err != nil {
			if e := apierr.As(err); e != nil {
				if e.Status == http.StatusTooManyRequests {
					g.denied(events.KindRateLimited, x.id, p, model, e.Message)
					if g.o.Metrics != nil {
						g.o.Metrics.RateLimited(p.Name)
					}
				}
				x.fail(e)
			} else {
				x.status, x.errMsg = statusClientClosed, "client left while queued"
			}
			return
		}
		x.ticket = t
		t.SetHeaders(x.w.Header())
	}
	if g.o.Replayer != nil {
		if x.replay() || !resolve() {
			return
		}
	}
	x.take = g.o.Recorder.Begin(x.r.URL.Path, x.r.Method, x.r.Header, x.body)
	if x.ep == provider.Responses {
		if targets, aerr = x.continueResponse(targets); aerr != nil {
			x.fail(aerr)
			return
		}
	}
	if aerr := x.translateIfNeeded(targets); aerr != nil {
		x.fail(aerr)
		return
	}
	x.started = true
	g.state.begin(x)
	call := &provider.Call{Endpoint: x.ep, ClientModel: model, Body: x.body, Stream: x.info.stream,
		IncludeUsage: x.info.includeUsage, Header: x.r.Header, Query: x.r.URL.RawQuery}
	if x.info.stream {
		x.serveStream(call, targets)
	} else {
		x.serveBody(call, targets)
	}
}

// translateIfNeeded makes the chat form of a Messages or Responses body once, before
// any attempt, when some target does not speak the client's dialect: a body the
// translation refuses is the client's error and must never count against a provider.
func (x *exchange) translateIfNeeded(targets []provider.Target) *apierr.Error {
	if x.codec == nil {
		return nil
	}
	for _, t := range targets {
		if provider.Serves(t.Provider, x.ep) {
			continue
		}
		chat, dropped, err := x.codec.toChat(x.body)
		if err != nil {
			if e := apierr.As(err); e != nil {
				return e
			}
			return apierr.BadRequest("", "%v", err)
		}
		x.chat, x.di.dropped = chat, dropped
		return nil
	}
	return nil
}

// do performs one attempt on t: relayed as bytes when t speaks the client's dialect,
// otherwise translated through chat and answered in the client's dialect.
func (x *exchange) do(ctx context.Context, t provider.Target, call *provider.Call) (*provider.Response, error) {
	x.enc, x.relayEnd = nil, nil // attempts run one after another: the last one is relayed
	if x.codec == nil || provider.Serves(t.Provider, x.ep) {
		call.Model = t.Model
		resp, err := t.Provider.Do(ctx, call)
		if err == nil && resp.Stream != nil && x.codec != nil && x.codec.relayEnd != nil {
			x.relayEnd = x.codec.relayEnd()
		}
		return resp, err
	}
	c := provider.Call{Endpoint: provider.Chat, Model: t.Model, ClientModel: call.ClientModel, Body: x.chat,
		Stream: call.Stream, IncludeUsage: true, Header: call.Header}
	resp, err := t.Provider.Do(ctx, &c)
	if err != nil {
		return nil, err
	}
	if resp.Stream != nil {
		enc, final := x.codec.encoder(call.ClientModel, x.body)
		es := &encodedStream{Stream: resp.Stream, enc: enc, onChunk: x.text.Add}
		if final != nil {
			es.onFinish = func() { x.keepResponse(t, final(), false) }
		}
		x.enc = enc
		return &provider.Response{Header: resp.Header, Stream: es, Dropped: resp.Dropped}, nil
	}
	body, ferr := x.codec.fromChat(x.body, resp.Body, call.ClientModel, resp.Usage)
	if ferr != nil {
		return nil, apierr.BadUpstream(t.Provider.Name(), "its answer could not be translated: "+ferr.Error())
	}
	return &provider.Response{Header: resp.Header, Body: body, Usage: resp.Usage, Dropped: resp.Dropped}, nil
}

// authenticate returns the caller, or the anonymous caller when auth is off.
func (g *Gateway) authenticate(r *http.Request) (*auth.Principal, *apierr.Error) {
	if !g.o.AuthEnabled || g.o.Auth == nil {
		return g.anon, nil
	}
	// Several Authorization headers are ambiguous (a proxy in front may read another
	// one than we do): refuse rather than pick one.
	if len(r.Header.Values("Authorization")) > 1 {
		return nil, apierr.InvalidAPIKey("Send exactly one Authorization header (Authorization: Bearer <key>), not several.")
	}
	authz, e := credential(r)
	if e != nil {
		return nil, e
	}
	return g.o.Auth.Authenticate(authz)
}

// credential is the client's key as an Authorization value. Anthropic's SDKs and
// Claude Code send the key as x-api-key (sometimes beside a Bearer token): either is
// accepted, two different keys are refused.
func credential(r *http.Request) (string, *apierr.Error) {
	authz := r.Header.Get("Authorization")
	keys := r.Header.Values("X-Api-Key")
	switch {
	case len(keys) == 0:
		return authz, nil
	case len(keys) > 1:
		return "", apierr.InvalidAPIKey("Send exactly one x-api-key header, not several.")
	case authz != "" && authz != "Bearer "+keys[0]:
		return "", apierr.InvalidAPIKey("The x-api-key and Authorization headers carry different keys; send one key (either header) or the same key in both.")
	}
	return "Bearer " + keys[0], nil
}

func (x *exchange) serveBody(call *provider.Call, targets []provider.Target) {
	res, err := x.g.o.Executor.Execute(x.r.Context(), x.id, targets,
		x.traced(func(ctx context.Context, t provider.Target) (*provider.Response, error) {
			return x.do(ctx, t, call)
		}))
	if err != nil {
		x.upstreamFailed(err)
		return
	}
	x.res = res
	resp := res.Response
	x.usage, x.respBody, x.upstreamT = resp.Usage, resp.Body, res.Upstream
	x.di.dropped = append(x.di.dropped, resp.Dropped...)
	x.native = resp.Raw
	if x.ep == provider.Responses {
		x.keepResponse(res.Target, resp.Body, resp.Raw)
	}
	h := x.w.Header()
	x.proxyHeaders(h, resp)
	x.overhead = time.Since(x.start) - res.Upstream
	// One backing array for the three values: h.Set allocates a slice per header.
	vals := []string{"application/json", strconv.Itoa(len(resp.Body)),
		strconv.FormatFloat(float64(x.overhead.Microseconds())/1000, 'f', 3, 64)}
	h["Content-Type"], h["Content-Length"], h["X-Runestone-Overhead-Ms"] = vals[0:1:1], vals[1:2:2], vals[2:3:3]
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(resp.Body)
	x.status = http.StatusOK
	x.take.Header(http.StatusOK, h)
	x.take.Body(resp.Body)
}

func (x *exchange) proxyHeaders(h http.Header, resp *provider.Response) {
	for k, v := range resp.Header {
		if strings.HasPrefix(k, "X-Ratelimit-") {
			// The caller's per-key limits own these names; the provider's are renamed.
			k = "X-Upstream-" + k[2:]
		}
		h[k] = v
	}
	h.Set("X-Runestone-Provider", x.res.Target.Provider.Name())
}

// upstreamFailed answers with the executor's final error.
func (x *exchange) upstreamFailed(err error) {
	if errors.Is(err, context.Canceled) || x.r.Context().Err() != nil {
		x.status, x.errMsg = statusClientClosed, "client disconnected"
		return
	}
	e := apierr.As(err)
	if e == nil {
		e = apierr.Internal(err)
	}
	x.fail(e)
}

// fail writes an error answer (headers not yet sent) in the client's dialect and
// records it (in the cassette too, when recording).
func (x *exchange) fail(e *apierr.Error) {
	if x.body == nil && x.r.ContentLength != 0 {
		// Refused before its body was read: close the connection rather than have
		// net/http read (and wait for) the rest of a body nobody wants.
		x.w.Header().Set("Connection", "close")
	}
	w := x.take.Writer(x.w)
	switch {
	case x.codec != nil && e.Body != nil:
		// A provider speaking the client's dialect refused: its own status and words.
		h := w.Header()
		for k, v := range e.Header {
			h[k] = v
		}
		h.Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		_, _ = w.Write(e.Body)
	case x.codec != nil:
		x.codec.writeError(w, e, x.id)
	default:
		apierr.Write(w, e)
	}
	x.status, x.errMsg, x.failErr = e.Status, e.Message, e
}

// streamFail ends a stream whose headers are out with the dialect's failure event(s),
// numbered after what the client already got: chat's data error object, the
// translating encoder's (response.failed, Messages' event: error), a native relay's
// follower's, or, when nothing in the dialect was sent yet, a fresh encoder's.
func (x *exchange) streamFail(sw *streamWriter, e *apierr.Error) {
	var f streamFailer
	switch {
	case x.codec == nil:
		sw.fail(e)
		return
	case x.enc != nil:
		f = x.enc
	case x.relayEnd != nil:
		f = x.relayEnd
	default:
		f, _ = x.codec.encoder(x.info.model, x.body)
	}
	sw.failFrames(f.Fail(nil, e))
}

// primed replays the first chunk an attempt already read, so a stream that fails
// before its first event is still a failed attempt the executor can retry.
type primed struct {
	provider.Stream
	first []byte
}

func (p *primed) Next() ([]byte, error) {
	if f := p.first; f != nil {
		p.first = nil
		return f, nil
	}
	return p.Stream.Next()
}

func (x *exchange) serveStream(call *provider.Call, targets []provider.Target) {
	g := x.g
	sw := newStreamWriter(x.w, g.o.KeepAlive, g.o.StreamIdle)
	defer sw.stop()
	if x.take != nil {
		sw.tap = x.take.Frame
	}
	res, err := g.o.Executor.Execute(x.r.Context(), x.id, targets,
		x.traced(func(ctx context.Context, t provider.Target) (*provider.Response, error) {
			resp, err := x.do(ctx, t, call)
			if err != nil {
				return nil, err
			}
			first, err := firstEvent(resp.Stream, g.o.StreamIdle, t.Provider.Name())
			if err != nil {
				_ = resp.Stream.Close()
				if err == io.EOF {
					err = apierr.BadUpstream(t.Provider.Name(), "the stream ended without any event")
				}
				return nil, err
			}
			resp.Stream = &primed{Stream: resp.Stream, first: first}
			return resp, nil
		}))
	if err != nil {
		if !sw.headersSent() {
			x.upstreamFailed(err)
			return
		}
		e := apierr.As(err)
		if e == nil {
			e = apierr.Internal(err)
		}
		x.enc, x.relayEnd = nil, nil // the failed attempts' own: nothing of theirs went out
		x.streamFail(sw, e)
		x.status, x.errMsg = e.Status, e.Message
		return
	}
	x.res = res
	x.native = res.Response.Raw
	x.di.dropped = append(x.di.dropped, res.Response.Dropped...)
	stream := res.Response.Stream
	defer stream.Close()
	sw.begin(func(h http.Header) {
		x.proxyHeaders(h, res.Response)
		x.take.Header(http.StatusOK, h)
	}, stream.Close)
	x.status = http.StatusOK
	streamErr := x.relay(sw, stream)
	res.Finish(streamErr)
	x.usage = stream.Usage()
	x.upstreamT = res.Upstream
}

// relay copies events until the upstream ends, fails or the client leaves.
func (x *exchange) relay(sw *streamWriter, stream provider.Stream) error {
	ctx := x.r.Context()
	lastProgress := x.start
	for {
		chunk, err := stream.Next()
		if err == io.EOF {
			if x.codec == nil {
				sw.done()
			} else {
				sw.end()
			}
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				x.status, x.errMsg = statusClientClosed, "client disconnected mid-stream"
				return ctx.Err()
			}
			e := apierr.As(err)
			if sw.idled() {
				e = &apierr.Error{Status: http.StatusGatewayTimeout, Type: apierr.TypeServer, Code: "stream_idle_timeout",
					Message: "the upstream sent nothing for " + x.g.o.StreamIdle.String() + "; the stream was ended"}
			} else if e == nil {
				e = apierr.Unreachable(x.res.Target.Provider.Name(), err)
			}
			x.streamFail(sw, e)
			x.status, x.errMsg = e.Status, e.Message
			return e
		}
		if x.chunks == 0 {
			x.ttft = time.Since(x.start)
		}
		x.chunks++
		if x.codec != nil {
			if x.native && x.ep == provider.Responses && bytes.HasPrefix(chunk, completedEvent) {
				x.keepResponse(x.res.Target, []byte(gjson.GetBytes(frameData(chunk), "response").Raw), true)
			}
			if !sw.frame(chunk) {
				x.status, x.errMsg = statusClientClosed, "client disconnected mid-stream"
				return context.Canceled
			}
			if x.native {
				x.text.AddText(x.codec.text(chunk))
				if x.relayEnd != nil {
					x.relayEnd.See(chunk)
				}
			}
		} else {
			if !sw.event(chunk) {
				x.status, x.errMsg = statusClientClosed, "client disconnected mid-stream"
				return context.Canceled
			}
			x.text.Add(chunk)
		}
		if x.chunks == 1 {
			// The first event is out: now the attempt's report (event bus) may run.
			x.res.Started()
		}
		if x.g.o.Bus.Active() {
			if now := time.Now(); now.Sub(lastProgress) > 250*time.Millisecond {
				lastProgress = now
				x.g.progress(x)
			}
		}
	}
}
