// Package anthropic is the provider for Anthropic's Messages API. It translates OpenAI
// Chat Completions (and legacy Completions) requests into Messages requests and the
// answers, streamed or not, back into OpenAI's wire format, so an OpenAI SDK talks to
// Claude through the gateway without noticing.
package anthropic

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/dialect/messages"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/sjson"
)

// DefaultBaseURL is Anthropic's API root; requests go to {base}/v1/messages.
const DefaultBaseURL = "https://api.anthropic.com"

// apiVersion is the only stable Messages API version.
const apiVersion = "2023-06-01"

// maxErrorBody bounds how much of an upstream error body is read: errors are small, and
// a misbehaving proxy must not make us buffer megabytes.
const maxErrorBody = 64 << 10

// DefaultModels are the Claude model ids and aliases served when the provider is
// enabled by ANTHROPIC_API_KEY alone.
var DefaultModels = []string{
	"claude-opus-4-5",
	"claude-opus-4-1",
	"claude-opus-4-0",
	"claude-sonnet-4-5",
	"claude-sonnet-4-0",
	"claude-haiku-4-5",
	"claude-3-7-sonnet-latest",
	"claude-3-5-haiku-latest",
}

// Options configure a Provider.
type Options struct {
	Name    string // unique provider name; "anthropic" when empty
	BaseURL string // DefaultBaseURL when empty
	APIKey  string
	Models  []string // DefaultModels when nil
	// Timeout bounds the wait for the response headers, not the whole answer: a long
	// stream must not be cut off. 0 means no limit.
	Timeout time.Duration
	// Headers are extra upstream request headers (anthropic-beta and the like).
	Headers map[string]string
	// Transport carries the requests; nil means a tuned transport of the provider's own.
	Transport http.RoundTripper
	// DefaultMaxTokens is max_tokens when the client sets none; 0 means the per-model table.
	DefaultMaxTokens int
	// Catalog serves names beyond Models (the "claude-*" family and the list learned
	// from GET {base}/v1/models); nil serves Models only.
	Catalog *provider.Catalog
}

// Provider is an Anthropic upstream. It is safe for concurrent use.
type Provider struct {
	name      string
	url       string // full Messages endpoint
	key       string
	models    []string
	timeout   time.Duration
	headers   map[string]string
	maxTokens int
	client    *http.Client
	transport http.RoundTripper
	// version is the anthropic-version a translated request goes out with (a
	// configured header's, else apiVersion); noSampling is set when that version
	// refuses temperature, top_p and top_k.
	version    string
	noSampling bool
	base       string
	catalog    *provider.Catalog
}

var _ provider.Provider = (*Provider)(nil)

// secrets are what an upstream error message must never carry back to a client or
// the log: the API key and configured header values.
func (p *Provider) secrets() []string {
	out := make([]string, 0, 1+len(p.headers))
	out = append(out, p.key)
	for _, v := range p.headers {
		out = append(out, v)
	}
	return out
}

// New returns a Provider for o.
func New(o Options) *Provider {
	p := &Provider{
		name:      o.Name,
		url:       strings.TrimRight(o.BaseURL, "/") + "/v1/messages",
		key:       o.APIKey,
		models:    o.Models,
		timeout:   o.Timeout,
		headers:   o.Headers,
		maxTokens: o.DefaultMaxTokens,
		transport: o.Transport,
		base:      strings.TrimRight(cmp.Or(o.BaseURL, DefaultBaseURL), "/"),
		catalog:   o.Catalog,
	}
	if p.name == "" {
		p.name = "anthropic"
	}
	if o.BaseURL == "" {
		p.url = DefaultBaseURL + "/v1/messages"
	}
	if p.models == nil {
		p.models = DefaultModels
	}
	if p.transport == nil {
		p.transport = provider.NewTransport(o.Timeout)
	}
	p.version = apiVersion
	for k, v := range p.headers {
		if strings.EqualFold(k, "anthropic-version") {
			p.version = v
		}
	}
	p.noSampling = refusesSampling(p.version)
	// No client Timeout: it would cut streams off. The header wait is bounded in send.
	p.client = &http.Client{Transport: p.transport}
	return p
}

// Name returns the configured provider name.
func (p *Provider) Name() string { return p.name }

// Kind returns "anthropic".
func (p *Provider) Kind() string { return "anthropic" }

// Models returns the client-visible model names.
func (p *Provider) Models() []string { return p.models }

// ServesModel implements provider.ModelMatcher through the catalog.
func (p *Provider) ServesModel(model string) bool { return p.catalog.Serves(model) }

// Catalog implements provider.ModelLister.
func (p *Provider) Catalog() *provider.Catalog { return p.catalog }

// ListModels implements provider.ModelLister: GET {base}/v1/models, every page.
func (p *Provider) ListModels(ctx context.Context) ([]string, error) {
	h := http.Header{}
	h.Set("anthropic-version", apiVersion)
	for k, v := range p.headers {
		h.Set(k, v)
	}
	h.Set("x-api-key", p.key)
	ids, err := provider.ListModelIDs(ctx, p.client, p.base+"/v1/models?limit=1000", h)
	if err != nil {
		return nil, apierr.Unreachable(p.name, err).Redact(p.secrets())
	}
	return ids, nil
}

// MaxTokensDefault is the max_tokens sent for model when the client sets none: the
// configured DefaultMaxTokens, else the per-model table.
func (p *Provider) MaxTokensDefault(model string) int {
	if p.maxTokens > 0 {
		return p.maxTokens
	}
	return defaultMaxTokens(model)
}

// CloseIdleConnections drops pooled upstream connections (shutdown, tests).
func (p *Provider) CloseIdleConnections() { p.client.CloseIdleConnections() }

// Do performs one attempt of call.
func (p *Provider) Do(ctx context.Context, call *provider.Call) (*provider.Response, error) {
	var (
		body []byte
		err  *apierr.Error
		text bool
	)
	switch call.Endpoint {
	case provider.Chat:
		body, err = buildChatRequest(call.Body, call.Model, call.Stream, p.MaxTokensDefault(call.Model))
	case provider.Completions:
		text = true
		body, err = buildCompletionRequest(call.Body, call.Model, call.Stream, p.MaxTokensDefault(call.Model))
	case provider.Embeddings:
		err = &apierr.Error{Status: http.StatusBadRequest, Type: apierr.TypeInvalidRequest, Param: "model",
			Message: fmt.Sprintf("provider %s (anthropic) does not offer embeddings", p.name)}
	case provider.Messages, provider.CountTokens:
		return p.relay(ctx, call)
	default:
		err = apierr.BadRequest("", "provider %s (anthropic) does not serve %s", p.name, call.Endpoint)
	}
	if err != nil {
		err.Provider = p.name
		return nil, err
	}
	var dropped []string
	if p.noSampling {
		body, dropped = stripSampling(body, p.version)
	}

	resp, cancel, serr := p.send(ctx, p.url, body, nil)
	if serr != nil {
		return nil, serr
	}
	hdr := forwardHeaders(resp.Header, time.Now())
	if resp.StatusCode/100 != 2 {
		return nil, p.upstreamError(resp, cancel, hdr, false)
	}
	model := call.ClientModel
	if model == "" {
		model = call.Model
	}
	if call.Stream {
		return &provider.Response{Header: hdr, Stream: newStream(ctx, resp.Body, cancel, p.name, model, call.IncludeUsage, text),
			Dropped: dropped}, nil
	}
	defer cancel()
	defer resp.Body.Close()
	// The answer must arrive within the header timeout too: headers then silence
	// would otherwise hold the request and its slot for ever.
	raw, rerr := provider.ReadAnswer(ctx, resp, p.timeout, p.name)
	if rerr != nil {
		if apierr.As(rerr) != nil {
			return nil, rerr
		}
		return nil, p.transportError(ctx, rerr)
	}
	out, usage, terr := translateResponse(raw, model, time.Now().Unix(), text)
	if terr != nil {
		terr.Provider = p.name
		return nil, terr
	}
	return &provider.Response{Header: hdr, Body: out, Usage: usage, Dropped: dropped}, nil
}

// errHeaderTimeout is the cause set when the upstream took longer than Timeout to answer.
var errHeaderTimeout = errors.New("timed out waiting for response headers")

// Serves implements provider.Relayer: Messages requests are relayed byte for byte.
func (p *Provider) Serves(ep provider.Endpoint) bool {
	return ep == provider.Messages || ep == provider.CountTokens
}

// relay sends a Messages (or count_tokens) request as the client wrote it: only the
// model is rewritten when aliased, the client's anthropic-* headers (version, the open
// list of betas) go along as sent, and the answer comes back as bytes or SSE frames.
func (p *Provider) relay(ctx context.Context, call *provider.Call) (*provider.Response, error) {
	body := call.Body
	if call.Endpoint == provider.Messages {
		// Thinking blocks another provider produced (unsigned) would be refused here.
		body, _ = messages.StripUnsignedThinking(body)
	}
	if call.Model != call.ClientModel {
		var err error
		if body, err = sjson.SetBytes(body, "model", call.Model); err != nil {
			return nil, apierr.Internal(err)
		}
	}
	url := p.url
	if call.Endpoint == provider.CountTokens {
		url += "/count_tokens"
	}
	if call.Query != "" {
		url += "?" + call.Query
	}
	resp, cancel, serr := p.send(ctx, url, body, func(h http.Header) {
		for k, v := range call.Header {
			if len(k) > 10 && strings.EqualFold(k[:10], "anthropic-") {
				h[k] = v
			}
		}
	})
	if serr != nil {
		return nil, serr
	}
	hdr := forwardHeaders(resp.Header, time.Now())
	if resp.StatusCode/100 != 2 {
		return nil, p.upstreamError(resp, cancel, hdr, true)
	}
	if call.Stream && call.Endpoint == provider.Messages {
		return &provider.Response{Header: hdr, Raw: true,
			Stream: provider.NewFrameStream(p.name, resp.Body, &messages.UsageScanner{}, p.secrets(), cancel)}, nil
	}
	defer cancel()
	raw, rerr := provider.ReadAnswer(ctx, resp, p.timeout, p.name)
	if rerr != nil {
		return nil, rerr
	}
	if call.Model != call.ClientModel && call.Endpoint == provider.Messages {
		raw, _ = sjson.SetBytes(raw, "model", call.ClientModel)
	}
	r := &provider.Response{Header: hdr, Body: raw, Raw: true}
	if call.Endpoint == provider.Messages {
		r.Usage = messages.BodyUsage(raw)
	}
	return r, nil
}

// upstreamError reads and maps a refusal (redacted, bounded). native keeps the body
// itself: a client speaking Messages gets Anthropic's own words and status.
func (p *Provider) upstreamError(resp *http.Response, cancel context.CancelFunc, hdr http.Header, native bool) *apierr.Error {
	defer cancel()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := mapHTTPError(p.name, resp.StatusCode, raw, resp.Header)
	if native && e.Status == resp.StatusCode {
		e.Body = raw
	}
	e = e.Redact(p.secrets())
	e.Header = hdr
	return e
}

// send posts body to url (the Messages endpoint or its count_tokens). extra, when set,
// adds the headers a native relay forwards; configured headers and the key are set
// after it. On success the returned cancel must be called once the body is done with;
// it also ends the header timer.
func (p *Provider) send(ctx context.Context, url string, body []byte, extra func(http.Header)) (*http.Response, context.CancelFunc, error) {
	rctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(context.Canceled) }
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, nil, &apierr.Error{Status: http.StatusInternalServerError, Type: apierr.TypeServer,
			Message: fmt.Sprintf("provider %s has an invalid base URL", p.name), Provider: p.name,
			Cause: fmt.Errorf("build anthropic request: %w", err)}
	}
	h := req.Header
	h.Set("anthropic-version", apiVersion) // configured headers may pin another version
	h.Set("accept", "application/json")
	if extra != nil {
		extra(h) // the client's own anthropic-version and betas win over the default
	}
	for k, v := range p.headers {
		if extra != nil && h.Get(k) != "" && strings.EqualFold(k, "anthropic-beta") {
			h.Add(k, v) // betas are an open list: the operator's join the client's
			continue
		}
		h.Set(k, v)
	}
	h.Set("x-api-key", p.key)
	h.Set("content-type", "application/json")

	// The timer bounds only the wait for headers, whatever transport is in use (a
	// caller's Transport has no ResponseHeaderTimeout of ours).
	var timer *time.Timer
	if p.timeout > 0 {
		timer = time.AfterFunc(p.timeout, func() { cancelCause(errHeaderTimeout) })
	}
	resp, err := p.client.Do(req)
	if timer != nil && !timer.Stop() && err == nil {
		// The timer fired just as the headers arrived: the body is already doomed.
		resp.Body.Close()
		err = errHeaderTimeout
	}
	if err != nil {
		cancel()
		if errors.Is(context.Cause(rctx), errHeaderTimeout) && ctx.Err() == nil {
			err = errHeaderTimeout
		}
		return nil, nil, p.transportError(ctx, err)
	}
	return resp, cancel, nil
}

// transportError classifies a failure to talk to the upstream. A client that went away
// is not the upstream's fault and must not count against its breaker or be retried.
func (p *Provider) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("anthropic request: %w", ctx.Err())
	}
	msg := fmt.Sprintf("could not reach provider %s (anthropic)", p.name)
	if errors.Is(err, errHeaderTimeout) || isTimeout(err) {
		msg = fmt.Sprintf("provider %s (anthropic) timed out", p.name)
	}
	return &apierr.Error{Status: http.StatusBadGateway, Type: apierr.TypeServer, Code: apierr.CodeProviderUnavailable,
		Message: msg, Retryable: true, Provider: p.name, Cause: fmt.Errorf("anthropic request: %w", err)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
