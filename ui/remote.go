package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/sse"
)

// remoteEventBuffer is how many decoded events wait for the dashboard before the
// reader blocks (and TCP pushes back on the gateway, which then drops for us).
const remoteEventBuffer = 1024

// NewRemoteSource returns a Source that talks to a running gateway's admin API at
// baseURL (e.g. http://127.0.0.1:4001): GET /admin/state, the SSE stream
// GET /admin/events and GET /admin/requests/{id}. adminKey, when set, is sent as a
// Bearer token. A nil client means one without an overall timeout (the event stream
// is long-lived).
func NewRemoteSource(baseURL, adminKey string, client *http.Client) Source {
	if client == nil {
		client = &http.Client{}
	}
	return &remoteSource{base: strings.TrimRight(baseURL, "/"), key: adminKey, client: client}
}

type remoteSource struct {
	base   string
	key    string
	client *http.Client
}

func (s *remoteSource) get(ctx context.Context, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	if s.key != "" {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	return s.client.Do(req)
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
	return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, msg)
}

func (s *remoteSource) getJSON(ctx context.Context, path string, v any) error {
	resp, err := s.get(ctx, path, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, "/admin/requests/") {
		return ErrNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return statusError(path, resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

func (s *remoteSource) Snapshot(ctx context.Context) (events.State, error) {
	var st events.State
	err := s.getJSON(ctx, "/admin/state", &st)
	return st, err
}

func (s *remoteSource) Detail(ctx context.Context, id string) (*events.RequestDetail, error) {
	var d events.RequestDetail
	if err := s.getJSON(ctx, "/admin/requests/"+url.PathEscape(id), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Events opens GET /admin/events and decodes each SSE "data:" payload as an
// events.Event. The channel closes when ctx ends or the stream breaks.
func (s *remoteSource) Events(ctx context.Context) (<-chan events.Event, error) {
	resp, err := s.get(ctx, "/admin/events", "text/event-stream")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError("/admin/events", resp)
	}
	ch := make(chan events.Event, remoteEventBuffer)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		readSSE(ctx, resp.Body, ch)
	}()
	return ch, nil
}

// readSSE decodes SSE events from r into ch until EOF, an error or ctx ends. Comment
// lines (keep-alives), event names and ids are ignored; multi-line data is joined; an
// event that is not an events.Event is skipped (the next one may be fine).
func readSSE(ctx context.Context, r io.Reader, ch chan<- events.Event) {
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
