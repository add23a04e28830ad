package main

import (
	"math"
	"strings"
	"testing"
)

func TestIsContent(t *testing.T) {
	cases := []struct {
		line string
		d    dialect
		want bool
	}{
		{`data: {"choices":[{"delta":{"content":" token"}}]}`, dChat, true},
		{`data: {"choices":[{"delta":{"content": " token"}}]}`, dChat, true},
		{`data: {"choices":[{"delta":{"role":"assistant","content":""}}]}`, dChat, false},
		{`data: {"choices":[{"delta":{},"finish_reason":"stop"}]}`, dChat, false},
		{`data: [DONE]`, dChat, false},
		{`: keep-alive`, dChat, false},
		{`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token"}}`, dMessages, true},
		{`event: content_block_delta`, dMessages, false},
		{`data: {"type":"ping"}`, dMessages, false},
		{`data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Greetings","logprobs":[]}`, dResponses, true},
		{`data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"","logprobs":[]}`, dResponses, false},
		{`event: response.output_text.delta`, dResponses, false},
		{`data: {"type":"response.output_text.done","sequence_number":5,"text":"Greetings"}`, dResponses, false},
		{`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token"}}`, dResponses, false},
	}
	for _, c := range cases {
		if got := isContent([]byte(c.line), c.d); got != c.want {
			t.Errorf("isContent(%q, %v) = %v, want %v", c.line, c.d, got, c.want)
		}
	}
}

func TestDoneAndError(t *testing.T) {
	created := `data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","error":null,"usage":null}}`
	if isError([]byte(created), dResponses) || isDone([]byte(created), dResponses) {
		t.Fatal(`response.created ("error": null) read as an error or the end`)
	}
	for _, c := range []struct {
		line        string
		d           dialect
		done, error bool
	}{
		{`data: {"type":"response.completed","sequence_number":9,"response":{"error":null}}`, dResponses, true, false},
		{`data: {"type":"response.failed","sequence_number":9,"response":{"error":{"code":"server_error"}}}`, dResponses, false, true},
		{`data: {"type":"error","sequence_number":3,"code":"rate_limit_exceeded","message":"slow down"}`, dResponses, false, true},
		{`data: {"type":"message_stop"}`, dMessages, true, false},
		{`data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, dMessages, false, true},
		{`data: [DONE]`, dChat, true, false},
		{`data: {"error":{"message":"upstream gone"}}`, dChat, false, true},
	} {
		if isDone([]byte(c.line), c.d) != c.done || isError([]byte(c.line), c.d) != c.error {
			t.Errorf("%q in %v: done %v error %v", c.line, c.d, isDone([]byte(c.line), c.d), isError([]byte(c.line), c.d))
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
	r.add("M messages native", "TTFT p50 (ms)", tRS, "%.2f", 1)
	r.add("A messages c=1 (native)", "p50 latency (µs)", tRS, "%.0f", 1)
	out = r.table()
	if !(strings.Index(out, "| A messages") < strings.Index(out, "| E resources") &&
		strings.Index(out, "| E resources") > strings.Index(out, "| M messages")) {
		t.Fatalf("rows grouped by letter, E last:\n%s", out)
	}
}

func TestAddVsChat(t *testing.T) {
	r := newResults()
	sr := map[string]streamResult{
		tDirect: {ttftP50: 1.0},
		tBare:   {ttftP50: 1.1, cpuPerChunk: 15},
		tRS:     {ttftP50: 1.3, cpuPerChunk: 22},
	}
	ref := map[string]streamResult{
		tDirect: {ttftP50: 0.9},
		tBare:   {cpuPerChunk: 10},
		tRS:     {ttftP50: 1.1, cpuPerChunk: 20},
	}
	addVsChat(r, "M", sr, ref)
	near := func(metric string, want float64) {
		t.Helper()
		v := r.get("M", metric, tRS)
		if len(v) != 1 || math.Abs(v[0]-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", metric, v, want)
		}
	}
	near("chat relay CPU per chunk (µs)", 20)
	near("CPU per chunk ÷ chat relay", 1.1)
	near("CPU per chunk above bare ÷ chat relay's", 0.7) // (22-15)/(20-10)
	near("chat relay added TTFT p50 (ms)", 0.2)
	near("added TTFT p50 ÷ chat relay", 1.5) // 0.3/0.2

	// without a chat relay in the round there is nothing to compare
	r2 := newResults()
	addVsChat(r2, "M", sr, nil)
	if len(r2.order) != 0 {
		t.Fatalf("rows without a reference: %v", r2.order)
	}
}
