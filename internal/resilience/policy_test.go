package resilience

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/provider"
)

func names(ts []provider.Target) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Provider.Name()+"/"+t.Model)
	}
	return strings.Join(s, " ")
}

func TestPolicyDefaultPriority(t *testing.T) {
	a, b, c, d := newFake("a"), newFake("b"), newFake("c"), newFake("d")
	prio := map[string]int{"a": 2, "b": 1, "c": 2, "d": 0}
	x := New(Options{Policy: PolicyDefault, Priority: func(p string) int { return prio[p] }}, nil)
	in := targets(a, b, c, d)
	if got := names(x.Order(in, "")); got != "d/up-d b/up-b a/up-a c/up-c" {
		t.Errorf("order = %s", got)
	}
	if names(in) != "a/up-a b/up-b c/up-c d/up-d" {
		t.Error("Order modified its input")
	}
	// No Priority: input order.
	x = New(Options{}, nil)
	if got := names(x.Order(in, "")); got != "a/up-a b/up-b c/up-c d/up-d" {
		t.Errorf("order = %s", got)
	}
}

func TestPolicyRoundRobinRotates(t *testing.T) {
	a, b, c := newFake("a"), newFake("b"), newFake("c")
	x := New(Options{Policy: PolicyRoundRobin}, nil)
	in := targets(a, b, c)
	want := []string{"a b c", "b c a", "c a b", "a b c"}
	for i, w := range want {
		var got []string
		for _, t := range x.Order(in, "") {
			got = append(got, t.Provider.Name())
		}
		if strings.Join(got, " ") != w {
			t.Errorf("call %d: %v, want %s", i, got, w)
		}
	}
	// Execute spreads first attempts across providers.
	for range 6 {
		if _, err := x.Execute(context.Background(), "r", in, do); err != nil {
			t.Fatal(err)
		}
	}
	if a.Calls() != 2 || b.Calls() != 2 || c.Calls() != 2 {
		t.Errorf("calls a=%d b=%d c=%d, want 2 each", a.Calls(), b.Calls(), c.Calls())
	}
}

func TestPolicyCost(t *testing.T) {
	a, b, c, d := newFake("a"), newFake("b"), newFake("c"), newFake("d")
	prices := map[string][2]float64{"up-a": {5, 15}, "up-b": {0.15, 0.6}, "up-d": {1, 1}, "client-model": {0.01, 0.01}}
	x := New(Options{Policy: PolicyCost, Price: func(m string) (float64, float64, bool) {
		p, ok := prices[m]
		return p[0], p[1], ok
	}}, nil)
	in := targets(a, b, c, d)
	if got := names(x.Order(in, "")); got != "b/up-b d/up-d a/up-a c/up-c" {
		t.Errorf("order = %s (unpriced c must be last)", got)
	}
	// An empty upstream model is priced by the request's model.
	in = append(in, provider.Target{Provider: newFake("e")})
	if got := names(x.Order(in, "client-model")); !strings.HasPrefix(got, "e/ ") {
		t.Errorf("order = %s", got)
	}
}

func TestPolicyLatencyMovesToFaster(t *testing.T) {
	clock := newClock()
	slow := newFake("slow", step{latency: 300 * time.Millisecond})
	fast := newFake("fast", step{latency: 20 * time.Millisecond})
	slow.clock, fast.clock = clock, clock
	x := New(Options{Policy: PolicyLatency, Now: clock.Now}, []provider.Provider{slow, fast})
	in := targets(slow, fast)
	first := func() string {
		res, err := x.Execute(context.Background(), "r", in, do)
		if err != nil {
			t.Fatal(err)
		}
		return res.Target.Provider.Name()
	}
	// Unmeasured providers go first, in input order, so both get measured.
	if got := first(); got != "slow" {
		t.Fatalf("1st = %s", got)
	}
	if got := first(); got != "fast" {
		t.Fatalf("2nd = %s: the unmeasured provider should be tried", got)
	}
	for i := range 3 {
		if got := first(); got != "fast" {
			t.Fatalf("run %d = %s, want the faster provider", i, got)
		}
	}
	// fast degrades: the moving average follows within a few requests.
	fast.set(step{latency: time.Second})
	switched := 0
	for i := range 5 {
		if first() == "slow" {
			switched = i + 1
			break
		}
	}
	if switched == 0 {
		t.Fatal("latency policy never moved away from the degraded provider")
	}
	if got := names(x.Order(in, "")); !strings.HasPrefix(got, "slow/") {
		t.Errorf("order = %s", got)
	}
}

func TestValidPolicy(t *testing.T) {
	for _, p := range []string{"default", "round-robin", "latency", "cost"} {
		if !ValidPolicy(p) {
			t.Errorf("%s invalid", p)
		}
	}
	if ValidPolicy("fastest") {
		t.Error("fastest valid")
	}
}

func TestOrderManyTargets(t *testing.T) {
	// More targets than the stack buffers hold.
	var ps []provider.Provider
	prio := map[string]int{}
	for i := range 20 {
		f := newFake(string(rune('a' + i)))
		ps = append(ps, f)
		prio[f.name] = 20 - i
	}
	x := New(Options{Priority: func(p string) int { return prio[p] }}, nil)
	got := x.Order(targets(ps...), "")
	if got[0].Provider.Name() != "t" || got[19].Provider.Name() != "a" {
		t.Errorf("order = %s", names(got))
	}
	for _, p := range ps {
		p.(*fakeProvider).set(step{err: upstreamErr(500, "x")})
	}
	x = New(Options{Retries: 0, BackoffBase: time.Nanosecond}, ps)
	_, err := x.Execute(context.Background(), "r", targets(ps...), do)
	ae := wantAPIErr(t, err, 502, "provider_unavailable")
	if strings.Count(ae.Message, "500 x") != 20 {
		t.Errorf("message = %s", ae.Message)
	}
}

// Every listed policy must be one parsePolicy knows, or config would accept a name the
// executor silently treats as "default".
func TestPoliciesParse(t *testing.T) {
	seen := map[policy]string{}
	for _, name := range Policies {
		if !ValidPolicy(name) {
			t.Errorf("ValidPolicy(%q) = false", name)
		}
		p := parsePolicy(name)
		if p == policyDefault && name != PolicyDefault {
			t.Errorf("parsePolicy(%q) falls back to default", name)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("%q and %q parse to the same policy", name, other)
		}
		seen[p] = name
	}
	if ValidPolicy("fastest") {
		t.Error(`ValidPolicy("fastest") = true`)
	}
}
