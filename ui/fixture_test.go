package ui

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/muesli/termenv"
)

// fixedNow is the clock every golden test renders at.
var fixedNow = time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

func f64(v float64) *float64 { return &v }

// asciiRenderer renders without colour, so goldens are plain text.
func asciiRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}

// newTestModel builds a model on src with the fixed clock and no colour.
func newTestModel(src Source, opts Options) *Model {
	if opts.Now == nil {
		opts.Now = fixedClock
	}
	if opts.Version == "" {
		opts.Version = "v0.4.0"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:4001"
	}
	m := newModel(context.Background(), src, opts, asciiRenderer())
	m.setStyles(newStyles(asciiRenderer(), true))
	return m
}

// fakeSource is a scripted Source: a snapshot, a prefilled event stream that closes
// when the dashboard's context ends, and canned details. down makes it fail like a
// stopped gateway.
type fakeSource struct {
	mu        sync.Mutex
	state     events.State
	script    []events.Event
	details   map[string]*events.RequestDetail
	down      bool
	snapshots int
	streams   []chan events.Event
}

func (f *fakeSource) Snapshot(ctx context.Context) (events.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots++
	if f.down {
		return events.State{}, errGatewayDown
	}
	return f.state, ctx.Err()
}

func (f *fakeSource) Events(ctx context.Context) (<-chan events.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errGatewayDown
	}
	ch := make(chan events.Event, len(f.script)+16)
	for _, e := range f.script {
		ch <- e
	}
	f.script = nil // a reconnect does not replay the script
	f.streams = append(f.streams, ch)
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.closeStream(ch)
	}()
	return ch, nil
}

// closeStream closes ch unless already closed (caller holds mu).
func (f *fakeSource) closeStream(ch chan events.Event) {
	for i, c := range f.streams {
		if c == ch {
			close(c)
			f.streams = append(f.streams[:i], f.streams[i+1:]...)
			return
		}
	}
}

// drop closes every open stream, as a gateway restart would, and sets down.
func (f *fakeSource) drop(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	for len(f.streams) > 0 {
		f.closeStream(f.streams[0])
	}
}

func (f *fakeSource) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeSource) Detail(_ context.Context, id string) (*events.RequestDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.details[id]; ok {
		return d, nil
	}
	return nil, events.ErrRequestNotFound
}

type gatewayDownError struct{}

func (gatewayDownError) Error() string { return "connection refused" }

var errGatewayDown error = gatewayDownError{}

// baseProviders is the configured provider set of the busy fixture.
func baseProviders() []events.ProviderState {
	return []events.ProviderState{
		{Name: "openai", Kind: "openai", Breaker: "closed", P50MS: 420, ErrorRate: 0.01, Requests: 120,
			BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o", "gpt-4o-mini", "gpt-5*", "text-embedding-3-small"}},
		{Name: "anthropic", Kind: "anthropic", Breaker: "closed", P50MS: 880, Requests: 40},
		{Name: "backup", Kind: "openai", Breaker: "closed", P50MS: 510, Requests: 6},
		{Name: "mock", Kind: "mock", Breaker: "closed", P50MS: 2, Requests: 3},
	}
}

func baseKeys() []events.KeyLimits {
	return []events.KeyLimits{
		{KeyID: "key_dev", KeyName: "dev", RPM: 12, RPMLimit: 60, RPH: 140, RPHLimit: 1000, InFlight: 1, Concurrent: 10, SpentUSD: 0.42, BudgetUSD: f64(5),
			TPM: 4200, TPMLimit: 100_000, BudgetPeriod: "month", Models: []string{"claude-*", "gpt-4o", "mock-echo"}},
		{KeyID: "key_ci", KeyName: "ci", RPM: 31, RPMLimit: 60, RPH: 610, RPHLimit: 1000, InFlight: 2, Concurrent: 4, SpentUSD: 1.2},
		{KeyID: "key_batch", KeyName: "batch-jobs", RPM: 3, RPH: 40, InFlight: 0, Concurrent: 0, SpentUSD: 0.0031},
	}
}

// busyState is a gateway that has been up an hour with traffic from three keys.
func busyState() events.State {
	return events.State{
		Version:   "v0.4.0",
		Addr:      "127.0.0.1:4001",
		Started:   fixedNow.Add(-(time.Hour + 2*time.Minute + 3*time.Second)),
		AuthOn:    true,
		Providers: baseProviders(),
		Keys:      baseKeys(),
		Totals: events.Totals{
			Requests: 1190, Errors: 21, PromptTokens: 182_400, CompletionTokens: 64_120, CostUSD: 1.6231,
		},
	}
}

// req builds a finished request that started ago before fixedNow.
func req(id, key, model, prov string, status int, ago time.Duration, lat, ttft float64, in, out int, cost *float64) events.Request {
	var provs []string
	if prov != "" {
		provs = []string{prov}
	}
	return events.Request{
		ID: id, KeyID: "key_" + key, KeyName: key, Endpoint: "/v1/chat/completions", Model: model,
		Provider: prov, UpstreamModel: model, Providers: provs, Attempts: 1, Stream: true,
		Started: fixedNow.Add(-ago), Status: status, LatencyMS: lat, TTFTMS: ttft,
		PromptTokens: in, CompletionTokens: out, CostUSD: cost,
	}
}

func started(r events.Request) events.Event {
	s := r
	s.Status, s.LatencyMS, s.TTFTMS, s.PromptTokens, s.CompletionTokens, s.CostUSD = 0, 0, 0, 0, 0, nil
	s.Provider, s.Providers, s.Attempts = "", nil, 0
	return events.Event{Kind: events.KindRequestStarted, Time: r.Started, Request: &s}
}

func finished(r events.Request) events.Event {
	return events.Event{Kind: events.KindRequestFinished, Time: finishTime(r), Request: &r}
}

// busyScript is a minute of traffic: successes, a 404, a rate-limited call, a
// request that failed over openai→backup after retries, and one stream in flight.
func busyScript() []events.Event {
	var evs []events.Event
	add := func(r events.Request) { evs = append(evs, started(r), finished(r)) }
	// Older traffic spread over the minute, for the sparkline.
	for i := range 24 {
		ago := time.Duration(58-2*i) * time.Second
		r := req(fmtID(i), "batch-jobs", "gpt-4o-mini", "openai", 200, ago, 300+float64(i*7), 120, 220+i, 80+i, f64(0.00008))
		r.Stream = false
		add(r)
	}
	// Claude Code through /v1/messages, relayed to Anthropic, mostly from the prompt cache.
	cc := req("req_models", "dev", "claude-sonnet-4-5", "anthropic", 200, 9*time.Second, 2140, 610, 1830, 412, f64(0.01167))
	cc.Endpoint, cc.Dialect, cc.UpstreamDialect, cc.Session = "/v1/messages", "messages", "messages", "cc-7f3a"
	cc.Agent, cc.AgentVersion = "claude-code", "2.0.76"
	cc.CachedTokens, cc.CacheWriteTokens = 1500, 200
	add(cc)
	add(req("req_404", "ci", "gpt-5-turbo", "", 404, 8*time.Second, 3, 0, 0, 0, nil))
	add(req("req_429", "ci", "gpt-4o-mini", "", 429, 7*time.Second, 1, 0, 0, 0, nil))
	add(req("req_mock", "dev", "mock-echo", "mock", 200, 6*time.Second, 4, 2, 12, 9, nil))

	// A request that retried openai twice then failed over to backup.
	// It came in on /v1/responses and was translated to chat for the backup.
	fo := req("req_failover", "ci", "gpt-4o", "backup", 200, 5*time.Second, 3870, 1010, 950, 233, f64(0.00471))
	fo.Providers, fo.Attempts = []string{"openai", "backup"}, 3
	fo.Endpoint, fo.Dialect, fo.UpstreamDialect, fo.Session = "/v1/responses", "responses", "chat", "codex-91"
	fo.CachedTokens, fo.Dropped = 512, []string{"reasoning.summary", "store"}
	fo.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	evs = append(evs, started(fo),
		events.Event{Kind: events.KindAttempt, Attempt: &events.Attempt{RequestID: fo.ID, Provider: "openai", Model: "gpt-4o", Number: 1, Status: 503, LatencyMS: 1200, Error: "upstream 503: overloaded", Retrying: true}},
		events.Event{Kind: events.KindAttempt, Attempt: &events.Attempt{RequestID: fo.ID, Provider: "openai", Model: "gpt-4o", Number: 2, Status: 503, LatencyMS: 1150, Error: "upstream 503: overloaded", Retrying: true}},
		events.Event{Kind: events.KindAttempt, Attempt: &events.Attempt{RequestID: fo.ID, Provider: "backup", Model: "gpt-4o", Number: 3, Status: 200, LatencyMS: 1490}},
		finished(fo))

	add(req("req_500", "dev", "claude-3-5-haiku-latest", "anthropic", 502, 4*time.Second, 30012, 0, 0, 0, nil))
	add(req("req_embed", "batch-jobs", "text-embedding-3-small", "openai", 200, 3*time.Second, 88, 0, 512, 0, f64(0.00001)))

	// A stream in flight: started 2.4 s ago, 57 tokens so far.
	live := req("req_live", "dev", "gpt-4o", "openai", 0, 2400*time.Millisecond, 0, 0, 0, 0, nil)
	evs = append(evs, started(live),
		events.Event{Kind: events.KindAttempt, Attempt: &events.Attempt{RequestID: live.ID, Provider: "openai", Model: "gpt-4o", Number: 1}},
		events.Event{Kind: events.KindRequestProgress, Request: &events.Request{ID: live.ID, Model: "gpt-4o", Provider: "openai", PromptTokens: 640, CompletionTokens: 57, TTFTMS: 380}})
	return evs
}

func fmtID(i int) string { return "req_" + string(rune('a'+i/10)) + string(rune('0'+i%10)) }

// failoverDetail is what the gateway captured for req_failover.
func failoverDetail() *events.RequestDetail {
	var r events.Request
	for _, e := range busyScript() {
		if e.Kind == events.KindRequestFinished && e.Request.ID == "req_failover" {
			r = *e.Request
		}
	}
	r.OverheadMS = 2.4
	r.TraceID = "" // the request log has none: the view keeps the live event's
	return &events.RequestDetail{
		Request: r,
		Attempts: []events.Attempt{
			{RequestID: r.ID, Provider: "openai", Model: "gpt-4o", Number: 1, Status: 503, LatencyMS: 1200, Error: "upstream 503: overloaded", Retrying: true},
			{RequestID: r.ID, Provider: "openai", Model: "gpt-4o", Number: 2, Status: 503, LatencyMS: 1150, Error: "upstream 503: overloaded", Retrying: true},
			{RequestID: r.ID, Provider: "backup", Model: "gpt-4o", Number: 3, Status: 200, LatencyMS: 1490},
		},
		RequestBody:  `{"model":"gpt-4o","stream":true,"instructions":"You are terse.","input":"Summarise the incident in one line.","reasoning":{"summary":"auto"},"store":true}`,
		ResponseBody: `{"id":"resp_9","object":"response","model":"gpt-4o","status":"completed","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Primary upstream overloaded; traffic failed over to backup."}]}],"usage":{"input_tokens":950,"output_tokens":233}}`,
	}
}
