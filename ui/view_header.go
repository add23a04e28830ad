package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// renderHeader draws two lines: identity and connection, then traffic and spend.
func (m *Model) renderHeader(w int) string {
	now := m.now()
	// Line 1: version, address, uptime, providers, state flags; connection on the right.
	var left []string
	ver := m.version
	if ver == "" {
		ver = "dev"
	}
	left = append(left, m.st.title.Render("runestone "+ver))
	if m.addr != "" {
		left = append(left, m.st.accent.Render(m.addr))
	}
	if !m.started.IsZero() {
		left = append(left, "up "+fmtDur(now.Sub(m.started)))
	}
	healthy := 0
	for _, p := range m.provs {
		if p.Breaker == "" || p.Breaker == "closed" {
			healthy++
		}
	}
	provText := fmt.Sprintf("providers %d/%d healthy", healthy, len(m.provs))
	switch {
	case len(m.provs) == 0:
		left = append(left, m.st.dim.Render(provText))
	case healthy < len(m.provs):
		left = append(left, m.st.warn.Render(provText))
	default:
		left = append(left, m.st.good.Render(provText))
	}
	if m.paused {
		left = append(left, m.st.paused.Render(" PAUSED "))
	}
	if m.dropped > 0 {
		left = append(left, m.st.warn.Render("dropped "+fmtCount(m.dropped)))
	}
	var right string
	switch {
	case m.connected:
		right = m.st.good.Render("● live")
	case m.authFailed:
		right = m.st.disconnected.Render("✗ admin key refused")
	case m.gen == 0 && m.connecting:
		right = m.st.dim.Render("connecting…")
	case m.connecting:
		right = m.st.disconnected.Render("disconnected — retrying…")
	default:
		in := m.retryAt.Sub(now)
		text := "disconnected — retrying in " + fmtDur(in.Round(1e9))
		if m.connErr != "" && w >= 100 {
			text += " (" + trunc(m.connErr, 36) + ")"
		}
		right = m.st.disconnected.Render(text)
	}
	line1 := joinLR(strings.Join(left, "  "), right, w)

	// Line 2: req/s with a one-minute sparkline, then session tokens and cost.
	rate := fmt.Sprintf("%5.1f req/s ", m.rate.rps(now))
	tot := m.totals
	// The cost adds up: the priced sum, with the requests it cannot include beside it.
	cost := fmtUSD(tot.CostUSD)
	if tot.UnpricedRequests > 0 {
		cost += fmt.Sprintf(" + %s unpriced", fmtCount(tot.UnpricedRequests))
	}
	stats := fmt.Sprintf("  %s req  %s err  tok %s in/%s out  %s",
		fmtCount(tot.Requests), fmtCount(tot.Errors),
		fmtCount(tot.PromptTokens), fmtCount(tot.CompletionTokens), cost)
	if w < 100 {
		// Narrow: the token split goes before the error count does.
		stats = fmt.Sprintf("  %s req  %s err  tok %s  %s",
			fmtCount(tot.Requests), fmtCount(tot.Errors), fmtCount(tot.PromptTokens+tot.CompletionTokens), cost)
	}
	sw := clamp(w-lipgloss.Width(rate)-lipgloss.Width(stats), 0, sparkSeconds)
	line2 := rate + m.st.spark.Render(sparkline(m.rate.series(now, sw))) + stats
	return fitLine(line1, w) + "\n" + fitLine(line2, w)
}

// joinLR places right at the end of a w-wide line after left, cutting left if needed.
func joinLR(left, right string, w int) string {
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		left = cut(left, max(w-lipgloss.Width(right)-1, 0))
		gap = max(w-lipgloss.Width(left)-lipgloss.Width(right), 0)
	}
	return left + strings.Repeat(" ", gap) + right
}
