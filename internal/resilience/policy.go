package resilience

import (
	"math"
	"slices"

	"github.com/jmanhype/runestone/internal/provider"
)

// The router policies: the order in which Execute tries a request's targets.
const (
	PolicyDefault    = "default"     // Priority ascending, then the given order
	PolicyRoundRobin = "round-robin" // rotate the starting target on every request
	PolicyLatency    = "latency"     // lowest moving-average latency; unmeasured first
	PolicyCost       = "cost"        // cheapest input+output price; unpriced last
)

type policy uint8

const (
	policyDefault policy = iota
	policyRoundRobin
	policyLatency
	policyCost
)

func parsePolicy(s string) policy {
	switch s {
	case PolicyRoundRobin:
		return policyRoundRobin
	case PolicyLatency:
		return policyLatency
	case PolicyCost:
		return policyCost
	}
	return policyDefault
}

// Policies lists every policy name, in the order config errors and docs name them.
var Policies = []string{PolicyDefault, PolicyCost, PolicyLatency, PolicyRoundRobin}

// ValidPolicy reports whether s names a policy, for config validation.
func ValidPolicy(s string) bool { return slices.Contains(Policies, s) }

// orderInto appends targets to dst in policy order. Execute passes a stack buffer, so
// ordering a handful of targets allocates nothing.
func (x *Executor) orderInto(dst, targets []provider.Target, model string) []provider.Target {
	dst = append(dst[:0], targets...)
	n := len(dst)
	if n < 2 {
		return dst
	}
	if x.policy == policyRoundRobin {
		k := int((x.rr.Add(1) - 1) % uint64(n))
		// Rotate left by k with three reversals: in place, no allocation.
		slices.Reverse(dst[:k])
		slices.Reverse(dst[k:])
		slices.Reverse(dst)
		return dst
	}
	if x.policy == policyDefault && x.o.Priority == nil {
		return dst
	}
	if x.policy == policyCost && x.o.Price == nil {
		return dst
	}
	var keyBuf [8]float64
	keys := keyBuf[:0]
	for _, t := range dst {
		keys = append(keys, x.sortKey(t, model))
	}
	// Insertion sort: stable, allocation-free, and fastest for the few targets a model has.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
			dst[j], dst[j-1] = dst[j-1], dst[j]
		}
	}
	return dst
}

func (x *Executor) sortKey(t provider.Target, model string) float64 {
	switch x.policy {
	case policyLatency:
		// Unmeasured providers go first so they get measured at all.
		if ms, ok := x.state(t.Provider).ewma(); ok {
			return ms
		}
		return -1
	case policyCost:
		m := t.Model
		if m == "" {
			m = model
		}
		in, out, ok := x.o.Price(m)
		if !ok {
			return math.Inf(1)
		}
		return in + out
	}
	return float64(x.o.Priority(t.Provider.Name()))
}
