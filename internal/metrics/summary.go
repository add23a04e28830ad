package metrics

import (
	"math"
	"sync/atomic"
)

// Summary is the JSON body of GET /health/metrics: session totals since start.
type Summary struct {
	Requests uint64 `json:"requests"`
	// Errors counts requests that ended with status >= 500 or an error.
	Errors uint64 `json:"errors"`
	// StatusClasses maps "2xx", "4xx", ..., "error", "unknown" to counts (non-zero only).
	StatusClasses    map[string]uint64 `json:"status_classes"`
	PromptTokens     uint64            `json:"prompt_tokens"`
	CompletionTokens uint64            `json:"completion_tokens"`
	// EstimatedTokens is the part of the token counts the gateway estimated.
	EstimatedTokens uint64 `json:"estimated_tokens"`
	// CostUSD sums priced requests only; UnpricedRequests used tokens on a model
	// without a price, so CostUSD understates spend whenever it is non-zero.
	CostUSD          float64           `json:"cost_usd"`
	UnpricedRequests uint64            `json:"unpriced_requests"`
	InFlight         int64             `json:"in_flight"`
	RateLimited      uint64            `json:"rate_limited"`
	AuthFailed       uint64            `json:"auth_failed"`
	Keys             []KeySummary      `json:"keys"`
	Breakers         map[string]string `json:"breakers"`
	LogWriter        LogWriterSummary  `json:"log_writer"`
}

// KeySummary is one key's concurrency and queue at the last limiter snapshot.
type KeySummary struct {
	Key      string `json:"key"`
	InFlight int    `json:"in_flight"`
	Queued   int    `json:"queued"`
}

// LogWriterSummary is the request-log writer's state.
type LogWriterSummary struct {
	Queued  int64  `json:"queued"`
	Written uint64 `json:"written"`
	Dropped uint64 `json:"dropped"`
}

// totals mirrors the Prometheus counters in plain atomics: reading them back out of
// client_golang means serialising every metric through protobuf structs.
type totals struct {
	requests, errors              atomic.Uint64
	classes                       [numClasses]atomic.Uint64
	prompt, completion, estimated atomic.Uint64
	costBits                      atomic.Uint64 // float64 bits
	unpriced                      atomic.Uint64
	inFlight                      atomic.Int64
	rateLimited, authFailed       atomic.Uint64
}

func (t *totals) observe(cls int, failed bool, prompt, completion int, estimated bool, cost float64, priced bool) {
	t.requests.Add(1)
	t.classes[cls].Add(1)
	if failed {
		t.errors.Add(1)
	}
	t.prompt.Add(uint64(prompt))
	t.completion.Add(uint64(completion))
	if estimated {
		t.estimated.Add(uint64(prompt + completion))
	}
	switch {
	case priced && cost > 0:
		for {
			old := t.costBits.Load()
			if t.costBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+cost)) {
				break
			}
		}
	case !priced && prompt+completion > 0:
		t.unpriced.Add(1)
	}
}

// Summary returns the current totals.
func (m *Metrics) Summary() Summary {
	t := &m.totals
	s := Summary{
		Requests:         t.requests.Load(),
		Errors:           t.errors.Load(),
		StatusClasses:    map[string]uint64{},
		PromptTokens:     t.prompt.Load(),
		CompletionTokens: t.completion.Load(),
		EstimatedTokens:  t.estimated.Load(),
		CostUSD:          math.Float64frombits(t.costBits.Load()),
		UnpricedRequests: t.unpriced.Load(),
		InFlight:         t.inFlight.Load(),
		RateLimited:      t.rateLimited.Load(),
		AuthFailed:       t.authFailed.Load(),
		LogWriter: LogWriterSummary{
			Queued:  m.logQueued.Load(),
			Written: m.logWritten.Load(),
			Dropped: m.logDropped.Load(),
		},
	}
	for i := range t.classes {
		if n := t.classes[i].Load(); n > 0 {
			s.StatusClasses[classNames[i]] = n
		}
	}
	s.Keys, s.Breakers = m.state.snapshot()
	return s
}
