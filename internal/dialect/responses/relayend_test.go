package responses

import (
	"bytes"
	"os"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/jmanhype/runestone/internal/apierr"
)

// TestRelayEndAfterRecordedEvents: a real recorded stream cut after any number of
// events ends with response.failed numbered next, for the announced response, and
// the SDK reads it as that response failing; after the upstream's own terminal event
// nothing is added.
func TestRelayEndAfterRecordedEvents(t *testing.T) {
	rec, err := os.ReadFile("testdata/stream-text.sse")
	if err != nil {
		t.Fatal(err)
	}
	evs := bytes.SplitAfter(rec, []byte("\n\n"))
	evs = evs[:len(evs)-1] // the empty tail after the last blank line
	id := gjson.GetBytes(frames(t, evs[0])[0].data, "response.id").Str
	aerr := &apierr.Error{Status: 502, Type: apierr.TypeServer, Code: "upstream_unreachable", Message: "the upstream went away"}
	for n := 1; n < len(evs); n++ {
		var f RelayEnd
		var out []byte
		for _, ev := range evs[:n] {
			f.See(ev)
			out = append(out, ev...)
		}
		out = f.Fail(out, aerr)
		fs := frames(t, out) // contiguous sequence numbers from 0
		last := fs[len(fs)-1]
		if len(fs) != n+1 || last.name != "response.failed" {
			t.Fatalf("cut after %d: events %q", n, names(fs))
		}
		sdk, err := sdkStream(t, out)
		if err != nil {
			t.Fatalf("cut after %d: %v", n, err)
		}
		resp := sdk[len(sdk)-1].AsResponseFailed().Response
		if resp.ID != id || resp.Status != "failed" || resp.Error.Code != "upstream_unreachable" || resp.Error.Message != aerr.Message {
			t.Fatalf("cut after %d: %+v", n, resp)
		}
	}
	var f RelayEnd
	for _, ev := range evs {
		f.See(ev)
	}
	if out := f.Fail(nil, aerr); len(out) != 0 {
		t.Fatalf("appended after response.completed: %s", out)
	}
	// Nothing seen: still one valid response.failed, numbered 0.
	var empty RelayEnd
	if fs := frames(t, empty.Fail(nil, aerr)); len(fs) != 1 || fs[0].name != "response.failed" ||
		gjson.GetBytes(fs[0].data, "response.id").Str == "" {
		t.Fatalf("nothing seen: %q", names(fs))
	}
}

// BenchmarkRelayEndSee prices following a recorded native stream, per event.
func BenchmarkRelayEndSee(b *testing.B) {
	rec, err := os.ReadFile("testdata/stream-text.sse")
	if err != nil {
		b.Fatal(err)
	}
	evs := bytes.SplitAfter(rec, []byte("\n\n"))
	evs = evs[:len(evs)-1]
	b.ReportAllocs()
	for b.Loop() {
		var f RelayEnd
		for _, ev := range evs {
			f.See(ev)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
