package anthropic

import (
	"slices"
	"testing"
)

// TestSamplingByVersion: anthropic-version 2026-10-21 and later refuse temperature,
// top_p and top_k (a 400 even at their defaults); earlier versions take them.
func TestSamplingByVersion(t *testing.T) {
	for v, want := range map[string]bool{"2023-06-01": false, "2026-10-20": false, "2026-10-21": true, "2027-01-01": true} {
		if got := refusesSampling(v); got != want {
			t.Errorf("refusesSampling(%q) = %v", v, got)
		}
	}
	body, dropped := stripSampling([]byte(`{"model":"m","temperature":0.5,"top_k":3,"max_tokens":9}`), "2026-10-21")
	if string(body) != `{"model":"m","max_tokens":9}` ||
		!slices.Equal(dropped, []string{"temperature (anthropic-version 2026-10-21 refuses it)", "top_k (anthropic-version 2026-10-21 refuses it)"}) {
		t.Errorf("%s %q", body, dropped)
	}
	p := New(Options{APIKey: "k", Headers: map[string]string{"Anthropic-Version": "2026-10-21"}})
	if !p.noSampling || p.version != "2026-10-21" {
		t.Errorf("configured version not seen: %q", p.version)
	}
	if p := New(Options{APIKey: "k"}); p.noSampling || p.version != apiVersion {
		t.Errorf("default version: %q", p.version)
	}
}
