package gateway

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
)

var fallbackTokens = sync.OnceValue(usage.NewEstimator)

// countTokens serves /v1/messages/count_tokens and /v1/responses/input_tokens: relayed to
// the model's first provider when it has the endpoint natively, otherwise estimated with
// the tokenizer, so a client never sees a 404 for a counter it may call before every turn.
// Counting is free upstream but not for the gateway (a tokenizer over a body of up to
// max_body_bytes): it passes auth and the model allow-list, and counts against the key's
// rpm, rph and concurrency like every /v1 request, never against its TPM or budget.
func (g *Gateway) countTokens(ep provider.Endpoint) http.HandlerFunc {
	inbound := codecs[provider.Messages]
	if ep == provider.InputTokens {
		inbound = codecs[provider.Responses]
	}
	return func(w http.ResponseWriter, r *http.Request) {
		id := reqIDFrom(w)
		p, e := g.authenticate(r)
		if e != nil {
			inbound.writeError(w, e, id)
			return
		}
		body, e := readBody(w, r, g.o.MaxBodyBytes, g.o.BodyTimeout)
		if e == nil && !gjson.ValidBytes(body) {
			e = apierr.BadRequest("", "The request body is not valid JSON.")
		}
		if e != nil {
			inbound.writeError(w, e, id)
			return
		}
		model := gjson.GetBytes(body, "model").String()
		if model == "" && ep == provider.CountTokens {
			inbound.writeError(w, apierr.BadRequest("model", "model: Field required"), id)
			return
		}
		var targets []provider.Target
		if model != "" {
			if !p.Allows(model) {
				inbound.writeError(w, apierr.ModelNotAllowed(model), id)
				return
			}
			if targets = g.o.Router.Resolve(model); len(targets) == 0 {
				inbound.writeError(w, g.o.Router.NotFound(model), id)
				return
			}
		}
		t, e := g.admitCount(r, id, p, model)
		if e != nil {
			if e.Status != statusClientClosed {
				inbound.writeError(w, e, id)
			}
			return
		}
		if t != nil {
			defer t.Release(0)
			t.SetHeaders(w.Header())
		}
		if len(targets) > 0 && provider.Serves(targets[0].Provider, ep) {
			t := targets[0]
			resp, err := t.Provider.Do(r.Context(), &provider.Call{Endpoint: ep, Model: t.Model, ClientModel: model,
				Body: body, Header: r.Header, Query: r.URL.RawQuery})
			if err == nil {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
				_, _ = w.Write(resp.Body)
				return
			}
			if e := apierr.As(err); e != nil && e.Body != nil && e.Status < 500 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(e.Status)
				_, _ = w.Write(e.Body)
				return
			}
			// The provider is down or unreachable: an estimate beats an error here.
		}
		est := g.o.Tokens
		if est == nil {
			est = fallbackTokens()
		}
		n, err := inbound.estimate(est, body)
		if err != nil {
			inbound.writeError(w, apierr.BadRequest("", "%v", err), id)
			return
		}
		out := make([]byte, 0, 64)
		if ep == provider.InputTokens {
			out = append(out, `{"object":"response.input_tokens","input_tokens":`...)
		} else {
			out = append(out, `{"input_tokens":`...)
		}
		out = append(strconv.AppendInt(out, int64(n), 10), '}')
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Runestone-Estimated", "true")
		_, _ = w.Write(out)
	}
}

// root answers the connectivity probes agents send before their first call (Claude
// Code's HEAD /): a small, cheap 200 that needs no key.
func (g *Gateway) root(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write([]byte(`{"name":"runestone","status":"ok","endpoints":["/v1/chat/completions","/v1/messages","/v1/responses","/v1/completions","/v1/embeddings","/v1/models"]}` + "\n"))
}

// responsesUpgrade refuses the Responses API's WebSocket mode at once, in a form the
// clients read as "no WebSocket here" and fall back to SSE on the same URL without
// retrying the upgrade.
func (g *Gateway) responsesUpgrade(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") == "" {
		g.methodNotAllowed("POST")(w, r)
		return
	}
	// Refused like every early refusal: with its log row, metric and event.
	g.refuse(w, r, &apierr.Error{Status: http.StatusUpgradeRequired, Type: apierr.TypeInvalidRequest, Code: "websocket_unsupported",
		Message: "Runestone serves the Responses API over HTTP + SSE only: POST /v1/responses with \"stream\": true."})
}

// admitCount takes a limiter slot for a token count: the key's request windows and
// concurrency, with no TPM and no budget (a count costs no tokens and no money), so
// its release books nothing. nil without a limiter; a client that left while queued
// gets an error with statusClientClosed, which is not written.
func (g *Gateway) admitCount(r *http.Request, id string, p *auth.Principal, model string) (limits.Admission, *apierr.Error) {
	if g.o.Limiter == nil {
		return nil, nil
	}
	lim := limits.Limits{RPM: p.Limits.RPM, RPH: p.Limits.RPH, Concurrent: p.Limits.Concurrent}
	t, err := g.o.Limiter.Admit(r.Context(), p.KeyID, p.Name, lim)
	if err == nil {
		return t, nil
	}
	e := apierr.As(err)
	if e == nil {
		return nil, &apierr.Error{Status: statusClientClosed, Message: "client left while queued"}
	}
	if e.Status == http.StatusTooManyRequests {
		g.denied(events.KindRateLimited, id, p, model, e.Message)
		if g.o.Metrics != nil {
			g.o.Metrics.RateLimited(p.Name)
		}
	}
	return nil, e
}
