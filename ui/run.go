package ui

import (
	"context"
	"errors"

	tea "github.com/charmbracelet/bubbletea"
)

// Run shows the dashboard on the terminal (alternate screen) until the user quits,
// SIGINT arrives or ctx ends; all are a clean exit (nil). In serve mode (opts.InProcess) the caller
// shuts the gateway down when Run returns.
func Run(ctx context.Context, src Source, opts Options) error {
	m := newModel(ctx, src, opts, nil)
	defer m.cancel()
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx))
	_, err := p.Run()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		return nil // the caller is shutting down
	case errors.Is(err, tea.ErrInterrupted):
		return nil // SIGINT (not a Ctrl-C key press in raw mode): a normal quit too
	}
	return err
}
