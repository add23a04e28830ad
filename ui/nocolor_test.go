package ui

import (
	"io"
	"regexp"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// colourSGR matches an SGR sequence that sets a foreground or background colour.
var colourSGR = regexp.MustCompile(`\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7]|10[0-7])(;[0-9;]*)?m`)

func TestNoColor(t *testing.T) {
	trueColor := func() *lipgloss.Renderer {
		r := lipgloss.NewRenderer(io.Discard)
		r.SetColorProfile(termenv.TrueColor)
		return r
	}
	render := func(noColor bool) string {
		m, _ := connected(t, busySource())
		m.setStyles(newStyles(trueColor(), noColor))
		m.render()
		return m.View()
	}
	if !colourSGR.MatchString(render(false)) {
		t.Fatal("control: a colour terminal should get colours")
	}
	if v := render(true); colourSGR.MatchString(v) {
		t.Fatalf("no-colour styles still emit colour: %q", colourSGR.FindString(v))
	}

	t.Setenv("NO_COLOR", "1")
	if !noColorEnv() {
		t.Fatal("NO_COLOR=1 not detected")
	}
	if m := New(busySource(), Options{}); !m.st.noColor {
		t.Fatal("New should honour NO_COLOR")
	}
	t.Setenv("NO_COLOR", "")
	if noColorEnv() {
		t.Fatal("an empty NO_COLOR must not disable colour")
	}
}
