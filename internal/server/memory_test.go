package server

import (
	"fmt"
	"testing"

	"github.com/jmanhype/runestone/internal/events"
)

// TestMemTrimOncePerQuietSpell: memory goes back after the quiet looks (three here),
// once per quiet spell, never while a request is in flight or still arriving.
func TestMemTrimOncePerQuietSpell(t *testing.T) {
	n := 0
	m := memTrim{free: func() { n++ }, quiet: 3}
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

// TestGCPercent: twice the headroom for a small live heap, the runtime's default for
// a large one, in steps between.
func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 200}, {3 << 20, 200}, {16 << 20, 200}, {18 << 20, 170}, {24 << 20, 130}, {32 << 20, 100}, {120 << 20, 100},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// TestGCTuneSetsOnChange: the percentage is set when the live heap moves it, not on
// every look.
func TestGCTuneSetsOnChange(t *testing.T) {
	var sets []int
	live := uint64(2 << 20)
	g := &gcTune{set: func(p int) int { sets = append(sets, p); return 0 }, live: func() uint64 { return live }}
	for _, l := range []uint64{2 << 20, 6 << 20, 8 << 20, 80 << 20, 100 << 20, 24 << 20, 4 << 20} {
		live = l
		g.look()
	}
	if want := []int{200, 100, 130, 200}; fmt.Sprint(sets) != fmt.Sprint(want) {
		t.Fatalf("set %v, want %v", sets, want)
	}
}
