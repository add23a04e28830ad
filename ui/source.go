package ui

import (
	"context"
	"errors"

	"github.com/jmanhype/runestone/internal/events"
)

// Source feeds the dashboard: a starting snapshot, a live event stream and, on demand,
// one request's captured detail. NewBusSource serves it in-process (runestone serve);
// `runestone top` passes an adminapi.Client, which reads a running gateway over HTTP.
// Detail reports an unknown id as events.ErrRequestNotFound.
type Source interface {
	// Snapshot returns the starting state (in-process: gateway state; remote: GET /admin/state).
	Snapshot(ctx context.Context) (events.State, error)
	// Events streams live events until ctx ends or the connection drops (returns then with an error).
	Events(ctx context.Context) (<-chan events.Event, error)
	// Detail returns one request's captured detail, for the detail view.
	Detail(ctx context.Context, id string) (*events.RequestDetail, error)
}

// busSubscriberBuffer is the in-process subscription's buffer; the bus drops (and
// reports) events beyond it rather than block the gateway.
const busSubscriberBuffer = 4096

// NewBusSource returns a Source over the gateway's own event bus, for the dashboard
// that `runestone serve` embeds. snapshot and detail come from the gateway; detail may
// be nil when bodies are not available.
func NewBusSource(bus *events.Bus, snapshot func(context.Context) events.State,
	detail func(ctx context.Context, id string) (*events.RequestDetail, error)) Source {
	return &busSource{bus: bus, snapshot: snapshot, detail: detail}
}

type busSource struct {
	bus      *events.Bus
	snapshot func(context.Context) events.State
	detail   func(ctx context.Context, id string) (*events.RequestDetail, error)
}

func (s *busSource) Snapshot(ctx context.Context) (events.State, error) {
	if err := ctx.Err(); err != nil {
		return events.State{}, err
	}
	if s.snapshot == nil {
		return events.State{}, nil
	}
	return s.snapshot(ctx), nil
}

func (s *busSource) Events(ctx context.Context) (<-chan events.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.bus == nil {
		return nil, errors.New("no event bus")
	}
	sub := s.bus.Subscribe(busSubscriberBuffer)
	go func() {
		<-ctx.Done()
		sub.Close()
	}()
	return sub.C, nil
}

func (s *busSource) Detail(ctx context.Context, id string) (*events.RequestDetail, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.detail == nil {
		return nil, events.ErrRequestNotFound
	}
	return s.detail(ctx, id)
}
