package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/jmanhype/runestone/internal/events"
)

// renderDetailFrame draws the detail view: header, a scrollable viewport, help.
func (m *Model) renderDetailFrame(w int) string {
	head := m.renderHeader(w)
	foot := m.help.View(detailKeyMap{m.keys})
	d := m.detail
	title := m.paneTitle(paneRequests, "Request "+d.id, m.st.dim.Render(fmt.Sprintf("%3.0f%%", m.vp.ScrollPercent()*100)), w)
	h := max(m.height-lipgloss.Height(head)-lipgloss.Height(foot)-1, 1)
	if m.vp.Width != w || m.vp.Height != h {
		m.vp.Width, m.vp.Height = w, h
		m.setDetailContent()
	}
	return lipgloss.JoinVertical(lipgloss.Left, head, title, block(strings.Split(m.vp.View(), "\n"), w, h), foot)
}

// setDetailContent (re)fills the viewport from the detail state.
func (m *Model) setDetailContent() {
	d := m.detail
	if d == nil {
		return
	}
	w := max(m.vp.Width, 20)
	var b strings.Builder
	section := func(s string) { b.WriteString("\n" + m.st.detailTitle.Render(s) + "\n") }
	field := func(k, v string) {
		for i, ln := range wrapLines(v, max(w-14, 10)) {
			label := ""
			if i == 0 {
				label = k
			}
			b.WriteString("  " + m.st.detailKey.Render(pad(label, 11)) + " " + ln + "\n")
		}
	}
	r := d.req
	loc := m.now().Location()
	section("Request")
	field("id", r.ID)
	field("time", r.Started.In(loc).Format("2006-01-02 15:04:05.000 MST"))
	key := r.KeyName
	if r.KeyID != "" {
		key += " (" + r.KeyID + ")"
	}
	if r.Project != "" {
		key += "  project " + r.Project
	}
	field("key", orDash(strings.TrimSpace(key)))
	field("endpoint", orDash(r.Endpoint)+fmt.Sprintf("  stream %v", r.Stream))
	if r.Dialect != "" {
		dialect := r.Dialect
		switch r.UpstreamDialect {
		case "":
		case r.Dialect:
			dialect += "  (relayed)"
		default:
			dialect += " → " + r.UpstreamDialect + "  (translated)"
		}
		field("dialect", dialect)
	}
	if r.Session != "" {
		field("session", r.Session)
	}
	model := r.Model
	if r.UpstreamModel != "" && r.UpstreamModel != r.Model {
		model += "  (upstream " + r.UpstreamModel + ")"
	}
	field("model", orDash(model))
	if r.ModelDiffers() {
		field("answered", m.st.warn.Render(r.AnsweredModel+"  (not the model sent; priced as this one)"))
	}
	field("route", routeText(&r))
	status := "in flight"
	if r.Status != 0 {
		status = m.st.status(r.Status).Render(fmt.Sprintf("%d", r.Status))
	}
	field("status", status)
	if r.Error != "" {
		field("error", m.st.bad.Render(r.Error))
	}
	if r.TraceID != "" {
		field("trace", r.TraceID) // OpenTelemetry trace id: paste it into Jaeger, Tempo, …
	}

	section("Timings")
	field("latency", fmtMS(r.LatencyMS))
	field("ttft", fmtMS(r.TTFTMS))
	field("overhead", fmtMS(r.OverheadMS))

	section("Tokens & cost")
	tok := fmt.Sprintf("prompt %d  completion %d", r.PromptTokens, r.CompletionTokens)
	switch {
	case r.TokensEstimated:
		tok += "  (estimated)"
	case r.PromptTokens+r.CompletionTokens > 0 && r.Status != 0:
		tok += "  (reported)"
	}
	field("tokens", tok)
	if r.CachedTokens > 0 || r.CacheWriteTokens > 0 {
		cache := fmt.Sprintf("read %d  written %d  (of prompt)", r.CachedTokens, r.CacheWriteTokens)
		if r.CacheWrite1hTokens > 0 {
			cache += fmt.Sprintf("  writes: %d 5m, %d 1h", r.CacheWriteTokens-r.CacheWrite1hTokens, r.CacheWrite1hTokens)
		}
		field("cache", cache)
	}
	if r.ReasoningTokens > 0 || r.CompactionTokens > 0 || r.WebSearchCalls > 0 || r.ServiceTier != "" {
		field("classes", fmt.Sprintf("reasoning %d (of completion)  compaction %d  web searches %d  tier %s",
			r.ReasoningTokens, r.CompactionTokens, r.WebSearchCalls, orDash(r.ServiceTier)))
	}
	cost := fmtCost(r.CostUSD)
	if r.CostUSD != nil && r.TokensEstimated {
		cost += "  (estimated)"
	}
	field("cost", cost)
	if len(r.Dropped) > 0 {
		field("dropped", m.st.warn.Render(strings.Join(r.Dropped, ", ")))
	}

	switch {
	case d.loading:
		b.WriteString("\n" + m.st.hint.Render("  loading captured bodies…") + "\n")
	case d.err != nil && errors.Is(d.err, events.ErrRequestNotFound):
		b.WriteString("\n" + m.st.hint.Render("  No captured detail for this request (still in flight, or not logged).") + "\n")
	case d.err != nil:
		b.WriteString("\n" + m.st.bad.Render("  Could not load detail: "+d.err.Error()) + "\n")
	case d.d != nil:
		m.writeAttempts(&b, d.d.Attempts, &r, w)
		section("Request body")
		writeBody(&b, m, d.d.RequestBody, w)
		section("Response body")
		writeBody(&b, m, d.d.ResponseBody, w)
	}
	m.vp.SetContent(strings.TrimPrefix(b.String(), "\n"))
}

func (m *Model) writeAttempts(b *strings.Builder, as []events.Attempt, r *events.Request, w int) {
	n := len(as)
	if n == 0 {
		n = r.Attempts
	}
	b.WriteString("\n" + m.st.detailTitle.Render(fmt.Sprintf("Attempts (%d)", n)) + "\n")
	if len(as) == 0 {
		// The log keeps the providers tried, not each attempt.
		text := "  none recorded"
		if len(r.Providers) > 0 || r.Provider != "" {
			text = "  providers tried: " + strings.TrimPrefix(routeText(&events.Request{Providers: r.Providers, Provider: r.Provider, Attempts: r.Attempts}), " → ")
		}
		b.WriteString(m.st.hint.Render(text) + "\n")
		return
	}
	for _, a := range as {
		st := dash
		if a.Status != 0 {
			st = m.st.status(a.Status).Render(fmt.Sprintf("%d", a.Status))
		}
		line := fmt.Sprintf("  #%-2d %s %s %s %s", a.Number, pad(a.Provider, 12), pad(a.Model, 22), padLeft(st, 3), padLeft(fmtMS(a.LatencyMS), 7))
		if a.Retrying {
			line += m.st.warn.Render("  → retry")
		}
		b.WriteString(line + "\n")
		if a.Error != "" {
			for _, ln := range wrapLines(a.Error, max(w-8, 10)) {
				b.WriteString("      " + m.st.bad.Render(ln) + "\n")
			}
		}
	}
}

// writeBody writes a captured body, pretty-printing JSON and hard-wrapping long lines.
func writeBody(b *strings.Builder, m *Model, body string, w int) {
	if strings.TrimSpace(body) == "" {
		b.WriteString(m.st.hint.Render("  (not captured)") + "\n")
		return
	}
	text := body
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(body), "", "  ") == nil {
		text = buf.String()
	}
	for _, ln := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		for _, part := range wrapLines(ln, max(w-4, 10)) {
			b.WriteString("  " + part + "\n")
		}
	}
}

// wrapLines hard-wraps s into pieces of at most w runes (bodies have no word breaks
// worth keeping, and indentation must survive).
func wrapLines(s string, w int) []string {
	rs := []rune(strings.ReplaceAll(s, "\t", "  "))
	if len(rs) <= w {
		return []string{string(rs)}
	}
	var out []string
	for len(rs) > w {
		out = append(out, string(rs[:w]))
		rs = rs[w:]
	}
	return append(out, string(rs))
}

func orDash(s string) string {
	if s == "" {
		return dash
	}
	return s
}
