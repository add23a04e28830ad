package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func fp(v float64) *float64 { return &v }

func TestInsertAndReadRequestRoundTrip(t *testing.T) {
	forEachDriver(t, testInsertAndReadRequestRoundTrip)
}

func testInsertAndReadRequestRoundTrip(t *testing.T, s *Store) {
	ctx := context.Background()
	start := time.UnixMilli(1_760_000_000_123).UTC()
	in := RequestRow{
		ID: "req-1", Started: start, KeyID: "key_a", KeyName: "alice", Project: "web",
		Endpoint: "/v1/chat/completions", Model: "smart", Provider: "openai", UpstreamModel: "gpt-4o",
		ProvidersTried: []string{"anthropic", "openai"}, Status: 200, Stream: true, LatencyMS: 812.5,
		TTFTMS: fp(120.25), OverheadMS: 1.5, PromptTokens: 11, CompletionTokens: 22, CachedTokens: 3,
		TokensEstimated: true, CostUSD: fp(0.00042), Attempts: 3, Error: "",
		Dialect: "messages", UpstreamDialect: "chat", SessionID: "0b9e-session", CacheWriteTokens: 4,
		Dropped:     []string{"thinking", "metadata.user_id"},
		RequestBody: `{"model":"smart"}`, ResponseBody: "Hello",
		AnsweredModel: "gpt-4o-2024-08-06", ReasoningTokens: 7, CacheWrite1hTokens: 2, CompactionTokens: 1234,
		WebSearchCalls: 2, ServiceTier: "priority",
	}
	unpriced := RequestRow{ID: "req-2", Started: start.Add(time.Second), Model: "local", Status: 502,
		Error: "boom", PromptTokens: 5}
	if err := s.InsertRequests(ctx, []RequestRow{in, unpriced}); err != nil {
		t.Fatal(err)
	}
	got, err := s.RequestsByID(ctx, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d rows", len(got))
	}
	in.Seq = got[0].Seq
	if !reflect.DeepEqual(got[0], in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got[0], in)
	}
	got, err = s.RequestsByID(ctx, "req-2")
	if err != nil {
		t.Fatal(err)
	}
	if got[0].CostUSD != nil || got[0].TTFTMS != nil || got[0].ProvidersTried != nil || got[0].Dropped != nil {
		t.Fatalf("NULLs not kept: cost=%v ttft=%v tried=%v dropped=%v", got[0].CostUSD, got[0].TTFTMS, got[0].ProvidersTried, got[0].Dropped)
	}
	if _, err := s.RequestsByID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing id: err = %v, want ErrNotFound", err)
	}
	// ListRequests leaves the bodies out.
	list, err := s.ListRequests(ctx, RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "req-2" || list[1].RequestBody != "" {
		t.Fatalf("list = %+v", list)
	}
}

func TestRepeatedIDsAllReturned(t *testing.T) { forEachDriver(t, testRepeatedIDsAllReturned) }

func testRepeatedIDsAllReturned(t *testing.T, s *Store) {
	ctx := context.Background()
	rows := []RequestRow{{ID: "same", Status: 200}, {ID: "other"}, {ID: "same", Status: 500}}
	if err := s.InsertRequests(ctx, rows); err != nil {
		t.Fatal(err)
	}
	got, err := s.RequestsByID(ctx, "same")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Status != 200 || got[1].Status != 500 {
		t.Fatalf("got %+v", got)
	}
}

func TestListRequestsFilters(t *testing.T) { forEachDriver(t, testListRequestsFilters) }

func testListRequestsFilters(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now()
	var rows []RequestRow
	for i := range 30 {
		r := RequestRow{ID: fmt.Sprint("r", i), Started: now.Add(-time.Duration(30-i) * time.Minute),
			KeyID: "k1", Model: "gpt-4o", Provider: "openai", Status: 200}
		if i%3 == 1 {
			r.KeyID, r.Model, r.Provider, r.Status = "k2", "claude", "anthropic", 429
		}
		if i%3 == 2 {
			r.Status = 503
		}
		rows = append(rows, r)
	}
	if err := s.InsertRequests(ctx, rows); err != nil {
		t.Fatal(err)
	}
	count := func(f RequestFilter) int {
		t.Helper()
		got, err := s.ListRequests(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	cases := []struct {
		name string
		f    RequestFilter
		want int
	}{
		{"all", RequestFilter{}, 30},
		{"limit", RequestFilter{Limit: 7}, 7},
		{"key", RequestFilter{KeyID: "k2"}, 10},
		{"model", RequestFilter{Model: "gpt-4o"}, 20},
		{"provider", RequestFilter{Provider: "anthropic"}, 10},
		{"status exact", RequestFilter{Status: "200"}, 10},
		{"status 4xx", RequestFilter{Status: "4xx"}, 10},
		{"status 5XX", RequestFilter{Status: "5XX"}, 10},
		{"since", RequestFilter{Since: now.Add(-10*time.Minute - time.Second)}, 10},
		{"combined", RequestFilter{KeyID: "k1", Status: "5xx", Since: now.Add(-15 * time.Minute)}, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := count(c.f); got != c.want {
				t.Fatalf("got %d rows, want %d", got, c.want)
			}
		})
	}
	if _, err := s.ListRequests(ctx, RequestFilter{Status: "2x"}); err == nil {
		t.Fatal("bad status filter accepted")
	}

	newest, _ := s.ListRequests(ctx, RequestFilter{Limit: 1})
	if newest[0].ID != "r29" {
		t.Fatalf("newest first: got %s", newest[0].ID)
	}
	after, _ := s.ListRequests(ctx, RequestFilter{AfterSeq: newest[0].Seq - 3})
	if len(after) != 3 || after[0].Seq >= after[2].Seq {
		t.Fatalf("follow mode should return 3 rows oldest first: %+v", after)
	}
	last, err := s.LastRequestSeq(ctx)
	if err != nil || last != newest[0].Seq {
		t.Fatalf("LastRequestSeq = %d, %v; want %d", last, err, newest[0].Seq)
	}
}

func TestUsageAndSpend(t *testing.T) { forEachDriver(t, testUsageAndSpend) }

func testUsageAndSpend(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now()
	rows := []RequestRow{
		{ID: "1", Started: now, KeyID: "k1", KeyName: "old-name", Project: "p1", Model: "gpt-4o", PromptTokens: 10, CompletionTokens: 5, CostUSD: fp(0.5)},
		{ID: "2", Started: now, KeyID: "k1", KeyName: "alice", Project: "p1", Model: "local", PromptTokens: 7, CompletionTokens: 3}, // unpriced
		{ID: "3", Started: now, KeyID: "k2", KeyName: "bob", Project: "p2", Model: "gpt-4o", PromptTokens: 1, CompletionTokens: 1, CostUSD: fp(1.25)},
		{ID: "4", Started: now, KeyID: "k2", KeyName: "bob", Project: "p2", Model: "local", Status: 401},              // no tokens: not "unpriced"
		{ID: "5", Started: now.Add(-48 * time.Hour), KeyID: "k1", Model: "gpt-4o", PromptTokens: 100, CostUSD: fp(9)}, // too old
	}
	if err := s.InsertRequests(ctx, rows); err != nil {
		t.Fatal(err)
	}
	since := now.Add(-24 * time.Hour)
	byKey, err := s.Usage(ctx, since, "key", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []UsageGroup{
		{Key: "k2", Name: "bob", Requests: 2, PromptTokens: 1, CompletionTokens: 1, CostUSD: 1.25},
		{Key: "k1", Name: "alice", Requests: 2, PromptTokens: 17, CompletionTokens: 8, CostUSD: 0.5, UnpricedRequests: 1},
	}
	if !reflect.DeepEqual(byKey, want) {
		t.Fatalf("by key:\n got %+v\nwant %+v", byKey, want)
	}
	byModel, err := s.Usage(ctx, since, "model", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if len(byModel) != 2 || byModel[0].Key != "gpt-4o" || byModel[1].Key != "local" || byModel[1].UnpricedRequests != 1 {
		t.Fatalf("by model for k1: %+v", byModel)
	}
	byProject, err := s.Usage(ctx, time.Time{}, "project", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(byProject) != 3 { // p1, p2 and the old row's empty project
		t.Fatalf("by project: %+v", byProject)
	}
	if _, err := s.Usage(ctx, since, "colour", ""); err == nil {
		t.Fatal("bad grouping accepted")
	}

	spend, err := s.SpendByKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if spend["k1"] != 9.5 || spend["k2"] != 1.25 || len(spend) != 2 {
		t.Fatalf("spend = %v", spend)
	}
}

func TestPruneRequests(t *testing.T) { forEachDriver(t, testPruneRequests) }

func testPruneRequests(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now()
	var rows []RequestRow
	for i := range 12_000 { // more than one prune chunk
		rows = append(rows, RequestRow{ID: fmt.Sprint(i), Started: now.Add(-time.Duration(i%2) * 48 * time.Hour)})
	}
	if err := s.InsertRequests(ctx, rows); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneRequests(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 6000 {
		t.Fatalf("pruned %d, %v; want 6000", n, err)
	}
	left, _ := s.ListRequests(ctx, RequestFilter{})
	if len(left) != 6000 {
		t.Fatalf("%d rows left", len(left))
	}
}

func TestParseStatusFilter(t *testing.T) {
	for in, want := range map[string][2]int{"200": {200, 200}, "4xx": {400, 499}, "5XX": {500, 599}, " 2xx ": {200, 299}} {
		lo, hi, err := ParseStatusFilter(in)
		if err != nil || lo != want[0] || hi != want[1] {
			t.Errorf("%q: %d-%d %v", in, lo, hi, err)
		}
	}
	for _, bad := range []string{"", "abc", "6xx", "99", "600", "4x"} {
		if _, _, err := ParseStatusFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSessionFilter(t *testing.T) { forEachDriver(t, testSessionFilter) }

func testSessionFilter(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now()
	rows := []RequestRow{
		{ID: "a", Started: now, SessionID: "s-1", Dialect: "messages", PromptTokens: 100, CachedTokens: 60, CacheWriteTokens: 30, KeyID: "k"},
		{ID: "b", Started: now, SessionID: "s-2", Dialect: "messages", PromptTokens: 10, KeyID: "k"},
		{ID: "c", Started: now, SessionID: "s-1", Dialect: "chat", PromptTokens: 50, CachedTokens: 5, KeyID: "k"},
		{ID: "d", Started: now, KeyID: "k"},
	}
	if err := s.InsertRequests(ctx, rows); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListRequests(ctx, RequestFilter{Session: "s-1"})
	if err != nil || len(got) != 2 || got[0].ID != "c" || got[1].ID != "a" || got[1].Dialect != "messages" {
		t.Fatalf("session s-1: %v %+v", err, got)
	}
	if got, _ := s.ListRequests(ctx, RequestFilter{Session: "nope"}); len(got) != 0 {
		t.Fatalf("unknown session: %+v", got)
	}
	us, err := s.Usage(ctx, now.Add(-time.Minute), "key", "")
	if err != nil || len(us) != 1 || us[0].CachedTokens != 65 || us[0].CacheWriteTokens != 30 || us[0].PromptTokens != 160 {
		t.Fatalf("usage: %v %+v", err, us)
	}
}

// TestMigration3UpgradesALoggedTable applies 0003 to a request log that already has
// rows, as an upgrade does: the old rows read back with empty dialect fields.
func TestMigration3UpgradesALoggedTable(t *testing.T) { forEachDriver(t, testMigration3Upgrade) }

func testMigration3Upgrade(t *testing.T, s *Store) {
	ctx := context.Background()
	// Back to the schema before 0003 (DROP COLUMN: SQLite 3.35+, any Postgres).
	undo := []string{"DROP INDEX requests_session"}
	for _, c := range []string{"dialect", "upstream_dialect", "session_id", "cache_write_tokens", "dropped"} {
		undo = append(undo, "ALTER TABLE requests DROP COLUMN "+c)
	}
	undo = append(undo, "DELETE FROM schema_migrations WHERE version = 3")
	for _, q := range undo {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := s.db.ExecContext(ctx, "INSERT INTO requests (id, ts, model, prompt_tokens) VALUES (?, ?, ?, ?)",
		"old-row", time.Now().UnixMilli(), "gpt-4o", 7); err != nil {
		t.Fatal(err)
	}
	if err := s.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.RequestsByID(ctx, "old-row")
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.PromptTokens != 7 || r.Dialect != "" || r.UpstreamDialect != "" || r.SessionID != "" || r.CacheWriteTokens != 0 || r.Dropped != nil {
		t.Fatalf("old row after 0003: %+v", r)
	}
	// And the new columns take values.
	if err := s.InsertRequests(ctx, []RequestRow{{ID: "new-row", SessionID: "s", Dialect: "responses"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListRequests(ctx, RequestFilter{Session: "s"}); len(got) != 1 || got[0].Dialect != "responses" {
		t.Fatalf("new row: %+v", got)
	}
}
