package ui

import (
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Goldens are plain text: no colour, whatever the terminal running the tests.
	lipgloss.SetColorProfile(termenv.Ascii)
	goleak.VerifyTestMain(m,
		// teatest waits for SIGINT on a goroutine that lives as long as the process.
		goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest.NewTestModel.func2"),
	)
}
