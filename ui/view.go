package ui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// View returns the last rendered frame. Bubble Tea calls View after every message;
// rendering only on the tick (or on input) keeps a flood of events from costing a
// frame each.
func (m *Model) View() string {
	if m.frame == "" {
		m.render()
	}
	return m.frame
}

// layout is the row budget of one frame.
type layout struct {
	header, body, footer int
	requests, bottom     int // heights of the requests pane and the providers/keys row
	provW, keysW         int
}

const headerLines = 2

func (m *Model) layout() layout {
	l := layout{header: headerLines, footer: lipgloss.Height(m.footer())}
	l.body = max(m.height-l.header-l.footer, 3)
	// The bottom row is as tall as its longest pane needs, at most 2/5 of the body.
	need := max(len(m.provs), len(m.keyList), 1) + 2 // title + column header
	l.bottom = clamp(need, 3, max(l.body*2/5, 3))
	if l.body < 10 {
		l.bottom = 0 // too small for side panes: requests only
	}
	l.requests = l.body - l.bottom
	l.provW = clamp(m.width*2/5, 24, 56)
	if m.width < 100 {
		l.provW = clamp(m.width*3/8, 24, 40)
	}
	l.keysW = max(m.width-l.provW-1, 10)
	return l
}

// requestRows is how many request rows fit, for paging.
func (m *Model) requestRows() int { return max(m.layout().requests-2, 1) }

// render composes the whole frame and clears the dirty flag.
func (m *Model) render() {
	m.dirty = false
	w := max(m.width, 20)
	if m.detail != nil {
		m.frame = m.renderDetailFrame(w)
		return
	}
	if m.info != nil {
		m.frame = m.renderInfoFrame(w)
		return
	}
	l := m.layout()
	var parts []string
	parts = append(parts, m.renderHeader(w))
	if m.sessionsView {
		parts = append(parts, m.renderSessions(w, l.requests))
	} else {
		parts = append(parts, m.renderRequests(w, l.requests))
	}
	if l.bottom > 0 {
		left := m.renderProviders(l.provW, l.bottom)
		right := m.renderKeys(l.keysW, l.bottom)
		parts = append(parts, lipgloss.JoinHorizontal(lipgloss.Top, left, " ", right))
	}
	parts = append(parts, m.footer())
	m.frame = lipgloss.JoinVertical(lipgloss.Left, parts...)
}

// footer is the refused admin key once that stopped the dashboard, the filter
// prompt while typing, the stop question after q in serve mode, else the help.
func (m *Model) footer() string {
	if m.authFailed {
		return cut(m.st.bad.Render(authFailedText), max(m.width, 20))
	}
	if m.confirmQuit {
		q := m.st.warn.Render("Stop the gateway?") + m.st.dim.Render(" In-flight requests drain first. y stop · any other key stay")
		return cut(q, max(m.width, 20))
	}
	if m.filtering {
		prompt := m.st.filter.Render("/"+m.filterText) + m.st.filter.Render("█")
		hint := m.st.dim.Render("  filter by model, key, provider or status · enter keep · esc clear")
		return cut(prompt+hint, max(m.width, 20))
	}
	return m.help.View(m.keys)
}

// authFailedText is what the dashboard says, and then stops, when the gateway refuses
// the admin key (the same sentence `runestone top` prints before opening it).
const authFailedText = "401: admin key required · pass --admin-key or set RUNESTONE_ADMIN_KEY"

// paneTitle draws a pane's title line: the title, extra info, then a rule to width w.
func (m *Model) paneTitle(p pane, title, info string, w int) string {
	st := m.st.paneTitle
	if m.focus == p && m.detail == nil {
		st = m.st.paneTitleFocused
	}
	s := st.Render(title)
	if info != "" {
		s += " " + info
	}
	if rest := w - lipgloss.Width(s) - 1; rest > 0 {
		s += " " + m.st.dim.Render(strings.Repeat("─", rest))
	}
	return s
}

// block pads lines to exactly h lines of width w.
func block(lines []string, w, h int) string {
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	for i, ln := range lines {
		lines[i] = fitLine(ln, w)
	}
	return strings.Join(lines, "\n")
}
