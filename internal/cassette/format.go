// Package cassette records LLM API exchanges as readable JSON files and replays them,
// so a test suite can run offline, fast and identically against answers a real
// provider once gave. The gateway records what its clients received (Recorder) and
// answers matching requests from the files (Replayer); Check, Diff and FromLog serve
// the command line.
//
// One file holds one exchange, named <slug>-<hash>.json (slug from endpoint and model,
// hash from the request's match key), with a -<seq> suffix for the second and later
// answers to an identical request. The file is pretty JSON: request and response
// bodies are JSON values, not strings, so a change reads well in a pull request.
package cassette

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
)

// Version is the file format version written into every cassette.
const Version = 1

// Record is one cassette file: one request and the answer the client received.
type Record struct {
	Version int `json:"version"`
	// Seq numbers identical requests (same match key) in the order they were made,
	// from 1: replay hands them out in this order.
	Seq  int    `json:"seq"`
	Note string `json:"note,omitempty"` // how the file was made when not recorded live
	// Session is the client's session id from its headers (Claude Code's
	// X-Claude-Code-Session-Id, Codex's session_id, X-Runestone-Session) and At when the
	// request came (RFC 3339, UTC): `cassettes check` lists a session's turns in order.
	// Neither takes part in matching.
	Session string `json:"session,omitempty"`
	At      string `json:"at,omitempty"`
	// Provider names the provider that answered ("openai", "mock"; "" when the
	// gateway answered itself, e.g. a refusal before any upstream call) and
	// ProviderKind its kind ("openai", "anthropic", "mock"): a cassette of the offline
	// mock must never pass for a real provider's answer.
	Provider     string   `json:"provider,omitempty"`
	ProviderKind string   `json:"provider_kind,omitempty"`
	Request      Request  `json:"request"`
	Response     Response `json:"response"`
}

// Request is the normalized request: what matching looks at.
type Request struct {
	Endpoint string `json:"endpoint"` // "/v1/chat/completions"
	Method   string `json:"method"`
	// Headers are only those that change the answer (anthropic-beta, anthropic-version,
	// openai-beta, x-mock-*), lower-case names.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the JSON body; BodyText holds a body that is not JSON.
	Body     json.RawMessage `json:"body,omitempty"`
	BodyText string          `json:"body_text,omitempty"`
}

// Response is what the client received.
type Response struct {
	Status int `json:"status"`
	// Headers are a small allow-list (content-type, retry-after, x-should-retry,
	// openai-version, anthropic-version): never auth, cookies or request ids.
	Headers map[string]string `json:"headers,omitempty"`
	Stream  bool              `json:"stream,omitempty"`
	// Body is a JSON body, re-rendered on replay with the layout BodyLayout names so the
	// client gets the recorded bytes: "" (compact), "compact+nl", "indent", "indent+nl"
	// (two-space indent). A body that is not JSON, or whose layout is none of those, is
	// kept verbatim in BodyText.
	Body       json.RawMessage `json:"body,omitempty"`
	BodyLayout string          `json:"body_layout,omitempty"`
	BodyText   string          `json:"body_text,omitempty"`
	// Events are the SSE events of a stream, in order.
	Events []Event `json:"events,omitempty"`
}

// Event is one SSE event of a recorded stream.
type Event struct {
	Event    string `json:"event"`     // the event: name, "" when the frame had none
	Data     string `json:"data"`      // the data: payload as sent (several lines joined by \n)
	OffsetMS int64  `json:"offset_ms"` // since the first event
	// Raw is the frame exactly as sent, kept only when Event and Data do not rebuild it
	// (id: or retry: fields, odd spacing).
	Raw string `json:"raw,omitempty"`
}

// answerHeaders are the request headers that change the answer and so are recorded
// and matched; x-mock-* (the mock provider's knobs) is matched by prefix.
var answerHeaders = []string{"anthropic-beta", "anthropic-version", "openai-beta"}

// keptResponseHeaders are the response headers worth replaying, and the only ones
// replay ever sends from a file: a cassette is data from a stranger, and Set-Cookie,
// Access-Control-* or Location from it must never reach a client.
var keptResponseHeaders = []string{"content-type", "retry-after", "x-should-retry", "openai-version", "anthropic-version"}

// replayContentTypes are the media types a replayed answer may declare: what the
// APIs answer. text/html from a hand-written cassette would be a page on our origin.
var replayContentTypes = []string{"application/json", "text/event-stream", "text/plain"}

// sessionHeaders name the client's session, first present wins: the gateway reads
// the same list for the request log (internal/gateway/dialectinfo.go).
var sessionHeaders = [...]string{"X-Claude-Code-Session-Id", "Session-Id", "Session_id", "X-Runestone-Session"}

// sessionOf is the session id in h, "" when none or when it is not short printable ASCII.
func sessionOf(h http.Header) string {
	for _, k := range sessionHeaders {
		if v := h.Get(k); v != "" {
			if len(v) > 200 {
				return ""
			}
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] > 0x7e {
					return ""
				}
			}
			return v
		}
	}
	return ""
}

// requestHeaders picks the answer-changing headers out of h.
func requestHeaders(h http.Header) map[string]string {
	var out map[string]string
	for k, vs := range h {
		lk := strings.ToLower(k)
		keep := strings.HasPrefix(lk, "x-mock-")
		for _, a := range answerHeaders {
			keep = keep || lk == a
		}
		if !keep || len(vs) == 0 {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[lk] = strings.Join(vs, ", ")
	}
	return out
}

func responseHeaders(h http.Header) map[string]string {
	var out map[string]string
	for _, k := range keptResponseHeaders {
		if vs := h.Values(k); len(vs) > 0 {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = strings.Join(vs, ", ")
		}
	}
	return out
}

// setBody stores b as JSON when it is JSON, else as text.
func (r *Request) setBody(b []byte) {
	switch {
	case len(b) == 0:
	case json.Valid(b):
		var c bytes.Buffer
		_ = json.Compact(&c, b)
		r.Body = c.Bytes()
	default:
		r.BodyText = string(b)
	}
}

// BodyBytes returns the request body as bytes.
func (r *Request) BodyBytes() []byte {
	if r.Body != nil {
		return r.Body
	}
	return []byte(r.BodyText)
}

// layouts are the JSON renderings a recorded body is tried against, so replay can
// give the client the same bytes the upstream sent.
var layouts = []string{"", "compact+nl", "indent", "indent+nl"}

func render(compact []byte, layout string) []byte {
	var out []byte
	switch layout {
	case "", "compact+nl":
		out = append(out, compact...)
	case "indent", "indent+nl":
		var b bytes.Buffer
		_ = json.Indent(&b, compact, "", "  ")
		out = b.Bytes()
	}
	if strings.HasSuffix(layout, "+nl") {
		out = append(out, '\n')
	}
	return out
}

// setBody stores b as JSON when one of the known layouts reproduces it byte for byte,
// else verbatim as text.
func (r *Response) setBody(b []byte) {
	if len(b) == 0 {
		return
	}
	if json.Valid(b) {
		var c bytes.Buffer
		_ = json.Compact(&c, b)
		for _, l := range layouts {
			if bytes.Equal(render(c.Bytes(), l), b) {
				r.Body, r.BodyLayout = c.Bytes(), l
				return
			}
		}
	}
	r.BodyText = string(b)
}

// BodyBytes returns the response body exactly as the client received it.
func (r *Response) BodyBytes() []byte {
	if r.Body != nil {
		var c bytes.Buffer
		if json.Compact(&c, r.Body) != nil {
			return r.Body
		}
		return render(c.Bytes(), r.BodyLayout)
	}
	if r.BodyText != "" {
		return []byte(r.BodyText)
	}
	return nil
}

// Frame renders event i as the SSE frame the client received.
func (e Event) Frame() []byte {
	if e.Raw != "" {
		return []byte(e.Raw)
	}
	var b []byte
	if e.Event != "" {
		b = append(append(append(b, "event: "...), e.Event...), '\n')
	}
	for _, line := range strings.Split(e.Data, "\n") {
		b = append(append(append(b, "data: "...), line...), '\n')
	}
	return append(b, '\n')
}

// parseFrame reads one complete SSE frame into an Event (without offset). ok is false
// for a frame with no event and no data (a comment or keep-alive).
func parseFrame(frame []byte) (ev Event, ok bool) {
	var data []string
	hasData := false
	for _, line := range strings.Split(strings.TrimRight(string(frame), "\r\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		name, val, found := strings.Cut(line, ":")
		if !found {
			name, val = line, ""
		}
		val = strings.TrimPrefix(val, " ")
		switch name {
		case "event":
			ev.Event = val
		case "data":
			data = append(data, val)
			hasData = true
		}
	}
	if !hasData && ev.Event == "" {
		return ev, false
	}
	ev.Data = strings.Join(data, "\n")
	if !bytes.Equal(ev.Frame(), frame) {
		ev.Raw = string(frame)
	}
	return ev, true
}

// Marshal renders r as the file's bytes: two-space indented JSON, HTML left unescaped
// so bodies read as they were sent.
func (r *Record) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ReadFile reads and validates one cassette file, at most DefaultMaxFileBytes long.
func ReadFile(path string) (*Record, error) {
	f, err := openFolder(filepath.Dir(path), 0)
	if err != nil {
		return nil, err
	}
	return f.read(path)
}

// decode parses and validates a cassette's bytes; name prefixes the errors.
func decode(name string, data []byte) (*Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: more than one JSON value", name)
	}
	r.normalizeEvents()
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &r, nil
}

func (r *Record) validate() error {
	var errs []string
	if r.Version != Version {
		errs = append(errs, fmt.Sprintf("version %d: want %d", r.Version, Version))
	}
	if !strings.HasPrefix(r.Request.Endpoint, "/") {
		errs = append(errs, fmt.Sprintf("request.endpoint %q must start with /", r.Request.Endpoint))
	}
	if r.Request.Method == "" {
		errs = append(errs, "request.method is empty")
	}
	if r.Seq < 1 {
		errs = append(errs, fmt.Sprintf("seq %d: want 1 or more", r.Seq))
	}
	if r.Response.Status < 200 || r.Response.Status > 599 || r.Response.Status/100 == 3 {
		errs = append(errs, fmt.Sprintf("response.status %d: want an answer status (2xx, 4xx or 5xx)", r.Response.Status))
	}
	if r.Response.Body != nil && r.Response.BodyText != "" {
		errs = append(errs, "response has both body and body_text")
	}
	if !slicesContains(layouts, r.Response.BodyLayout) {
		errs = append(errs, fmt.Sprintf("response.body_layout %q: want one of compact+nl, indent, indent+nl or none", r.Response.BodyLayout))
	}
	if len(r.Response.Events) > 0 && !r.Response.Stream {
		errs = append(errs, "response has events but stream is false")
	}
	for i := 1; i < len(r.Response.Events); i++ {
		if r.Response.Events[i].OffsetMS < r.Response.Events[i-1].OffsetMS {
			errs = append(errs, fmt.Sprintf("response.events[%d].offset_ms goes back in time", i))
			break
		}
	}
	for i, e := range r.Response.Events {
		if strings.ContainsAny(e.Event, "\r\n") || strings.Contains(e.Data, "\r") {
			errs = append(errs, fmt.Sprintf("response.events[%d]: a line break inside the event name or a CR in its data would forge SSE fields", i))
			break
		}
		if e.Raw != "" {
			if ev, ok := parseFrame([]byte(e.Raw)); !ok || len(splitFrames([]byte(e.Raw))) != 1 || ev.Data != e.Data || ev.Event != e.Event {
				errs = append(errs, fmt.Sprintf("response.events[%d].raw is not the one SSE frame its event and data say", i))
				break
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// slug names a cassette after its endpoint and model: "chat-completions-gpt-4o-mini".
func slug(endpoint, model string) string {
	s := strings.TrimPrefix(endpoint, "/v1")
	if model != "" {
		s += "-" + model
	}
	var b strings.Builder
	dash := true
	for _, c := range strings.ToLower(s) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.'
		switch {
		case ok:
			b.WriteRune(c)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-.")
	if len(out) > 60 {
		out = strings.TrimRight(out[:60], "-.")
	}
	if out == "" {
		out = "request"
	}
	return out
}

// FileName is the cassette file name for a request with this slug, key hash and seq.
func FileName(slug, hash string, seq int) string {
	if seq <= 1 {
		return slug + "-" + hash + ".json"
	}
	return slug + "-" + hash + "-" + strconv.Itoa(seq) + ".json"
}
