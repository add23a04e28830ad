// Package openai is the pass-through provider for any OpenAI-compatible API (OpenAI,
// Ollama, vLLM, LM Studio, Groq, ...). Bodies are never unmarshalled and re-marshalled:
// only "model" is rewritten and, for streams, stream_options.include_usage forced on so
// usage can be counted; everything else reaches the upstream and the client untouched.
package openai

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/dialect/responses"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/sjson"
)

// Options configure one OpenAI-compatible upstream.
type Options struct {
	Name    string
	BaseURL string // e.g. https://api.openai.com/v1
	APIKey  string // sent as Bearer when set
	Models  []string
	Timeout time.Duration // time to the upstream's response headers
	Headers map[string]string
	// Responses says the upstream natively serves the Responses API (/responses,
	// /responses/input_tokens and /responses/compact); requests in that dialect are
	// then relayed byte for byte instead of translated to chat.
	Responses bool
	// Transport overrides the tuned default (tests).
	Transport http.RoundTripper
	// Catalog serves names beyond Models (a family such as "gpt-*" and the list
	// learned from GET {base}/models); nil serves Models only.
	Catalog *provider.Catalog
}

// DefaultModels are served when OPENAI_API_KEY enables the built-in provider.
var DefaultModels = []string{
	"gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini",
	"gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-3.5-turbo-instruct",
	"text-embedding-3-small", "text-embedding-3-large",
}

// maxErrorBody caps how much of an upstream error body is read.
const maxErrorBody = 1 << 20

// Provider relays to one OpenAI-compatible upstream.
type Provider struct {
	o      Options
	client *http.Client
	urls   [provider.ResponsesCompact + 1]string // per provider.Endpoint
	header http.Header
	// secrets are what an upstream error must never carry back: the API key and the
	// extra header values.
	secrets []string
}

// New returns a Provider.
func New(o Options) *Provider {
	rt := o.Transport
	if rt == nil {
		rt = provider.NewTransport(o.Timeout)
	}
	p := &Provider{o: o, client: &http.Client{Transport: rt}, header: http.Header{}}
	p.urls[provider.Chat] = o.BaseURL + "/chat/completions"
	p.urls[provider.Completions] = o.BaseURL + "/completions"
	p.urls[provider.Embeddings] = o.BaseURL + "/embeddings"
	p.urls[provider.Responses] = o.BaseURL + "/responses"
	p.urls[provider.InputTokens] = o.BaseURL + "/responses/input_tokens"
	p.urls[provider.ResponsesCompact] = o.BaseURL + "/responses/compact"
	p.header.Set("Content-Type", "application/json")
	if o.APIKey != "" {
		p.header.Set("Authorization", "Bearer "+o.APIKey)
		p.secrets = append(p.secrets, o.APIKey)
	}
	for k, v := range o.Headers {
		p.header.Set(k, v)
		p.secrets = append(p.secrets, v)
	}
	p.secrets = append(p.secrets, urlSecrets(o.BaseURL)...)
	return p
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return p.o.Name }

// Kind implements provider.Provider.
func (p *Provider) Kind() string { return "openai" }

// Models implements provider.Provider.
func (p *Provider) Models() []string { return p.o.Models }

// ServesModel implements provider.ModelMatcher through the catalog.
func (p *Provider) ServesModel(model string) bool { return p.o.Catalog.Serves(model) }

// Catalog implements provider.ModelLister.
func (p *Provider) Catalog() *provider.Catalog { return p.o.Catalog }

// ListModels implements provider.ModelLister: GET {base}/models.
func (p *Provider) ListModels(ctx context.Context) ([]string, error) {
	h := p.header.Clone()
	h.Del("Content-Type")
	ids, err := provider.ListModelIDs(ctx, p.client, p.o.BaseURL+"/models", h)
	if err != nil {
		return nil, apierr.Unreachable(p.o.Name, err).Redact(p.secrets)
	}
	return ids, nil
}

// Serves implements provider.Relayer.
func (p *Provider) Serves(ep provider.Endpoint) bool {
	return p.o.Responses && (ep == provider.Responses || ep == provider.InputTokens || ep == provider.ResponsesCompact)
}

// Do implements provider.Provider.
func (p *Provider) Do(ctx context.Context, call *provider.Call) (*provider.Response, error) {
	body, err := p.upstreamBody(call)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.urls[call.Endpoint], bytes.NewReader(body))
	if err != nil {
		return nil, apierr.Internal(err)
	}
	for k, v := range p.header {
		req.Header[k] = v
	}
	if call.Stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	raw := call.Endpoint == provider.Responses || call.Endpoint == provider.InputTokens || call.Endpoint == provider.ResponsesCompact
	if raw {
		if v := call.Header.Values("Openai-Beta"); len(v) > 0 {
			req.Header["Openai-Beta"] = v
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The transport's error quotes the URL: redact what the base URL carries.
		return nil, apierr.Unreachable(p.o.Name, err).Redact(p.secrets)
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		e := apierr.FromUpstream(p.o.Name, resp.StatusCode, resp.Header, b)
		if raw && e.Status == resp.StatusCode {
			e.Body = b // same dialect: the client gets the upstream's own words
		}
		return nil, e.Redact(p.secrets)
	}
	fwd := forwardHeaders(resp.Header)
	if raw {
		return p.relay(ctx, call, resp, fwd)
	}
	if call.Stream {
		return &provider.Response{Header: fwd, Stream: newStream(p.o.Name, call, resp.Body, p.secrets)}, nil
	}
	b, err := provider.ReadAnswer(ctx, resp, p.o.Timeout, p.o.Name)
	if err != nil {
		return nil, err
	}
	if jsonx.CheckDepth(b, provider.MaxAnswerDepth) != nil || !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return nil, apierr.BadUpstream(p.o.Name, "the body is not a JSON object")
	}
	if call.Model != call.ClientModel {
		b, _ = sjson.SetBytes(b, "model", call.ClientModel)
	}
	if call.Endpoint == provider.Embeddings {
		b = ensureBase64(call.Body, b)
	}
	return &provider.Response{Header: fwd, Body: b, Usage: ParseUsage(b)}, nil
}

// relay answers a native Responses call: the body or the SSE frames as the upstream
// sent them, with usage read on the way.
func (p *Provider) relay(ctx context.Context, call *provider.Call, resp *http.Response, fwd http.Header) (*provider.Response, error) {
	if call.Stream {
		return &provider.Response{Header: fwd, Raw: true,
			Stream: provider.NewFrameStream(p.o.Name, resp.Body, &responses.UsageScanner{}, p.secrets, nil)}, nil
	}
	b, err := provider.ReadAnswer(ctx, resp, p.o.Timeout, p.o.Name)
	if err != nil {
		return nil, err
	}
	if call.Model != call.ClientModel && call.Endpoint == provider.Responses {
		b, _ = sjson.SetBytes(b, "model", call.ClientModel)
	}
	return &provider.Response{Header: fwd, Body: b, Raw: true, Usage: responses.BodyUsage(b)}, nil
}

// upstreamBody rewrites only what must change; the client's bytes are never edited in place.
func (p *Provider) upstreamBody(call *provider.Call) ([]byte, error) {
	body := call.Body
	var err error
	if call.Model != call.ClientModel {
		if body, err = sjson.SetBytes(body, "model", call.Model); err != nil {
			return nil, err
		}
	}
	if call.Stream && !call.IncludeUsage && (call.Endpoint == provider.Chat || call.Endpoint == provider.Completions) {
		if body, err = sjson.SetBytes(body, "stream_options.include_usage", true); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// ParseUsage reads an OpenAI usage object from a body or chunk, with the model that
// answered and its service tier, using the one chat reader.
func ParseUsage(b []byte) provider.Usage { return usage.ChatAnswer(b) }

// forwarded are upstream headers the client benefits from seeing.
var forwarded = []string{
	"X-Request-Id", "Openai-Processing-Ms", "Openai-Model",
	"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests",
	"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens",
}

func forwardHeaders(h http.Header) http.Header {
	var out http.Header
	for _, k := range forwarded {
		if v := h.Values(k); len(v) > 0 {
			if out == nil {
				out = make(http.Header, 4)
			}
			if k == "X-Request-Id" {
				// The gateway's own x-request-id wins; keep the upstream's beside it.
				out["X-Upstream-Request-Id"] = v
				continue
			}
			if len(k) > 12 && k[:12] == "X-Ratelimit-" {
				// Per-key limits use these names; the provider's own limits are renamed.
				out["X-Upstream-"+k[2:]] = v
				continue
			}
			out[k] = v
		}
	}
	return out
}

// urlSecrets are the credentials a base URL may carry: userinfo and query values.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		out = append(out, u.User.Username())
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw)
		}
	}
	for _, vs := range u.Query() {
		out = append(out, vs...)
	}
	return out
}

// DeleteResponse implements provider.ResponseDeleter: DELETE {base}/responses/{id} on
// an upstream that serves the Responses API natively (others keep no state). An id
// the upstream does not know (404) is already gone.
func (p *Provider) DeleteResponse(ctx context.Context, id string) error {
	if !p.o.Responses {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, p.urls[provider.Responses]+"/"+url.PathEscape(id), nil)
	if err != nil {
		return apierr.Internal(err)
	}
	for k, v := range p.header {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return apierr.Unreachable(p.o.Name, err).Redact(p.secrets)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode < 300 || resp.StatusCode == http.StatusNotFound {
		return nil
	}
	return apierr.FromUpstream(p.o.Name, resp.StatusCode, resp.Header, b).Redact(p.secrets)
}
