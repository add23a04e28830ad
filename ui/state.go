package ui

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/events"
)

// rateCounter counts finished requests per second over the last minute.
type rateCounter struct {
	sec [sparkSeconds]int64 // unix second each bucket holds
	n   [sparkSeconds]int
}

func (c *rateCounter) add(t time.Time) {
	s := t.Unix()
	i := int(((s % sparkSeconds) + sparkSeconds) % sparkSeconds)
	if c.sec[i] != s {
		c.sec[i], c.n[i] = s, 0
	}
	c.n[i]++
}

func (c *rateCounter) count(s int64) int {
	i := int(((s % sparkSeconds) + sparkSeconds) % sparkSeconds)
	if c.sec[i] != s {
		return 0
	}
	return c.n[i]
}

// series returns the counts of the last w seconds, oldest first, ending with now's.
func (c *rateCounter) series(now time.Time, w int) []int {
	w = min(w, sparkSeconds)
	out := make([]int, w)
	s := now.Unix()
	for i := range w {
		out[i] = c.count(s - int64(w-1-i))
	}
	return out
}

// rps is the mean rate over the last five complete seconds.
func (c *rateCounter) rps(now time.Time) float64 {
	s := now.Unix()
	total := 0
	for i := int64(1); i <= 5; i++ {
		total += c.count(s - i)
	}
	return float64(total) / 5
}

// applySnapshot replaces gateway-wide state with a fresh snapshot. Request history the
// dashboard already holds is kept; snapshot rows it lacks are added.
func (m *Model) applySnapshot(st events.State) {
	if st.Version != "" {
		m.version = st.Version
	}
	if st.Addr != "" {
		m.addr = st.Addr
	}
	if !st.Started.IsZero() {
		m.started = st.Started
	}
	m.authOn = st.AuthOn
	m.totals = st.Totals

	old := m.provIdx
	m.provs = m.provs[:0]
	m.provIdx = make(map[string]*provider, len(st.Providers))
	for _, ps := range st.Providers {
		p := old[ps.Name]
		if p == nil {
			p = newProvider(ps.Name)
		}
		p.ProviderState = ps
		m.provs = append(m.provs, p)
		m.provIdx[ps.Name] = p
	}
	m.setKeys(st.Keys)

	known := make(map[string]bool, m.rows.len())
	for i := range m.rows.len() {
		known[m.rows.at(i).req.ID] = true
	}
	for i := len(st.Recent) - 1; i >= 0; i-- { // oldest first, so the newest ends on top
		r := st.Recent[i]
		if known[r.ID] || r.Started.Before(m.clearedAt) {
			continue
		}
		m.pushRow(&row{req: r})
		m.rate.add(finishTime(r))
	}
	// In-flight requests: the snapshot is the truth; rows we tracked that it no
	// longer lists finished while we were away.
	live := make(map[string]bool, len(st.InFlight))
	for i := len(st.InFlight) - 1; i >= 0; i-- {
		r := st.InFlight[i]
		live[r.ID] = true
		if cur := m.inflight[r.ID]; cur != nil {
			cur.req = r
			continue
		}
		m.trackInFlight(&row{req: r})
	}
	for id, r := range m.inflight {
		if !live[id] {
			r.lost = true
			delete(m.inflight, id)
		}
	}
}

func newProvider(name string) *provider {
	return &provider{
		ProviderState: events.ProviderState{Name: name, Breaker: "closed"},
		lat:           newRing[float64](providerSamples),
		failed:        newRing[bool](providerSamples),
		errs:          newRing[provError](provErrors),
	}
}

// providerNamed returns the provider called name, adding it when events mention one
// the snapshot did not.
func (m *Model) providerNamed(name string) *provider {
	if p := m.provIdx[name]; p != nil {
		return p
	}
	p := newProvider(name)
	m.provs = append(m.provs, p)
	m.provIdx[name] = p
	return p
}

// setKeys replaces the key list from a limiter snapshot, keeping when each key was
// last refused. Keys are sorted by name so the pane does not jump around.
func (m *Model) setKeys(ls []events.KeyLimits) {
	old := m.keyIdx
	m.keyList = m.keyList[:0]
	m.keyIdx = make(map[string]*keyState, len(ls))
	for _, l := range ls {
		id := keyID(l.KeyID, l.KeyName)
		k := old[id]
		if k == nil {
			k = &keyState{}
		}
		k.KeyLimits = l
		m.keyList = append(m.keyList, k)
		m.keyIdx[id] = k
	}
	sort.SliceStable(m.keyList, func(i, j int) bool {
		return strings.ToLower(keyLabel(m.keyList[i].KeyLimits)) < strings.ToLower(keyLabel(m.keyList[j].KeyLimits))
	})
}

func keyID(id, name string) string {
	if id != "" {
		return id
	}
	return "name:" + name
}

func keyLabel(k events.KeyLimits) string {
	if k.KeyName != "" {
		return k.KeyName
	}
	return k.KeyID
}

// pushRow adds r as the newest history row; a row evicted while still in flight stays
// tracked by the in-flight map and returns to the ring when it finishes.
func (m *Model) pushRow(r *row) {
	r.inRing = true
	if old, ok := m.rows.push(r); ok && old != nil {
		old.inRing = false
	}
}

// trackInFlight starts following a live request. When the map is full the oldest live
// request is given up on (marked lost) so the map never grows past maxInFlight.
func (m *Model) trackInFlight(r *row) {
	if len(m.inflight) >= maxInFlight {
		var oldest *row
		for _, c := range m.inflight {
			if oldest == nil || c.req.Started.Before(oldest.req.Started) {
				oldest = c
			}
		}
		if oldest != nil {
			oldest.lost = true
			delete(m.inflight, oldest.req.ID)
		}
	}
	m.inflight[r.req.ID] = r
	m.pushRow(r)
}

// applyEvent folds one live event into the model.
func (m *Model) applyEvent(e events.Event) {
	switch e.Kind {
	case events.KindRequestStarted:
		if e.Request == nil {
			return
		}
		if r := m.inflight[e.Request.ID]; r != nil {
			r.req = *e.Request
			return
		}
		m.trackInFlight(&row{req: *e.Request})
	case events.KindRequestProgress:
		if e.Request == nil {
			return
		}
		r := m.inflight[e.Request.ID]
		if r == nil {
			m.trackInFlight(&row{req: *e.Request})
			return
		}
		mergeProgress(&r.req, e.Request)
	case events.KindAttempt:
		if e.Attempt != nil {
			m.applyAttempt(e.Attempt)
		}
	case events.KindRequestFinished:
		if e.Request != nil {
			m.applyFinished(e.Request, e.Time)
		}
	case events.KindBreakerChanged:
		if b := e.Breaker; b != nil {
			p := m.providerNamed(b.Provider)
			p.Breaker = b.To
			p.NextProbe = b.NextProbe
			if b.Reason != "" {
				p.LastError, p.LastErrorAt = b.Reason, e.Time
				p.errs.push(provError{at: e.Time, msg: "breaker " + b.To + ": " + b.Reason})
			}
		}
	case events.KindLimiterSnapshot:
		m.setKeys(e.Limits)
	case events.KindRateLimited:
		if d := e.Denied; d != nil {
			if k := m.keyIdx[keyID(d.KeyID, d.KeyName)]; k != nil {
				k.deniedAt = m.now()
			}
		}
	case events.KindDropped:
		m.dropped += e.Dropped
	}
}

// mergeProgress copies the live fields of a progress event onto a tracked request.
func mergeProgress(dst, src *events.Request) {
	if src.CompletionTokens > dst.CompletionTokens {
		dst.CompletionTokens = src.CompletionTokens
	}
	if src.PromptTokens > 0 {
		dst.PromptTokens = src.PromptTokens
	}
	if src.TTFTMS > 0 {
		dst.TTFTMS = src.TTFTMS
	}
	if src.Provider != "" {
		dst.Provider = src.Provider
	}
	if len(src.Providers) > 0 {
		dst.Providers = src.Providers
	}
	if src.Attempts > dst.Attempts {
		dst.Attempts = src.Attempts
	}
}

func (m *Model) applyAttempt(a *events.Attempt) {
	p := m.providerNamed(a.Provider)
	if a.RateLimitedUntil.After(p.RateLimitedUntil) {
		p.RateLimitedUntil = a.RateLimitedUntil
	}
	failed := a.Error != "" || a.Status >= 500 || a.Status == 429 || a.Status == 408
	p.failed.push(failed)
	if failed {
		msg := a.Error
		if a.Status != 0 {
			msg = strings.TrimSpace(fmt.Sprintf("%d %s", a.Status, msg))
		}
		p.errs.push(provError{at: m.now(), msg: msg})
	}
	if !failed && a.LatencyMS > 0 {
		p.lat.push(a.LatencyMS)
	}
	r := m.inflight[a.RequestID]
	if r == nil {
		return
	}
	r.sawAttempts = true
	if n := len(r.req.Providers); n == 0 || r.req.Providers[n-1] != a.Provider {
		r.req.Providers = append(slices.Clip(r.req.Providers), a.Provider)
	}
	r.req.Provider = a.Provider
	r.req.Attempts = max(r.req.Attempts, a.Number)
}

func (m *Model) applyFinished(fin *events.Request, at time.Time) {
	r := m.inflight[fin.ID]
	if r != nil {
		delete(m.inflight, fin.ID)
		providers, attempts := r.req.Providers, r.req.Attempts
		r.req = *fin
		if len(r.req.Providers) == 0 {
			r.req.Providers = providers
		}
		r.req.Attempts = max(r.req.Attempts, attempts)
		if !r.inRing {
			m.pushRow(r)
		}
	} else {
		r = &row{req: *fin}
		m.pushRow(r)
	}
	if !r.sawAttempts && fin.Provider != "" {
		p := m.providerNamed(fin.Provider)
		failed := fin.Status >= 500 || fin.Status == 0
		p.failed.push(failed)
		if !failed && fin.LatencyMS > 0 {
			p.lat.push(fin.LatencyMS)
		}
	}
	m.totals.Requests++
	if fin.Status >= 400 || fin.Error != "" {
		m.totals.Errors++
	}
	m.totals.PromptTokens += uint64(max(fin.PromptTokens, 0))
	m.totals.CompletionTokens += uint64(max(fin.CompletionTokens, 0))
	if fin.CostUSD != nil {
		m.totals.CostUSD += *fin.CostUSD
	} else if fin.Unpriced() {
		m.totals.UnpricedRequests++
	}
	if at.IsZero() {
		at = finishTime(*fin)
	}
	m.rate.add(at)
}

// finishTime is when a finished request ended, from its start and latency.
func finishTime(r events.Request) time.Time {
	return r.Started.Add(time.Duration(r.LatencyMS * float64(time.Millisecond)))
}

// p50 and errorRate prefer what the dashboard measured itself and fall back to the
// gateway's snapshot figures.
func (p *provider) p50() float64 {
	n := p.lat.len()
	if n == 0 {
		return p.P50MS
	}
	xs := make([]float64, n)
	for i := range n {
		xs[i] = p.lat.at(i)
	}
	slices.Sort(xs)
	return xs[n/2]
}

func (p *provider) errorRate() float64 {
	n := p.failed.len()
	if n == 0 {
		return p.ErrorRate
	}
	bad := 0
	for i := range n {
		if p.failed.at(i) {
			bad++
		}
	}
	return float64(bad) / float64(n)
}

// inFlightBy counts live requests per provider.
func (m *Model) inFlightBy() map[string]int {
	out := make(map[string]int, len(m.provs))
	for _, r := range m.inflight {
		if r.req.Provider != "" {
			out[r.req.Provider]++
		}
	}
	return out
}

// atLimit reports whether a key is at one of its limits (or was refused recently).
func (m *Model) atLimit(k *keyState) bool {
	l := k.KeyLimits
	switch {
	case l.RPMLimit > 0 && l.RPM >= l.RPMLimit,
		l.RPHLimit > 0 && l.RPH >= l.RPHLimit,
		l.TPMLimit > 0 && l.TPM >= l.TPMLimit,
		l.Concurrent > 0 && l.InFlight >= l.Concurrent,
		l.BudgetUSD != nil && *l.BudgetUSD > 0 && l.SpentUSD >= *l.BudgetUSD:
		return true
	}
	return !k.deniedAt.IsZero() && m.now().Sub(k.deniedAt) < limitFlash
}
