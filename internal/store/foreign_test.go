package store

import (
	"context"
	"testing"
	"time"
)

// TestForeignBytesInALogRow: bodies, errors and ids are foreign bytes (a client's, an
// upstream's). A NUL or invalid UTF-8 in one of them must not fail the batch it is in
// (Postgres refuses both in text; a failed batch is retried and holds every row behind
// it). SQLite keeps the bytes as they were; Postgres, which cannot, keeps U+FFFD.
func TestForeignBytesInALogRow(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		bad := "ok\x00then \xff\xfe bytes"
		rows := []RequestRow{
			{ID: "req-foreign", Started: time.Now(), Status: 200, RequestBody: bad, ResponseBody: bad, Error: bad, SessionID: bad},
			{ID: "req-plain", Started: time.Now(), Status: 200, ResponseBody: "fine"},
		}
		rows[0].Keep = &Response{ID: "resp_foreign", KeyID: "k", CreatedAt: time.Now(), Output: []byte(`{"id":"resp_foreign","text":"` + bad + `"}`)}
		if err := s.InsertRequests(ctx, rows); err != nil {
			t.Fatalf("a row with foreign bytes failed its batch: %v", err)
		}
		got, err := s.RequestsByID(ctx, "req-foreign")
		if err != nil || len(got) != 1 {
			t.Fatalf("%v %v", got, err)
		}
		want := bad
		if s.db.pg {
			want = "ok\uFFFDthen \uFFFD bytes"
		}
		if got[0].ResponseBody != want || got[0].RequestBody != want || got[0].Error != want {
			t.Fatalf("stored %q / %q / %q, want %q", got[0].RequestBody, got[0].ResponseBody, got[0].Error, want)
		}
		if _, err := s.GetResponse(ctx, "k", "resp_foreign"); err != nil {
			t.Fatalf("kept response: %v", err)
		}
	})
}
