package resilience

import (
	"context"
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
)

// A stream's successful attempt is reported only once its first event is out
// (Started), or at Finish when Started never came; exactly once either way.
func TestStreamAttemptReportedAfterStarted(t *testing.T) {
	for _, started := range []bool{true, false} {
		rec := &recorder{}
		a := newFake("a", step{stream: true})
		x := New(testOptions(newClock(), &sleeper{}, rec), []provider.Provider{a})
		res, err := x.Execute(context.Background(), "req_1", targets(a), do)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(rec.Attempts()); n != 0 {
			t.Fatalf("started=%v: %d attempts reported before the first event was out", started, n)
		}
		if started {
			res.Started()
			res.Started()
			if n := len(rec.Attempts()); n != 1 {
				t.Fatalf("after Started: %d attempts reported, want 1", n)
			}
		}
		res.Finish(nil)
		got := rec.Attempts()
		if len(got) != 1 || got[0].RequestID != "req_1" || got[0].Provider != "a" || got[0].Status != 200 || got[0].Number != 1 {
			t.Fatalf("started=%v: attempts = %+v, want one 200 for req_1 on a", started, got)
		}
	}
}
