package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/jmanhype/runestone/internal/events"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ptr(f float64) *float64 { return &f }

// scrape fetches /metrics through the handler and parses it.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value finds the sample of family name whose labels include want; found reports
// whether one matched.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, found bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, mt := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range mt.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if have[k] != w {
				continue next
			}
		}
		switch {
		case mt.Counter != nil:
			return mt.Counter.GetValue(), true
		case mt.Gauge != nil:
			return mt.Gauge.GetValue(), true
		case mt.Histogram != nil:
			return float64(mt.Histogram.GetSampleCount()), true
		case mt.Untyped != nil:
			return mt.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(fams, name, labels)
	if !ok {
		t.Fatalf("%s%v missing", name, labels)
	}
	if d := got - want; d > 1e-9 || d < -1e-9 {
		t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func observeSample(m *Metrics) {
	m.ObserveRequest(events.Request{Model: "gpt-4o-mini", Provider: "openai", Status: 200, LatencyMS: 120,
		PromptTokens: 10, CompletionTokens: 5, CostUSD: ptr(0.001)})
	m.ObserveRequest(events.Request{Model: "gpt-4o-mini", Provider: "openai", Status: 200, LatencyMS: 300, Stream: true, TTFTMS: 80,
		PromptTokens: 20, CompletionTokens: 7, CostUSD: ptr(0.002), TokensEstimated: true})
	m.ObserveRequest(events.Request{Model: "gpt-4o-mini", Provider: "openai", Status: 502, LatencyMS: 50, Error: "upstream down"})
	m.ObserveRequest(events.Request{Model: "nope", Status: 404, LatencyMS: 1})
	m.ObserveRequest(events.Request{Model: "llama", Provider: "local", Status: 200, LatencyMS: 10, PromptTokens: 3, CompletionTokens: 4})
	m.ObserveRequest(events.Request{Model: "gpt-4o-mini", Provider: "openai", LatencyMS: 5, Error: "client went away"})
}

func TestScrapeMatchesObserved(t *testing.T) {
	m := New()
	observeSample(m)
	m.InFlight(1)
	m.InFlight(1)
	m.InFlight(-1)
	m.RateLimited("alice")
	m.RateLimited("alice")
	m.AuthFailed()
	m.LogWriter(3, 40, 2)
	m.SetBreaker("openai", "open")
	m.SetBreaker("local", "half-open")

	f := scrape(t, m)
	oa := map[string]string{"model": "gpt-4o-mini", "provider": "openai"}
	with := func(k, v string) map[string]string {
		l := map[string]string{k: v}
		for a, b := range oa {
			l[a] = b
		}
		return l
	}
	mustValue(t, f, "runestone_requests_total", with("status_class", "2xx"), 2)
	mustValue(t, f, "runestone_requests_total", with("status_class", "5xx"), 1)
	mustValue(t, f, "runestone_requests_total", with("status_class", "error"), 1)
	mustValue(t, f, "runestone_requests_total", map[string]string{"model": "nope", "provider": "none", "status_class": "4xx"}, 1)
	mustValue(t, f, "runestone_request_duration_seconds", oa, 4)
	mustValue(t, f, "runestone_ttft_seconds", oa, 1)
	mustValue(t, f, "runestone_tokens_total", with("type", "prompt"), 30)
	mustValue(t, f, "runestone_tokens_total", with("type", "completion"), 12)
	mustValue(t, f, "runestone_tokens_estimated_total", oa, 27)
	mustValue(t, f, "runestone_cost_usd_total", oa, 0.003)
	// An unpriced model has no cost series at all: absent, never a silent 0.
	if v, ok := value(f, "runestone_cost_usd_total", map[string]string{"model": "llama"}); ok {
		t.Fatalf("unpriced model exported cost %v", v)
	}
	if _, ok := value(f, "runestone_ttft_seconds", map[string]string{"model": "llama"}); ok {
		t.Fatal("non-stream model exported a ttft histogram")
	}
	mustValue(t, f, "runestone_in_flight_requests", nil, 1)
	mustValue(t, f, "runestone_rate_limited_total", map[string]string{"key": "alice"}, 2)
	mustValue(t, f, "runestone_auth_failed_total", nil, 1)
	mustValue(t, f, "runestone_log_queue_depth", nil, 3)
	mustValue(t, f, "runestone_log_rows_written_total", nil, 40)
	mustValue(t, f, "runestone_log_rows_dropped_total", nil, 2)
	mustValue(t, f, "runestone_breaker_state", map[string]string{"provider": "openai"}, 2)
	mustValue(t, f, "runestone_breaker_state", map[string]string{"provider": "local"}, 1)
	mustValue(t, f, "runestone_breaker_status", map[string]string{"provider": "openai", "state": "open"}, 1)
	mustValue(t, f, "runestone_breaker_status", map[string]string{"provider": "openai", "state": "closed"}, 0)
	if f["go_goroutines"] == nil {
		t.Fatal("go collector missing")
	}
}

func TestSummary(t *testing.T) {
	m := New()
	observeSample(m)
	m.InFlight(2)
	m.AuthFailed()
	m.RateLimited("")
	m.LogWriter(1, 9, 0)
	m.SetKeyGauges([]events.KeyLimits{{KeyID: "k1", KeyName: "alice", InFlight: 2, Queued: 1}})
	m.SetBreaker("openai", "closed")

	s := m.Summary()
	if s.Requests != 6 || s.Errors != 2 {
		t.Fatalf("requests %d errors %d, want 6 and 2", s.Requests, s.Errors)
	}
	wantClasses := map[string]uint64{"2xx": 3, "4xx": 1, "5xx": 1, "error": 1}
	if fmt.Sprint(s.StatusClasses) != fmt.Sprint(wantClasses) {
		t.Fatalf("classes %v, want %v", s.StatusClasses, wantClasses)
	}
	if s.PromptTokens != 33 || s.CompletionTokens != 16 || s.EstimatedTokens != 27 {
		t.Fatalf("tokens %+v", s)
	}
	if s.CostUSD < 0.003-1e-12 || s.CostUSD > 0.003+1e-12 || s.UnpricedRequests != 1 {
		t.Fatalf("cost %v unpriced %d", s.CostUSD, s.UnpricedRequests)
	}
	if s.InFlight != 2 || s.AuthFailed != 1 || s.RateLimited != 1 {
		t.Fatalf("gauges %+v", s)
	}
	if len(s.Keys) != 1 || s.Keys[0] != (KeySummary{Key: "alice", InFlight: 2, Queued: 1}) {
		t.Fatalf("keys %+v", s.Keys)
	}
	if s.Breakers["openai"] != "closed" || s.LogWriter != (LogWriterSummary{Queued: 1, Written: 9}) {
		t.Fatalf("breakers %v log %+v", s.Breakers, s.LogWriter)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"requests":6`, `"errors":2`, `"prompt_tokens":33`, `"cost_usd":0.003`, `"in_flight":2`, `"keys":[{"key":"alice","in_flight":2,"queued":1}]`, `"log_writer":{"queued":1,"written":9,"dropped":0}`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("summary JSON lacks %s: %s", k, b)
		}
	}
	// An empty Metrics still marshals lists and maps as [] and {}, not null.
	b, _ = json.Marshal(New().Summary())
	if !strings.Contains(string(b), `"keys":[]`) || !strings.Contains(string(b), `"status_classes":{}`) {
		t.Fatalf("empty summary: %s", b)
	}
}

func TestSetKeyGaugesRemovesVanishedKeys(t *testing.T) {
	m := New()
	m.SetKeyGauges([]events.KeyLimits{
		{KeyID: "k1", KeyName: "alice", InFlight: 3, Queued: 2},
		{KeyID: "k2", InFlight: 1},
		{KeyID: "k3", KeyName: "alice", InFlight: 1, Queued: 1}, // same display name: summed
	})
	f := scrape(t, m)
	mustValue(t, f, "runestone_key_in_flight", map[string]string{"key": "alice"}, 4)
	mustValue(t, f, "runestone_key_queue_depth", map[string]string{"key": "alice"}, 3)
	mustValue(t, f, "runestone_key_in_flight", map[string]string{"key": "k2"}, 1)

	m.SetKeyGauges([]events.KeyLimits{{KeyID: "k2", InFlight: 0}})
	f = scrape(t, m)
	if _, ok := value(f, "runestone_key_in_flight", map[string]string{"key": "alice"}); ok {
		t.Fatal("vanished key still exported")
	}
	mustValue(t, f, "runestone_key_in_flight", map[string]string{"key": "k2"}, 0)

	m.SetKeyGauges(nil)
	if f = scrape(t, m); f["runestone_key_in_flight"] != nil {
		t.Fatal("keys exported after an empty snapshot")
	}
}

func TestInvalidLabelsDoNotPanic(t *testing.T) {
	m := New()
	bad := "gpt-\xff"
	m.ObserveRequest(events.Request{Model: bad, Provider: "p\xfe", Status: 200, CostUSD: ptr(-1), LatencyMS: -5})
	m.RateLimited("k\xff")
	m.SetKeyGauges([]events.KeyLimits{{KeyName: "n\xff"}})
	m.SetBreaker("x\xff", "weird")
	f := scrape(t, m)
	mustValue(t, f, "runestone_requests_total", map[string]string{"model": "gpt-\uFFFD", "status_class": "2xx"}, 1)
	mustValue(t, f, "runestone_breaker_state", map[string]string{"provider": "x\uFFFD"}, -1)
}

func TestSeriesCap(t *testing.T) {
	m := New()
	for i := range maxSeries + 20 {
		m.ObserveRequest(events.Request{Model: fmt.Sprintf("m%d", i), Provider: "mock", Status: 200})
	}
	f := scrape(t, m)
	mustValue(t, f, "runestone_requests_total", map[string]string{"model": "other", "provider": "mock"}, 20)
	if n := len(f["runestone_requests_total"].GetMetric()); n != maxSeries+1 {
		t.Fatalf("series = %d, want %d", n, maxSeries+1)
	}
}

func TestConcurrentObserve(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				m.ObserveRequest(events.Request{Model: fmt.Sprintf("m%d", i%5), Provider: "p", Status: 200 + 100*(g%4),
					PromptTokens: 1, CompletionTokens: 1, CostUSD: ptr(0.5), Stream: true, TTFTMS: 1})
				m.InFlight(1)
				m.InFlight(-1)
			}
		})
		wg.Go(func() { scrape(t, m) })
	}
	wg.Wait()
	s := m.Summary()
	if s.Requests != 4000 || s.PromptTokens != 4000 || s.CostUSD != 2000 || s.InFlight != 0 {
		t.Fatalf("summary after concurrency: %+v", s)
	}
	f := scrape(t, m)
	var total float64
	for _, mt := range f["runestone_requests_total"].GetMetric() {
		total += mt.GetCounter().GetValue()
	}
	if total != 4000 {
		t.Fatalf("requests_total sums to %v", total)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := New()
	r := events.Request{Model: "gpt-4o-mini", Provider: "openai", Status: 200, LatencyMS: 250, Stream: true, TTFTMS: 90,
		PromptTokens: 120, CompletionTokens: 300, CostUSD: ptr(0.0002)}
	m.ObserveRequest(r)
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			m.ObserveRequest(r)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.ObserveRequest(r)
			}
		})
	})
}
