package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
)

// tier names, in table-column order.
const (
	tDirect = "direct"
	tBare   = "bare"
	tRS     = "runestone"
)

type rowKey struct{ Scenario, Metric string }

// results keeps every per-round value of every (scenario, metric, tier), in the
// order rows were first seen; the table shows their medians.
type results struct {
	mu    sync.Mutex
	order []rowKey
	fmts  map[rowKey]string
	vals  map[rowKey]map[string][]float64
}

func newResults() *results {
	return &results{fmts: map[rowKey]string{}, vals: map[rowKey]map[string][]float64{}}
}

// add records one value; format is a fmt verb for the table ("%.0f", "%.2f").
func (r *results) add(scen, metric, tier, format string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := rowKey{scen, metric}
	if _, ok := r.vals[k]; !ok {
		r.order = append(r.order, k)
		r.vals[k] = map[string][]float64{}
		r.fmts[k] = format
	}
	r.vals[k][tier] = append(r.vals[k][tier], v)
}

// reserve fixes a row's place in the table before it has values.
func (r *results) reserve(scen, metric, format string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := rowKey{scen, metric}
	if _, ok := r.vals[k]; !ok {
		r.order = append(r.order, k)
		r.vals[k] = map[string][]float64{}
		r.fmts[k] = format
	}
}

func (r *results) get(scen, metric, tier string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.vals[rowKey{scen, metric}][tier]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// table renders the medians as one markdown table with a runestone ÷ bare column.
func (r *results) table() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString("| scenario | metric | direct | bare proxy | runestone | runestone ÷ bare |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|\n")
	order := append([]rowKey(nil), r.order...)
	// grouped by the scenario's letter, E (resources) last
	group := func(k rowKey) byte {
		if k.Scenario[0] == 'E' {
			return 0xff
		}
		return k.Scenario[0]
	}
	sort.SliceStable(order, func(i, j int) bool { return group(order[i]) < group(order[j]) })
	for _, k := range order {
		if len(r.vals[k]) == 0 {
			continue
		}
		f := r.fmts[k]
		cell := func(t string) (string, float64) {
			v := r.vals[k][t]
			if len(v) == 0 {
				return "—", math.NaN()
			}
			m := median(v)
			if m < 0 && strings.Contains(k.Metric, "RSS") { // unknown
				return "—", math.NaN()
			}
			return fmt.Sprintf(f, m), m
		}
		d, _ := cell(tDirect)
		bs, bv := cell(tBare)
		rs, rv := cell(tRS)
		ratio := "—"
		if !math.IsNaN(bv) && !math.IsNaN(rv) && bv > 0 && rv >= 0 && !strings.Contains(k.Metric, "noise") {
			ratio = fmt.Sprintf("%.2f×", rv/bv)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", k.Scenario, k.Metric, d, bs, rs, ratio)
	}
	return b.String()
}

func (r *results) writeRaw(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	type row struct {
		Scenario string               `json:"scenario"`
		Metric   string               `json:"metric"`
		Values   map[string][]float64 `json:"values"`
	}
	var rows []row
	for _, k := range r.order {
		rows = append(rows, row{k.Scenario, k.Metric, r.vals[k]})
	}
	b, err := json.MarshalIndent(rows, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// pct returns the q-quantile (0..1) of a sorted slice.
func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}
