package ui

import (
	"context"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/jmanhype/runestone/internal/events"
)

// tickMsg drives rendering: at most one frame per frameInterval.
type tickMsg time.Time

// connectedMsg carries a fresh snapshot and the live stream that follows it.
type connectedMsg struct {
	gen   int
	state events.State
	ch    <-chan events.Event
}

// connectFailedMsg reports that Snapshot or Events failed.
type connectFailedMsg struct {
	gen int
	err error
}

// eventsMsg carries a batch of live events taken off the stream in one go.
type eventsMsg struct {
	gen    int
	events []events.Event
	ch     <-chan events.Event
}

// streamEndedMsg reports that the event stream closed.
type streamEndedMsg struct{ gen int }

// reconnectMsg fires when the backoff after a disconnect has passed.
type reconnectMsg struct{ gen int }

// detailMsg carries one request's detail (or the error fetching it).
type detailMsg struct {
	id     string
	detail *events.RequestDetail
	err    error
}

func tickCmd() tea.Cmd {
	return tea.Tick(frameInterval, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// connectCmd fetches a snapshot, then subscribes to the live stream.
func connectCmd(ctx context.Context, src Source, gen int) tea.Cmd {
	return func() tea.Msg {
		st, err := src.Snapshot(ctx)
		if err != nil {
			return connectFailedMsg{gen: gen, err: err}
		}
		ch, err := src.Events(ctx)
		if err != nil {
			return connectFailedMsg{gen: gen, err: err}
		}
		return connectedMsg{gen: gen, state: st, ch: ch}
	}
}

// waitForEvents blocks for the next event, then drains whatever else is already
// buffered (up to maxEventBatch) so a burst costs one message, not thousands. Update
// re-arms it after every batch.
func waitForEvents(gen int, ch <-chan events.Event) tea.Cmd {
	return func() tea.Msg {
		e, ok := <-ch
		if !ok {
			return streamEndedMsg{gen: gen}
		}
		batch := make([]events.Event, 1, 16)
		batch[0] = e
		for len(batch) < maxEventBatch {
			select {
			case e, ok := <-ch:
				if !ok {
					// Deliver what we have; the next wait sees the closed channel.
					return eventsMsg{gen: gen, events: batch, ch: ch}
				}
				batch = append(batch, e)
			default:
				return eventsMsg{gen: gen, events: batch, ch: ch}
			}
		}
		return eventsMsg{gen: gen, events: batch, ch: ch}
	}
}

// reconnectCmd waits out the backoff before the next connection attempt.
func reconnectCmd(gen int, d time.Duration) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return reconnectMsg{gen: gen} })
}

// detailCmd fetches a request's detail from the source.
func detailCmd(ctx context.Context, src Source, id string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		d, err := src.Detail(ctx, id)
		return detailMsg{id: id, detail: d, err: err}
	}
}
