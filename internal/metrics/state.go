package metrics

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jmanhype/runestone/internal/events"
)

// state holds the snapshot-style values (per-key limiter gauges, breaker states). A
// custom collector emits them from the latest snapshot at scrape time, which makes
// vanished keys disappear without the gap a GaugeVec Reset-then-Set leaves for a
// concurrent scrape to see.
type state struct {
	mu       sync.Mutex
	keys     []KeySummary
	breakers map[string]string
}

func (s *state) setKeys(limits []events.KeyLimits) {
	keys := make([]KeySummary, 0, len(limits))
	idx := make(map[string]int, len(limits))
	for _, l := range limits {
		name := keyLabel(l)
		// Two keys may share a display name; a label must be unique, so sum them.
		if i, ok := idx[name]; ok {
			keys[i].InFlight += l.InFlight
			keys[i].Queued += l.Queued
			continue
		}
		idx[name] = len(keys)
		keys = append(keys, KeySummary{Key: name, InFlight: l.InFlight, Queued: l.Queued})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Key < keys[j].Key })
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

// keyLabel prefers the display name people recognise over the opaque id.
func keyLabel(l events.KeyLimits) string {
	if l.KeyName != "" {
		return orNone(l.KeyName)
	}
	return orNone(l.KeyID)
}

func (s *state) setBreaker(provider, st string) {
	s.mu.Lock()
	if s.breakers == nil {
		s.breakers = map[string]string{}
	}
	s.breakers[orNone(provider)] = st
	s.mu.Unlock()
}

// snapshot returns copies safe to hand out.
func (s *state) snapshot() ([]KeySummary, map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := append([]KeySummary{}, s.keys...)
	br := make(map[string]string, len(s.breakers))
	for k, v := range s.breakers {
		br[k] = v
	}
	return keys, br
}

var breakerStates = [...]string{"closed", "half-open", "open"}

// breakerValue maps a state to runestone_breaker_state's number; -1 flags a state
// name this package does not know rather than passing it off as closed.
func breakerValue(st string) float64 {
	for i, name := range breakerStates {
		if st == name {
			return float64(i)
		}
	}
	return -1
}

var (
	keyInFlightDesc = prometheus.NewDesc("runestone_key_in_flight",
		"Requests a key has in flight, at the last limiter snapshot.", []string{"key"}, nil)
	keyQueueDesc = prometheus.NewDesc("runestone_key_queue_depth",
		"Requests waiting in a key's overflow queue, at the last limiter snapshot.", []string{"key"}, nil)
	breakerDesc = prometheus.NewDesc("runestone_breaker_state",
		"Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.", []string{"provider"}, nil)
	breakerInfoDesc = prometheus.NewDesc("runestone_breaker_status",
		"1 for the provider's current breaker state, 0 for the others (for alerting by name).", []string{"provider", "state"}, nil)
)

type stateCollector struct{ s *state }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keyInFlightDesc
	ch <- keyQueueDesc
	ch <- breakerDesc
	ch <- breakerInfoDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	keys, breakers := c.s.snapshot()
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(keyInFlightDesc, prometheus.GaugeValue, float64(k.InFlight), k.Key)
		ch <- prometheus.MustNewConstMetric(keyQueueDesc, prometheus.GaugeValue, float64(k.Queued), k.Key)
	}
	for p, st := range breakers {
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, breakerValue(st), p)
		for _, name := range breakerStates {
			v := 0.0
			if name == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(breakerInfoDesc, prometheus.GaugeValue, v, p, name)
		}
	}
}
