package metrics

import (
	"math"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jmanhype/runestone/internal/events"
)

// Status classes, indexes into series.classes and totals.classes.
const (
	class1xx = iota
	class2xx
	class3xx
	class4xx
	class5xx
	classError   // finished without an HTTP status but with an error
	classUnknown // finished without either
	numClasses
)

var classNames = [numClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx", "error", "unknown"}

func classOf(status int, err string) int {
	switch {
	case status >= 100 && status < 600:
		return status/100 - 1
	case err != "":
		return classError
	}
	return classUnknown
}

type seriesKey struct{ model, provider string }

// series holds the children of every vec for one (model, provider), resolved once:
// WithLabelValues hashes the label values and looks the child up under a lock on
// every call, which measured at twice the cost of this whole path. Children that only some requests touch are created on first
// use, so an unpriced model never shows a cost series reading 0: absent means unknown.
type series struct {
	m                  *Metrics
	model, provider    string // label values (model may be "other")
	duration           prometheus.Observer
	prompt, completion prometheus.Counter
	ttft               atomic.Pointer[prometheus.Observer]
	cost, estimated    atomic.Pointer[prometheus.Counter]
	costEstimated      atomic.Pointer[prometheus.Counter]
	unpriced           atomic.Pointer[prometheus.Counter]
	classes            [numClasses]atomic.Pointer[prometheus.Counter]
}

// Racing creators below get the same child from the vec, so either pointer is right.

func (s *series) class(i int) prometheus.Counter {
	if c := s.classes[i].Load(); c != nil {
		return *c
	}
	c := s.m.requests.WithLabelValues(s.model, s.provider, classNames[i])
	s.classes[i].CompareAndSwap(nil, &c)
	return c
}

func (s *series) counter(p *atomic.Pointer[prometheus.Counter], vec *prometheus.CounterVec) prometheus.Counter {
	if c := p.Load(); c != nil {
		return *c
	}
	c := vec.WithLabelValues(s.model, s.provider)
	p.CompareAndSwap(nil, &c)
	return c
}

func (s *series) ttftObserver() prometheus.Observer {
	if o := s.ttft.Load(); o != nil {
		return *o
	}
	o := s.m.ttft.WithLabelValues(s.model, s.provider)
	s.ttft.CompareAndSwap(nil, &o)
	return o
}

func (m *Metrics) seriesFor(model, provider string) *series {
	k := seriesKey{model, provider} // raw values: the fast path does no label work
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	model, provider = orNone(model), orNone(provider)
	if m.seriesN.Load() >= maxSeries {
		// Overflowing pairs share one "other" series per provider, cached under that
		// key only: caching each real name would grow the map the cap protects.
		k = seriesKey{"\x00other", provider} // unreachable by a raw key
		if s, ok := m.series.Load(k); ok {
			return s.(*series)
		}
		model = "other"
	}
	s := &series{
		m:          m,
		model:      model,
		provider:   provider,
		duration:   m.duration.WithLabelValues(model, provider),
		prompt:     m.tokens.WithLabelValues(model, provider, "prompt"),
		completion: m.tokens.WithLabelValues(model, provider, "completion"),
	}
	m.series.Store(k, s)
	m.seriesN.Add(1)
	return s
}

// ObserveRequest records one finished request.
func (m *Metrics) ObserveRequest(r events.Request) {
	s := m.seriesFor(r.Model, r.Provider)
	cls := classOf(r.Status, r.Error)
	s.class(cls).Inc()
	s.duration.Observe(nonNeg(r.LatencyMS) / 1000)
	if r.Stream && r.TTFTMS > 0 {
		s.ttftObserver().Observe(nonNeg(r.TTFTMS) / 1000)
	}
	prompt, completion := max(r.PromptTokens, 0), max(r.CompletionTokens, 0)
	if prompt > 0 {
		s.prompt.Add(float64(prompt))
	}
	if completion > 0 {
		s.completion.Add(float64(completion))
	}
	if r.TokensEstimated && prompt+completion > 0 {
		s.counter(&s.estimated, m.estimated).Add(float64(prompt + completion))
	}
	var cost float64
	if r.CostUSD != nil {
		cost = nonNeg(*r.CostUSD)
		s.counter(&s.cost, m.cost).Add(cost)
		if r.TokensEstimated && cost > 0 {
			s.counter(&s.costEstimated, m.costEstimated).Add(cost)
		}
	} else if prompt+completion > 0 && r.Provider != "replay" {
		s.counter(&s.unpriced, m.unpriced).Inc()
	}
	m.totals.observe(cls, r.Status >= 500 || r.Error != "", prompt, completion, r.TokensEstimated, cost, r.CostUSD != nil)
}

// nonNeg guards Counter.Add and Observe, which panic on or are corrupted by
// negative and NaN values that a buggy caller could pass.
func nonNeg(v float64) float64 {
	if v > 0 && !math.IsInf(v, 1) {
		return v
	}
	return 0
}
