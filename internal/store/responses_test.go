package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestResponsesPutGetDelete(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.UnixMilli(time.Now().UnixMilli()).UTC()
		r := Response{ID: "resp_1", KeyID: "key_a", CreatedAt: now, Model: "m", Provider: "mock", Native: true,
			Input: []byte(`[{"id":"msg_1","type":"message"}]`), Output: []byte(`{"id":"resp_1","object":"response"}`)}
		if err := s.PutResponse(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetResponse(ctx, "key_a", "resp_1")
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(now) || got.Model != "m" || got.Provider != "mock" || !got.Native ||
			string(got.Input) != string(r.Input) || string(got.Output) != string(r.Output) {
			t.Fatalf("got %+v, want %+v", got, r)
		}
		// Another key sees nothing, cannot delete it and cannot overwrite it.
		if _, err := s.GetResponse(ctx, "key_b", "resp_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other key get: %v, want ErrNotFound", err)
		}
		if err := s.DeleteResponse(ctx, "key_b", "resp_1", "mock", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other key delete: %v, want ErrNotFound", err)
		}
		evil := r
		evil.KeyID, evil.Output = "key_b", []byte(`{}`)
		if err := s.PutResponse(ctx, evil); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("other key put: %v, want ErrDuplicate", err)
		}
		// The same key may replace it (a stream's final object after a partial one).
		r.Output, r.Native, r.Input = []byte(`{"id":"resp_1","status":"completed"}`), false, nil
		if err := s.PutResponse(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetResponse(ctx, "key_a", "resp_1")
		if err != nil || string(got.Output) != string(r.Output) || got.Native || string(got.Input) != "[]" {
			t.Fatalf("after replace: %+v, %v", got, err)
		}
		if err := s.DeleteResponse(ctx, "key_a", "resp_1", "mock", false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetResponse(ctx, "key_a", "resp_1"); !errors.Is(err, ErrDeleted) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: %v, want ErrDeleted (an ErrNotFound)", err)
		}
		if err := s.DeleteResponse(ctx, "key_a", "resp_1", "mock", false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v, want ErrNotFound", err)
		}
		// A late copy of the deleted answer (a native answer's, written with its log
		// row) does not bring it back.
		if err := s.PutResponse(ctx, r); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("put after delete: %v, want ErrDuplicate", err)
		}
		if _, err := s.GetResponse(ctx, "key_a", "resp_1"); !errors.Is(err, ErrDeleted) {
			t.Fatalf("after a late put: %v, want ErrDeleted", err)
		}
	})
}

// TestDeleteBeforeTheCopyIsWritten: a native answer's copy rides with its log row, so
// a client may delete it before it is written. The tombstone comes first and the copy
// never lands, whether it comes alone or in a log batch.
func TestDeleteBeforeTheCopyIsWritten(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.DeleteResponse(ctx, "key_a", "resp_late", "openai", true); err != nil {
			t.Fatal(err)
		}
		late := Response{ID: "resp_late", KeyID: "key_a", CreatedAt: time.Now(), Provider: "openai", Native: true,
			Output: []byte(`{"id":"resp_late"}`)}
		row := RequestRow{ID: "req_late", Started: time.Now(), Endpoint: "/v1/responses", Status: 200, Keep: &late}
		if err := s.InsertRequests(ctx, []RequestRow{row}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetResponse(ctx, "key_a", "resp_late"); !errors.Is(err, ErrDeleted) {
			t.Fatalf("after the late copy: %v, want ErrDeleted", err)
		}
		// Another key's delete of an id it never had is refused, and leaves nothing.
		if err := s.DeleteResponse(ctx, "key_b", "resp_late", "openai", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other key: %v", err)
		}
	})
}

func TestPruneResponses(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, id := range []string{"resp_old1", "resp_old2", "resp_new"} {
			at := base.Add(time.Duration(i) * time.Hour)
			if id == "resp_new" {
				at = base.Add(48 * time.Hour)
			}
			if err := s.PutResponse(ctx, Response{ID: id, KeyID: "k", CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.PruneResponses(ctx, base.Add(24*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want 2", n, err)
		}
		if _, err := s.GetResponse(ctx, "k", "resp_new"); err != nil {
			t.Fatalf("newer response pruned: %v", err)
		}
		if _, err := s.GetResponse(ctx, "k", "resp_old1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("old response kept: %v", err)
		}
	})
}

// TestKeptResponsesInABatch: responses kept with log rows land as PutResponse would
// store them one by one, in order: a later copy under the same key replaces an earlier
// one, a copy under another key leaves the first alone.
func TestKeptResponsesInABatch(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		keep := func(id, key, text string) *Response {
			return &Response{ID: id, KeyID: key, CreatedAt: time.Now(), Model: "m", Output: []byte(`{"id":"` + id + `","t":"` + text + `"}`)}
		}
		var rows []RequestRow
		for i := range 19 { // more than one multi-row statement
			rows = append(rows, RequestRow{ID: fmt.Sprintf("req-%d", i), Started: time.Now(), Status: 200,
				Keep: keep(fmt.Sprintf("resp_%d", i), "k", "first")})
		}
		rows = append(rows,
			// rows 16-20 share a statement: the repeats meet their first copies there
			RequestRow{ID: "req-again", Started: time.Now(), Status: 200, Keep: keep("resp_17", "k", "second")},
			RequestRow{ID: "req-other", Started: time.Now(), Status: 200, Keep: keep("resp_18", "other", "stolen")},
			RequestRow{ID: "req-none", Started: time.Now(), Status: 200})
		if err := s.InsertRequests(ctx, rows); err != nil {
			t.Fatal(err)
		}
		for i := range 19 {
			id, want := fmt.Sprintf("resp_%d", i), "first"
			if i == 17 {
				want = "second"
			}
			r, err := s.GetResponse(ctx, "k", id)
			if err != nil || !strings.Contains(string(r.Output), `"t":"`+want+`"`) {
				t.Fatalf("%s: %s %v, want %q", id, r.Output, err, want)
			}
		}
		if _, err := s.GetResponse(ctx, "other", "resp_18"); err == nil {
			t.Fatal("another key's copy replaced resp_18")
		}
	})
}
