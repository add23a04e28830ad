package ui

import (
	"os"

	"github.com/charmbracelet/lipgloss"
)

// styles holds every lipgloss style the dashboard uses, built from one renderer so
// the colour profile (and NO_COLOR) is decided in one place.
type styles struct {
	noColor bool

	title, dim, bold, warn, bad, good, accent   lipgloss.Style
	header, disconnected, paused                lipgloss.Style
	paneTitle, paneTitleFocused, colHeader      lipgloss.Style
	selected                                    lipgloss.Style
	status2xx, status4xx, status5xx, statusNone lipgloss.Style
	closed, halfOpen, open                      lipgloss.Style
	limit                                       lipgloss.Style
	barFull, barEmpty, barHot                   lipgloss.Style
	hint, filter, detailKey, detailTitle        lipgloss.Style
	spark                                       lipgloss.Style
}

// noColorEnv reports whether the user asked for no colour (https://no-color.org).
func noColorEnv() bool { return os.Getenv("NO_COLOR") != "" }

// newStyles builds the palette on r. With noColor every style keeps its emphasis
// (bold, reverse) but sets no foreground or background colour.
func newStyles(r *lipgloss.Renderer, noColor bool) *styles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	s := r.NewStyle
	fg := func(st lipgloss.Style, c string) lipgloss.Style {
		if noColor {
			return st
		}
		return st.Foreground(lipgloss.Color(c))
	}
	bg := func(st lipgloss.Style, c string) lipgloss.Style {
		if noColor {
			return st
		}
		return st.Background(lipgloss.Color(c))
	}
	const (
		green  = "42"
		yellow = "214"
		red    = "196"
		grey   = "245"
		blue   = "39"
		violet = "141"
	)
	st := &styles{noColor: noColor}
	st.title = fg(s().Bold(true), violet)
	st.dim = fg(s(), grey)
	st.bold = s().Bold(true)
	st.warn = fg(s(), yellow)
	st.bad = fg(s().Bold(true), red)
	st.good = fg(s(), green)
	st.accent = fg(s(), blue)
	st.header = s()
	st.disconnected = fg(s().Bold(true), red)
	st.paused = fg(s().Bold(true).Reverse(true), yellow)
	st.paneTitle = fg(s().Bold(true), grey)
	st.paneTitleFocused = fg(s().Bold(true).Underline(true), blue)
	st.colHeader = fg(s(), grey)
	st.selected = bg(s().Reverse(noColor), "237")
	st.status2xx = fg(s(), green)
	st.status4xx = fg(s(), yellow)
	st.status5xx = fg(s().Bold(true), red)
	st.statusNone = fg(s(), grey)
	st.closed = fg(s(), green)
	st.halfOpen = fg(s(), yellow)
	st.open = fg(s().Bold(true), red)
	st.limit = fg(s().Bold(true), red)
	st.barFull = fg(s(), blue)
	st.barEmpty = fg(s(), "238")
	st.barHot = fg(s(), red)
	st.hint = fg(s(), grey)
	st.filter = fg(s(), yellow)
	st.detailKey = fg(s(), grey)
	st.detailTitle = fg(s().Bold(true), violet)
	st.spark = fg(s(), blue)
	return st
}

// status returns the style for an HTTP status: 2xx green, 4xx yellow, 5xx red.
func (s *styles) status(code int) lipgloss.Style {
	switch {
	case code >= 500:
		return s.status5xx
	case code >= 400:
		return s.status4xx
	case code >= 200 && code < 300:
		return s.status2xx
	default:
		return s.statusNone
	}
}
