package server

import (
	"testing"

	"github.com/jmanhype/runestone/internal/events"
)

// TestMemTrimOncePerQuietSpell: memory goes back after three idle looks, once per
// quiet spell, never while a request is in flight or still arriving.
func TestMemTrimOncePerQuietSpell(t *testing.T) {
	n := 0
	m := memTrim{free: func() { n++ }}
	steps := []struct {
		reqs     uint64
		inFlight int64
		want     int // trims so far
	}{
		{0, 0, 0}, {0, 0, 0}, {0, 0, 1}, // start-up garbage, once
		{0, 0, 1}, {0, 0, 1}, // still idle: no second trim
		{5, 2, 1}, {9, 1, 1}, {9, 1, 1}, {9, 1, 1}, {9, 1, 1}, // busy: a stream in flight holds it off
		{10, 0, 1}, {10, 0, 1}, {10, 0, 1}, {10, 0, 2}, // the stream ended: three quiet looks, then trim
		{11, 0, 2}, {11, 0, 2}, {12, 0, 2}, {12, 0, 2}, {12, 0, 2}, {12, 0, 3}, // a request resets the count
	}
	for i, s := range steps {
		m.look(events.Totals{Requests: s.reqs, InFlight: s.inFlight})
		if n != s.want {
			t.Fatalf("look %d (%d requests, %d in flight): %d trims, want %d", i, s.reqs, s.inFlight, n, s.want)
		}
	}
}
