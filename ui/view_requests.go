package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/spinner"
	"github.com/jmanhype/runestone/internal/events"
)

// spinnerFrames animate live rows; the frame comes from the clock, so a fixed clock
// renders a fixed frame.
var spinnerFrames = spinner.MiniDot.Frames

// liveRows is the history, newest first.
func (m *Model) liveRows() []*row {
	out := make([]*row, 0, m.rows.len())
	for i := range m.rows.len() {
		out = append(out, m.rows.at(i))
	}
	return out
}

// visibleRows is what the requests pane lists: the frozen rows while paused, else
// the live history, narrowed by the filter.
func (m *Model) visibleRows() []*row {
	rows := m.frozen
	if !m.paused {
		rows = m.liveRows()
	}
	if m.filterText == "" && !m.errorsOnly {
		return rows
	}
	q := strings.ToLower(m.filterText)
	return slices.DeleteFunc(slices.Clone(rows), func(r *row) bool {
		return (m.errorsOnly && !failed(r)) || (q != "" && !matches(r, q))
	})
}

// failed reports whether a finished request failed (what the errors-only view keeps).
func failed(r *row) bool { return r.req.Status >= 400 || r.req.Error != "" }

// matches reports whether a row contains q (lower case) in its model, key, provider,
// status, dialect (or its tag) or session.
func matches(r *row, q string) bool {
	req := &r.req
	fields := []string{req.Model, req.KeyName, req.KeyID, req.Provider, req.UpstreamModel, strings.Join(req.Providers, " "),
		req.Dialect, dialectTag(req.Dialect), req.Session}
	if req.Status != 0 {
		fields = append(fields, strconv.Itoa(req.Status), fmt.Sprintf("%dxx", req.Status/100))
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

// selectedIndex is the position of the selected row in rows (0 when following).
func (m *Model) selectedIndex(rows []*row) int {
	if m.selID == "" {
		return 0
	}
	for i, r := range rows {
		if r.req.ID == m.selID {
			return i
		}
	}
	return 0
}

// reqCols are the widths of the requests table.
type reqCols struct {
	time, key, route, status, lat, ttft, tok, cost int
}

func requestCols(w int) reqCols {
	c := reqCols{time: 8, key: 8, status: 3, lat: 6, ttft: 6, tok: 10, cost: 8}
	if w >= 110 {
		c.key, c.lat, c.ttft, c.tok, c.cost = 12, 7, 7, 13, 8
	}
	fixed := 2 + c.time + c.key + c.status + c.lat + c.ttft + c.tok + c.cost + 7 // marker + gaps
	c.route = max(w-fixed, 8)
	return c
}

// renderRequests draws the requests pane in h lines.
func (m *Model) renderRequests(w, h int) string {
	rows := m.visibleRows()
	info := fmt.Sprintf("%d", len(rows))
	if m.filterText != "" || m.errorsOnly {
		total := m.rows.len()
		if m.paused {
			total = len(m.frozen)
		}
		info = fmt.Sprintf("%d of %d", len(rows), total)
	}
	if n := len(m.inflight); n > 0 {
		info += m.st.accent.Render(fmt.Sprintf(" · %d live", n))
	}
	if m.errorsOnly {
		info += m.st.filter.Render(" · errors only")
	}
	if m.filterText != "" {
		info += m.st.filter.Render(fmt.Sprintf(" · filter %q", m.filterText))
	}
	if m.paused {
		info += m.st.paused.Render(" PAUSED ")
	}
	lines := []string{m.paneTitle(paneRequests, "Requests", m.st.dim.Render(info), w)}
	if len(rows) == 0 {
		return block(append(lines, m.emptyHint(w)...), w, h)
	}
	c := requestCols(w)
	head := "  " + strings.Join([]string{
		pad("time", c.time), pad("key", c.key), pad("model → provider", c.route), pad("st", c.status),
		padLeft("lat", c.lat), padLeft("ttft", c.ttft), padLeft("tok in/out", c.tok), padLeft("cost", c.cost),
	}, " ")
	lines = append(lines, m.st.colHeader.Render(fitLine(head, w)))

	n := max(h-2, 0)
	sel := m.selectedIndex(rows)
	start := 0
	if sel >= n { // keep the selection on screen
		start = sel - n + 1
	}
	for i := start; i < len(rows) && i < start+n; i++ {
		lines = append(lines, m.requestLine(rows[i], c, w, i == sel))
	}
	return block(lines, w, h)
}

// requestLine draws one request; live rows show a spinner, elapsed time and tokens so far.
func (m *Model) requestLine(r *row, c reqCols, w int, selected bool) string {
	req := &r.req
	now := m.now()
	loc := now.Location()
	key := req.KeyName
	if key == "" {
		key = req.KeyID
	}
	if key == "" {
		key = dash
	}
	var status, lat, ttft, cost string
	statusStyle := m.st.status(req.Status)
	switch {
	case r.live():
		status = spinnerFrames[int(now.UnixMilli()/100)%len(spinnerFrames)]
		statusStyle = m.st.accent
		lat = fmtMS(float64(now.Sub(req.Started).Milliseconds()))
		ttft = fmtMS(req.TTFTMS)
		cost = "…"
	case req.Status == 0:
		status, cost = "?", dash
		lat, ttft = fmtMS(req.LatencyMS), fmtMS(req.TTFTMS)
	default:
		status = strconv.Itoa(req.Status)
		lat, ttft, cost = fmtMS(req.LatencyMS), fmtMS(req.TTFTMS), fmtCost(req.CostUSD)
	}
	tok := fmtCount(req.PromptTokens) + "/" + fmtCount(req.CompletionTokens)
	if req.TokensEstimated {
		tok = "~" + tok
	}
	if r.live() {
		switch {
		case req.PromptTokens == 0 && req.CompletionTokens == 0:
			tok = dash
		case req.PromptTokens == 0: // prompt not counted yet, completion streaming
			tok = "…/" + fmtCount(req.CompletionTokens)
		}
	}
	cells := []string{
		pad(req.Started.In(loc).Format("15:04:05"), c.time),
		pad(key, c.key),
		pad(taggedRoute(req), c.route),
		pad(status, c.status),
		padLeft(lat, c.lat),
		padLeft(ttft, c.ttft),
		padLeft(tok, c.tok),
		padLeft(cost, c.cost),
	}
	if selected {
		marker := "▸ "
		line := fitLine(marker+strings.Join(cells, " "), w)
		if m.focus == paneRequests {
			return m.st.selected.Render(line)
		}
		return m.st.bold.Render(line)
	}
	cells[0] = m.st.dim.Render(cells[0])
	cells[3] = statusStyle.Render(cells[3])
	if req.Attempts > 1 || len(req.Providers) > 1 {
		cells[2] = m.st.warn.Render(cells[2])
	}
	return "  " + strings.Join(cells, " ")
}

// dialectTag is the short tag the requests table shows for a request's inbound
// API; chat, the default, has none so the common case stays uncluttered.
func dialectTag(d string) string {
	switch d {
	case "", "chat":
		return ""
	case "messages":
		return "msg"
	case "responses":
		return "rsp"
	case "completions":
		return "cmp"
	case "embeddings":
		return "emb"
	}
	if len(d) > 3 {
		return d[:3]
	}
	return d
}

// taggedRoute is routeText with the dialect tag in front of the model, where a
// narrow column's truncation cannot hide it: "msg claude-sonnet-4-5 → anthropic".
func taggedRoute(r *events.Request) string {
	if tag := dialectTag(r.Dialect); tag != "" {
		return tag + " " + routeText(r)
	}
	return routeText(r)
}

// routeText is "model → provider", with every provider tried and the attempt count
// when the request retried or failed over: "gpt-4o → openai→backup ×3".
func routeText(r *events.Request) string {
	provs := slices.DeleteFunc(slices.Clone(r.Providers), func(p string) bool { return p == "" })
	if len(provs) == 0 && r.Provider != "" {
		provs = []string{r.Provider}
	}
	s := r.Model
	if len(provs) > 0 {
		s += " → " + strings.Join(provs, "→")
	}
	if r.Attempts > 1 {
		s += fmt.Sprintf(" ×%d", r.Attempts)
	}
	return s
}

// emptyHint tells a new user how to send the first request (and, when only the
// offline mock is configured, how to add a real provider).
func (m *Model) emptyHint(w int) []string {
	if m.errorsOnly && m.filterText == "" {
		return []string{"", m.st.hint.Render(trunc("  No failed requests. e shows them all again.", w))}
	}
	if m.filterText != "" {
		return []string{"", m.st.hint.Render(trunc(fmt.Sprintf("  No requests match %q. Esc clears the filter.", m.filterText), w))}
	}
	addr := m.addr
	if addr == "" {
		addr = "127.0.0.1:4001"
	}
	if !m.connected && m.rows.len() == 0 && m.gen == 0 {
		return []string{"", m.st.hint.Render(trunc("  Connecting to the gateway…", w))}
	}
	lines := []string{"", m.st.bold.Render(trunc("  No requests yet.", w))}
	lines = append(lines, wrapHint(m, fmt.Sprintf(
		"Create a key: runestone keys create --name dev — point your SDK at http://%s/v1", addr), w)...)
	if m.connected && len(m.provs) > 0 && m.onlyMock() {
		lines = append(lines, "")
		lines = append(lines, wrapHint(m,
			"Only the offline mock provider is configured. Set OPENAI_API_KEY or ANTHROPIC_API_KEY, "+
				"or add [[providers]] to config.toml (runestone config init).", w)...)
	}
	return lines
}

// onlyMock reports whether no provider except the offline mock is configured.
func (m *Model) onlyMock() bool {
	for _, p := range m.provs {
		if p.Kind != "mock" && p.Name != "mock" {
			return false
		}
	}
	return true
}

// wrapHint word-wraps a hint to width w, indented by two spaces.
func wrapHint(m *Model, s string, w int) []string {
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > w-2 {
			out = append(out, m.st.hint.Render("  "+line))
			line = word
			continue
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		out = append(out, m.st.hint.Render("  "+line))
	}
	return out
}
