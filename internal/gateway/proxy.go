package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/resilience"
)

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
	text      textSink
	chunks    int
	overhead  time.Duration
	upstreamT time.Duration
}

func (g *Gateway) proxyHandler(ep provider.Endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x := &exchange{g: g, w: w, r: r, ep: ep, id: reqIDFrom(r.Context()), start: time.Now()}
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
	if x.info, aerr = inspect(x.body, x.ep); aerr != nil {
		x.fail(aerr)
		return
	}
	model := x.info.model
	if !p.Allows(model) {
		x.fail(apierr.ModelNotAllowed(model))
		return
	}
	targets := g.o.Router.Resolve(model)
	if len(targets) == 0 {
		x.fail(apierr.ModelNotFound(model))
		return
	}
	if p.BudgetUSD != nil && g.o.Spend.Exhausted(p.KeyID, *p.BudgetUSD) {
		g.denied(events.KindRateLimited, x.id, p, model, "budget exhausted")
		x.fail(apierr.InsufficientQuota("This key has spent its budget of $" +
			strconv.FormatFloat(*p.BudgetUSD, 'f', 2, 64) + ". Raise it with `runestone keys update " + p.KeyID + " --budget USD`."))
		return
	}
	if g.o.Limiter != nil {
		lim := p.Limits
		lim.Budget = p.BudgetUSD
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
	x.started = true
	g.state.begin(x)
	call := &provider.Call{Endpoint: x.ep, ClientModel: model, Body: x.body, Stream: x.info.stream,
		IncludeUsage: x.info.includeUsage, Header: x.r.Header}
	if x.info.stream {
		x.serveStream(call, targets)
	} else {
		x.serveBody(call, targets)
	}
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
	return g.o.Auth.Authenticate(r.Header.Get("Authorization"))
}

func (x *exchange) serveBody(call *provider.Call, targets []resilience.Target) {
	res, err := x.g.o.Executor.Execute(x.r.Context(), x.id, targets,
		func(ctx context.Context, t resilience.Target) (*provider.Response, error) {
			call.Model = t.Model
			return t.Provider.Do(ctx, call)
		})
	if err != nil {
		x.upstreamFailed(err)
		return
	}
	x.res = res
	resp := res.Response
	x.usage, x.respBody, x.upstreamT = resp.Usage, resp.Body, res.Upstream
	h := x.w.Header()
	x.proxyHeaders(h, resp)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	x.overhead = time.Since(x.start) - res.Upstream
	h.Set("X-Runestone-Overhead-Ms", strconv.FormatFloat(float64(x.overhead.Microseconds())/1000, 'f', 3, 64))
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(resp.Body)
	x.status = http.StatusOK
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

// fail writes an error answer (headers not yet sent) and records it.
func (x *exchange) fail(e *apierr.Error) {
	if x.body == nil && x.r.ContentLength != 0 {
		// Refused before its body was read: close the connection rather than have
		// net/http read (and wait for) the rest of a body nobody wants.
		x.w.Header().Set("Connection", "close")
	}
	apierr.Write(x.w, e)
	x.status, x.errMsg, x.failErr = e.Status, e.Message, e
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

func (x *exchange) serveStream(call *provider.Call, targets []resilience.Target) {
	g := x.g
	sw := newStreamWriter(x.w, g.o.KeepAlive, g.o.StreamIdle)
	defer sw.stop()
	res, err := g.o.Executor.Execute(x.r.Context(), x.id, targets,
		func(ctx context.Context, t resilience.Target) (*provider.Response, error) {
			call.Model = t.Model
			resp, err := t.Provider.Do(ctx, call)
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
		})
	if err != nil {
		if !sw.headersSent() {
			x.upstreamFailed(err)
			return
		}
		e := apierr.As(err)
		if e == nil {
			e = apierr.Internal(err)
		}
		sw.fail(e)
		x.status, x.errMsg = e.Status, e.Message
		return
	}
	x.res = res
	stream := res.Response.Stream
	defer stream.Close()
	sw.begin(func(h http.Header) { x.proxyHeaders(h, res.Response) }, stream.Close)
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
			sw.done()
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
			sw.fail(e)
			x.status, x.errMsg = e.Status, e.Message
			return e
		}
		if x.chunks == 0 {
			x.ttft = time.Since(x.start)
		}
		x.chunks++
		if !sw.event(chunk) {
			x.status, x.errMsg = statusClientClosed, "client disconnected mid-stream"
			return context.Canceled
		}
		x.text.add(chunk, x.g.captureLimit())
		if x.g.o.Bus.Active() {
			if now := time.Now(); now.Sub(lastProgress) > 250*time.Millisecond {
				lastProgress = now
				x.g.progress(x)
			}
		}
	}
}
