// Package adminapi is the admin API of a running gateway, from both sides: the paths
// the gateway serves it on, and the Client that `runestone top`, `providers list` and
// the dashboard use to read it. The payloads are the events package's types (State,
// Event, RequestDetail, ProviderState), so a command never reaches into the gateway.
//
// Every path but /health requires the admin key when one is configured, sent as a
// Bearer token.
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/sse"
)

// The admin API's paths.
const (
	// PathState answers an events.State: the dashboard's starting point.
	PathState = "/admin/state"
	// PathEvents is an SSE stream of events.Event, one JSON object per data field.
	PathEvents = "/admin/events"
	// PathRequests + id answers one logged request as an events.RequestDetail, or 404
	// with an OpenAI error envelope when the request log does not hold it.
	PathRequests = "/admin/requests/"
	// PathProviders answers ProvidersBody: each provider's breaker, latency and errors.
	PathProviders = "/health/providers"
	// PathProviderInfo answers []ProviderInfo: what each provider of the running
	// gateway is configured to serve (never its key).
	PathProviderInfo = "/admin/providers"
	// PathProviderTest (POST, ?name= for one) has the gateway send each of its
	// providers one minimal request, with its own keys, and answers []ProbeResult.
	PathProviderTest = "/admin/providers/test"
)

// ProviderInfo is one provider as the running gateway has it configured.
type ProviderInfo struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	BaseURL  string   `json:"base_url,omitempty"` // credentials masked
	Priority int      `json:"priority"`
	KeySet   bool     `json:"key_set"`
	Models   []string `json:"models"`
	// Patterns are the name families served besides Models ("claude-*"); Learned
	// counts the names read from the upstream's /v1/models (0 while none).
	Patterns []string `json:"patterns,omitempty"`
	Learned  int      `json:"learned,omitempty"`
}

// ProbeResult is one provider's answer to a minimal request.
type ProbeResult struct {
	Provider  string  `json:"provider"`
	Model     string  `json:"model"`
	Verdict   string  `json:"verdict"` // ok | auth failed | unreachable | model missing | error
	LatencyMS float64 `json:"latency_ms"`
	Detail    string  `json:"detail,omitempty"`
}

// ProvidersBody is the PathProviders answer.
type ProvidersBody struct {
	Providers []events.ProviderState `json:"providers"`
}

// eventBuffer is how many decoded events wait for the reader before the client stops
// reading (and TCP pushes back on the gateway, which then drops for this subscriber).
const eventBuffer = 1024

// Client reads a running gateway's admin API. Its Snapshot, Events and Detail methods
// are the dashboard's Source.
type Client struct {
	base string
	key  string
	hc   *http.Client
}

// New returns a client for the gateway at baseURL (e.g. http://127.0.0.1:4001).
// adminKey, when set, is sent as a Bearer token. A nil hc means a client without an
// overall timeout, since the event stream is long-lived: bound single calls with ctx.
func New(baseURL, adminKey string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), key: adminKey, hc: hc}
}

func (c *Client) get(ctx context.Context, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	return c.hc.Do(req)
}

// StatusError is a non-200 answer from the admin API.
type StatusError struct {
	Path    string
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.Path, e.Status, e.Message)
}

// Is makes a 401 or 403 match events.ErrUnauthorized, which the dashboard (that
// cannot import this package) checks to stop retrying.
func (e *StatusError) Is(target error) bool {
	return target == events.ErrUnauthorized && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// IsUnauthorized reports whether err is the gateway refusing the admin key: asking
// again with the same key cannot help.
func IsUnauthorized(err error) bool {
	return errors.Is(err, events.ErrUnauthorized)
}

// statusError turns a non-200 answer into an error that quotes the gateway's message.
func statusError(path string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var env struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		msg = env.Error.Message
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &StatusError{Path: path, Status: resp.StatusCode, Message: msg}
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.get(ctx, path, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, PathRequests) {
		return events.ErrRequestNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return statusError(path, resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// Snapshot reads PathState.
func (c *Client) Snapshot(ctx context.Context) (events.State, error) {
	var st events.State
	err := c.getJSON(ctx, PathState, &st)
	return st, err
}

// Detail reads one logged request; events.ErrRequestNotFound when the gateway has none.
func (c *Client) Detail(ctx context.Context, id string) (*events.RequestDetail, error) {
	var d events.RequestDetail
	if err := c.getJSON(ctx, PathRequests+url.PathEscape(id), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Providers reads PathProviders.
func (c *Client) Providers(ctx context.Context) ([]events.ProviderState, error) {
	var body ProvidersBody
	err := c.getJSON(ctx, PathProviders, &body)
	return body.Providers, err
}

// ProviderInfo reads PathProviderInfo.
func (c *Client) ProviderInfo(ctx context.Context) ([]ProviderInfo, error) {
	var out []ProviderInfo
	err := c.getJSON(ctx, PathProviderInfo, &out)
	return out, err
}

// TestProviders asks the gateway to probe its providers (name "" for all of them).
func (c *Client) TestProviders(ctx context.Context, name string) ([]ProbeResult, error) {
	path := PathProviderTest
	if name != "" {
		path += "?name=" + url.QueryEscape(name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(path, resp)
	}
	var out []ProbeResult
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return out, nil
}

// Events opens PathEvents and decodes each event into the channel, which closes when
// ctx ends or the stream breaks.
func (c *Client) Events(ctx context.Context) (<-chan events.Event, error) {
	resp, err := c.get(ctx, PathEvents, "text/event-stream")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError(PathEvents, resp)
	}
	ch := make(chan events.Event, eventBuffer)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		readEvents(ctx, resp.Body, ch)
	}()
	return ch, nil
}

// readEvents decodes SSE events from r into ch until EOF, an error or ctx ends.
// Comments (keep-alives), event names and ids are ignored; multi-line data is
// joined; an event that is not an events.Event is skipped (the next may be fine).
func readEvents(ctx context.Context, r io.Reader, ch chan<- events.Event) {
	sr := sse.NewReader(r)
	for {
		_, data, err := sr.Next()
		if err != nil {
			return
		}
		var e events.Event
		if json.Unmarshal(data, &e) != nil {
			continue
		}
		select {
		case ch <- e:
		case <-ctx.Done():
			return
		}
	}
}
