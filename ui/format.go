package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
)

// dash marks an unknown value.
const dash = "—"

// trunc shortens plain text s to at most w cells, ending in "…" when cut.
func trunc(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) <= w {
		return s
	}
	rs := []rune(s)
	for len(rs) > 0 && lipgloss.Width(string(rs))+1 > w {
		rs = rs[:len(rs)-1]
	}
	return string(rs) + "…"
}

// pad truncates or right-pads plain text s to exactly w cells.
func pad(s string, w int) string {
	s = trunc(s, w)
	if n := w - lipgloss.Width(s); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

// padLeft truncates or left-pads plain text s to exactly w cells (numbers).
func padLeft(s string, w int) string {
	s = trunc(s, w)
	if n := w - lipgloss.Width(s); n > 0 {
		s = strings.Repeat(" ", n) + s
	}
	return s
}

// cut truncates an already styled line to w cells.
func cut(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	return lipgloss.NewStyle().MaxWidth(w).Render(s)
}

// fitLine pads or cuts an already styled line to w cells.
func fitLine(s string, w int) string {
	if n := w - lipgloss.Width(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return cut(s, w)
}

// fmtMS formats a duration in milliseconds compactly: 85ms, 1.24s, 12.3s, 2m05s.
func fmtMS(ms float64) string {
	switch {
	case ms <= 0:
		return dash
	case ms < 1000:
		return fmt.Sprintf("%dms", int(ms+0.5))
	case ms < 10_000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms < 60_000:
		return fmt.Sprintf("%.1fs", ms/1000)
	default:
		d := time.Duration(ms) * time.Millisecond
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
}

// fmtDur formats an uptime or countdown: 45s, 12m03s, 3h04m, 2d03h.
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// fmtCount formats a count compactly: 950, 12.3k, 4.5M.
func fmtCount[T int | int64 | uint64](n T) string {
	f := float64(n)
	switch {
	case f < 1000:
		return fmt.Sprintf("%d", n)
	case f < 10_000:
		return strings.Replace(fmt.Sprintf("%.1fk", f/1000), ".0k", "k", 1)
	case f < 1_000_000:
		return fmt.Sprintf("%dk", int(f/1000))
	default:
		return fmt.Sprintf("%.1fM", f/1_000_000)
	}
}

// fmtPct formats a 0..1 rate as a percentage: 0%, 2.5%, 50%.
func fmtPct(r float64) string {
	switch p := r * 100; {
	case p <= 0:
		return "0%"
	case p < 10:
		return fmt.Sprintf("%.1f%%", p)
	default:
		return fmt.Sprintf("%.0f%%", p)
	}
}

// fmtUSD formats money: $0.0042, $1.23, $1,234.
func fmtUSD(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v < 0.0001:
		return "<$0.0001"
	case v < 1:
		// Four decimals, trailing zeros trimmed to two: $0.0117, $0.42.
		t := strings.TrimRight(fmt.Sprintf("%.4f", v), "0")
		for len(t)-strings.IndexByte(t, '.') < 3 {
			t += "0"
		}
		return "$" + t
	case v < 1000:
		return fmt.Sprintf("$%.2f", v)
	default:
		return fmt.Sprintf("$%.0f", v)
	}
}

// fmtBudget formats a budget compactly: $5, $12.50.
func fmtBudget(v float64) string {
	if v == float64(int64(v)) && v < 1e9 {
		return fmt.Sprintf("$%d", int64(v))
	}
	return fmtUSD(v)
}

// fmtCost formats a request's cost, "—" when the model has no price.
func fmtCost(c *float64) string {
	if c == nil {
		return dash
	}
	return fmtUSD(*c)
}

// sparkline draws counts as block characters scaled to their maximum.
func sparkline(xs []int) string {
	const levels = "▁▂▃▄▅▆▇█"
	lv := []rune(levels)
	hi := 0
	for _, x := range xs {
		hi = max(hi, x)
	}
	var b strings.Builder
	for _, x := range xs {
		i := 0
		if hi > 0 && x > 0 {
			i = 1 + x*(len(lv)-2)/hi
		}
		b.WriteRune(lv[i])
	}
	return b.String()
}

// bar draws used/limit as a w-cell bar; unlimited draws an empty dim track.
func (s *styles) bar(used, limit, w int) string {
	if w <= 0 {
		return ""
	}
	if limit <= 0 {
		return s.barEmpty.Render(strings.Repeat("·", w))
	}
	fill := (used*w + limit - 1) / limit
	fill = clamp(fill, 0, w)
	if used > 0 && fill == 0 {
		fill = 1
	}
	full := s.barFull
	if used >= limit {
		full = s.barHot
	}
	return full.Render(strings.Repeat("█", fill)) + s.barEmpty.Render(strings.Repeat("░", w-fill))
}
