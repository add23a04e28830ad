package main

import (
	"math"
	"strings"
	"testing"
)

func TestIsContent(t *testing.T) {
	cases := []struct {
		line      string
		anthropic bool
		want      bool
	}{
		{`data: {"choices":[{"delta":{"content":" token"}}]}`, false, true},
		{`data: {"choices":[{"delta":{"content": " token"}}]}`, false, true},
		{`data: {"choices":[{"delta":{"role":"assistant","content":""}}]}`, false, false},
		{`data: {"choices":[{"delta":{},"finish_reason":"stop"}]}`, false, false},
		{`data: [DONE]`, false, false},
		{`: keep-alive`, false, false},
		{`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token"}}`, true, true},
		{`event: content_block_delta`, true, false},
		{`data: {"type":"ping"}`, true, false},
	}
	for _, c := range cases {
		if got := isContent([]byte(c.line), c.anthropic); got != c.want {
			t.Errorf("isContent(%q, %v) = %v, want %v", c.line, c.anthropic, got, c.want)
		}
	}
}

func TestMedianAndPct(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatalf("median = %v", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Fatal("median(nil) should be NaN")
	}
	s := make([]float64, 100)
	for i := range s {
		s[i] = float64(i + 1)
	}
	if p := pct(s, .99); p != 99 {
		t.Fatalf("p99 = %v", p)
	}
	if p := pct(s, .5); p != 50 {
		t.Fatalf("p50 = %v", p)
	}
}

func TestTableRatiosAndOrder(t *testing.T) {
	r := newResults()
	r.reserve("E resources", "binary size (MB)", "%.1f")
	r.add("A c=1", "p50 latency (µs)", tBare, "%.0f", 100)
	r.add("A c=1", "p50 latency (µs)", tRS, "%.0f", 150)
	r.add("A c=1", "p50 latency (µs)", tRS, "%.0f", 130)
	r.add("A c=1", "p50 latency (µs)", tRS, "%.0f", 170)
	r.add("E resources", "binary size (MB)", tRS, "%.1f", 30)
	out := r.table()
	if !strings.Contains(out, "| A c=1 | p50 latency (µs) | — | 100 | 150 | 1.50× |") {
		t.Fatalf("table:\n%s", out)
	}
	if strings.Index(out, "A c=1") > strings.Index(out, "E resources") {
		t.Fatalf("E rows must come last:\n%s", out)
	}
}
