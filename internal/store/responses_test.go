package store

import (
	"context"
	"errors"
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
		if err := s.DeleteResponse(ctx, "key_b", "resp_1"); !errors.Is(err, ErrNotFound) {
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
		if err := s.DeleteResponse(ctx, "key_a", "resp_1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetResponse(ctx, "key_a", "resp_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: %v, want ErrNotFound", err)
		}
		if err := s.DeleteResponse(ctx, "key_a", "resp_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v, want ErrNotFound", err)
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
