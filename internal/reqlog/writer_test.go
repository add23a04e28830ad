package reqlog

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// logRecorder is a slog.Handler that keeps every message, for counting log lines.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder() (*slog.Logger, logRecorder) {
	r := logRecorder{mu: new(sync.Mutex), msgs: new([]string)}
	return slog.New(r), r
}

func (r logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.msgs = append(*r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r logRecorder) WithGroup(string) slog.Handler      { return r }

func (r logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range *r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func (r logRecorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(*r.msgs, "\n")
}

func countRows(t testing.TB, s *store.Store) int {
	t.Helper()
	rows, err := s.ListRequests(context.Background(), store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

func row(i int) store.RequestRow {
	return store.RequestRow{ID: fmt.Sprintf("req-%d", i), Started: time.Now(), Model: "mock",
		Provider: "mock", Status: 200, LatencyMS: 1.5, PromptTokens: 3, CompletionTokens: 4}
}

// holdWriteLock takes SQLite's write lock from a separate connection pool (as another
// process would) and releases it when the returned func is called.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
				t.Error(err)
			}
			_ = conn.Close()
			_ = db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func TestConcurrentWritesAllLand(t *testing.T) {
	s := openStore(t)
	w := New(Options{Store: s, Queue: 256, Batch: 64, Logger: slog.New(slog.DiscardHandler)})
	// 32 does not divide 2000: goroutine 0 also writes the remainder.
	const goroutines, per = 32, 2000 / 32
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := per
			if g == 0 {
				n += 2000 - goroutines*per
			}
			for i := range n {
				w.Write(row(g*10_000 + i))
			}
		}()
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, s); got != 2000 {
		t.Fatalf("%d rows in the database, want 2000", got)
	}
	st := w.Stats()
	if st.Written != 2000 || st.Dropped != 0 || st.Queued != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestCloseFlushesPendingRows(t *testing.T) {
	s := openStore(t)
	// FlushEvery is far away: only Close can make these rows land now.
	w := New(Options{Store: s, FlushEvery: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	for i := range 10 {
		w.Write(row(i))
	}
	time.Sleep(50 * time.Millisecond)
	if got := countRows(t, s); got != 0 {
		t.Fatalf("%d rows written before the flush interval", got)
	}
	if st := w.Stats(); st.Queued != 10 {
		t.Fatalf("queued = %d, want 10", st.Queued)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, s); got != 10 {
		t.Fatalf("%d rows after Close, want 10", got)
	}
	// A row written after Close is counted, not silently lost.
	w.Write(row(99))
	if st := w.Stats(); st.Dropped != 1 {
		t.Fatalf("dropped after close = %d, want 1", st.Dropped)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestLockedDatabaseDelaysButLosesNothing(t *testing.T) {
	s := openStore(t)
	lg, rec := newLogRecorder()
	w := New(Options{Store: s, Batch: 50, FlushEvery: 10 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, Logger: lg})
	release := holdWriteLock(t, s.Path())

	const n = 500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			w.Write(row(i)) // must never block on the lock
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Second): // the lock is held for 2s: done first means no write waited on it
		t.Fatal("Write blocked while the database was locked")
	}

	time.Sleep(2 * time.Second) // the lock is held for 2s in all
	st := w.Stats()
	if st.Written != 0 || st.FailedBatches == 0 || st.LastError == "" {
		t.Fatalf("while locked: stats = %+v", st)
	}
	if got := countRows(t, s); got != 0 {
		t.Fatalf("%d rows visible while locked", got)
	}
	release()

	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Written < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, s); got != n {
		t.Fatalf("%d rows after the lock was released, want %d", got, n)
	}
	st = w.Stats()
	if st.Dropped != 0 || st.Written != n {
		t.Fatalf("stats = %+v", st)
	}
	if c := rec.count("cannot write"); c != 1 {
		t.Fatalf("outage logged %d times, want once; logs:\n%s", c, rec.all())
	}
	if c := rec.count("writing again"); c != 1 {
		t.Fatalf("recovery logged %d times, want once; logs:\n%s", c, rec.all())
	}
	if st.FailedBatches < 2 {
		t.Fatalf("only %d failed attempts over 2s: no retry?", st.FailedBatches)
	}
}

func TestOverflowThenDropIsCountedAndLoggedOnce(t *testing.T) {
	s := openStore(t)
	lg, rec := newLogRecorder()
	// Batch 2 with a long FlushEvery: the drainer holds exactly rows 0 and 1 when it
	// starts failing, which makes the counts below exact.
	w := New(Options{Store: s, Queue: 4, Batch: 2, Overflow: 10, FlushEvery: time.Hour,
		WriteTimeout: 100 * time.Millisecond, Logger: lg})
	release := holdWriteLock(t, s.Path())
	// Let the drainer take its first batch and start failing on the lock.
	w.Write(row(0))
	w.Write(row(1))
	deadline := time.Now().Add(5 * time.Second)
	for w.Stats().FailedBatches == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for i := 2; i < 100; i++ {
		w.Write(row(i))
	}
	st := w.Stats()
	// Kept: 2 in hand + 4 in the channel + 10 in overflow.
	if st.Dropped != 84 || st.Queued != 16 {
		t.Fatalf("stats while locked = %+v; want 84 dropped, 16 queued", st)
	}
	if c := rec.count("dropping rows"); c != 1 {
		t.Fatalf("drops logged %d times, want once; logs:\n%s", c, rec.all())
	}
	release()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, s); got != 16 {
		t.Fatalf("%d rows written, want the 16 kept", got)
	}
	if c := rec.count("accepting rows again"); c != 1 {
		t.Fatalf("end of drops logged %d times; logs:\n%s", c, rec.all())
	}
}

func TestCloseGivesUpAtDeadlineAndSaysSo(t *testing.T) {
	s := openStore(t)
	w := New(Options{Store: s, WriteTimeout: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	release := holdWriteLock(t, s.Path())
	for i := range 5 {
		w.Write(row(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := w.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "5 rows not written") {
		t.Fatalf("Close error = %v", err)
	}
	if st := w.Stats(); st.Dropped != 5 || st.Queued != 0 {
		t.Fatalf("stats = %+v", st)
	}
	release()
}

func TestPrunesOldRowsAtStart(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	old := row(1)
	old.Started = time.Now().Add(-10 * 24 * time.Hour)
	if err := s.InsertRequests(ctx, []store.RequestRow{old, row(2)}); err != nil {
		t.Fatal(err)
	}
	for id, at := range map[string]time.Time{"resp_old": old.Started, "resp_new": time.Now()} {
		if err := s.PutResponse(ctx, store.Response{ID: id, KeyID: "k", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	w := New(Options{Store: s, Retention: 7 * 24 * time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rows, _ := s.ListRequests(ctx, store.RequestFilter{})
	if len(rows) != 1 || rows[0].ID != "req-2" {
		t.Fatalf("after prune: %+v", rows)
	}
	// Stored Responses API answers follow the same retention.
	if _, err := s.GetResponse(ctx, "k", "resp_old"); err == nil {
		t.Fatal("old response not pruned")
	}
	if _, err := s.GetResponse(ctx, "k", "resp_new"); err != nil {
		t.Fatalf("new response pruned: %v", err)
	}
}

// BenchmarkWriterThroughput measures sustained rows/s from Write to committed rows.
func BenchmarkWriterThroughput(b *testing.B) { benchWriter(b, false) }

// BenchmarkWriterThroughputKept is the same with every row carrying a kept Responses
// answer (a natively relayed /v1/responses request with store left on), shaped like
// the bench's: a random resp_ id, its input items and the response object.
func BenchmarkWriterThroughputKept(b *testing.B) { benchWriter(b, true) }

func benchWriter(b *testing.B, kept bool) {
	s := openStore(b)
	w := New(Options{Store: s, Logger: slog.New(slog.DiscardHandler)})
	// A row like the gateway's: a stored key, a price (so the spend ledger is booked)
	// and a distinct request id per row, minted like the gateway's (a per-process
	// prefix and a base-36 counter).
	r := row(0)
	r.KeyID, r.KeyName, r.Endpoint, r.Dialect, r.UpstreamDialect = "key_bench", "bench", "/v1/chat/completions", "chat", "chat"
	cost := 0.0000123
	r.CostUSD = &cost
	r.RequestBody = strings.Repeat(`{"role":"user","content":"hello"}`, 8)
	r.ResponseBody = strings.Repeat("You said: hello ", 8)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "req_5f0c1a2b3c4d" + strconv.FormatUint(uint64(i)+1<<20, 36)
	}
	var keeps []store.Response
	if kept {
		r.Endpoint, r.Dialect, r.UpstreamDialect = "/v1/responses", "responses", "responses"
		rnd := rand.New(rand.NewPCG(1, 2))
		input := []byte(`[{"type":"message","role":"user","content":[{"type":"input_text","text":"` + strings.Repeat("hello ", 40) + `"}]}]`)
		keeps = make([]store.Response, b.N)
		for i := range keeps {
			id := fmt.Sprintf("resp_%016x%016x%016x", rnd.Uint64(), rnd.Uint64(), rnd.Uint64())
			keeps[i] = store.Response{ID: id, KeyID: r.KeyID, CreatedAt: time.Now(), Model: "resp-fake-instant",
				Provider: "fakeresponses", Native: true, Input: input,
				Output: []byte(`{"id":"` + id + `","object":"response","status":"completed",` + strings.Repeat(`"pad":"`+strings.Repeat("x", 100)+`",`, 10) + `"output":[]}`)}
		}
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), testutil.ProcessCPU()
	for i := 0; i < b.N; i++ {
		r.ID = ids[i]
		if kept {
			r.Keep = &keeps[i]
		}
		w.Write(r)
		// Stay under the queue + overflow bound so every row is really written; this
		// measures the drain rate, not how fast rows can be dropped.
		for i%1024 == 0 && w.Stats().Queued > DefaultQueue {
			time.Sleep(time.Millisecond)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	el, cpu := time.Since(start), testutil.ProcessCPU()-cpu0
	b.StopTimer()
	if st := w.Stats(); st.Written != uint64(b.N) || st.Dropped != 0 {
		b.Fatalf("stats = %+v, want %d written", st, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "rows/s")
	// The process's CPU per row (writer, SQLite, the benchmark's own Write calls and
	// GC): what a row costs a gateway whose core is busy, unlike the wall time.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/row")
}

func TestOverflowKeepsEveryRowThroughAnOutage(t *testing.T) {
	s := openStore(t)
	w := New(Options{Store: s, Queue: 16, Batch: 8, Overflow: 1000, FlushEvery: time.Millisecond,
		WriteTimeout: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	release := holdWriteLock(t, s.Path())
	ids := map[string]bool{}
	for i := range 900 {
		r := row(i)
		ids[r.ID] = true
		w.Write(r)
	}
	if st := w.Stats(); st.Queued != 900 || st.Dropped != 0 {
		t.Fatalf("stats while locked = %+v", st)
	}
	time.Sleep(150 * time.Millisecond)
	release()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := s.ListRequests(context.Background(), store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if !ids[r.ID] {
			t.Fatalf("unexpected or duplicate row %s", r.ID)
		}
		delete(ids, r.ID)
	}
	if len(ids) != 0 || len(rows) != 900 {
		t.Fatalf("%d rows written, %d missing", len(rows), len(ids))
	}
}

// TestDialectFieldsLand checks the writer carries the dialect columns to the store.
func TestDialectFieldsLand(t *testing.T) {
	s := openStore(t)
	w := New(Options{Store: s, Logger: slog.New(slog.DiscardHandler)})
	r := row(1)
	r.Dialect, r.UpstreamDialect, r.SessionID = "messages", "chat", "sess-1"
	r.CachedTokens, r.CacheWriteTokens, r.Dropped = 2, 1, []string{"thinking"}
	w.Write(r)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListRequests(context.Background(), store.RequestFilter{Session: "sess-1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %+v", err, got)
	}
	g := got[0]
	if g.Dialect != "messages" || g.UpstreamDialect != "chat" || g.CachedTokens != 2 || g.CacheWriteTokens != 1 ||
		len(g.Dropped) != 1 || g.Dropped[0] != "thinking" {
		t.Fatalf("row %+v", g)
	}
}

// TestBacklogIsBoundedInBytes: rows carry captured bodies, so while the database is
// locked the backlog is capped in bytes as well as rows, with the same counted drops.
func TestBacklogIsBoundedInBytes(t *testing.T) {
	s := openStore(t)
	lg, rec := newLogRecorder()
	w := New(Options{Store: s, Queue: 4, Batch: 2, Overflow: 1000, FlushEvery: time.Hour, MaxBytes: 10 << 20,
		WriteTimeout: 100 * time.Millisecond, Logger: lg})
	release := holdWriteLock(t, s.Path())
	big := strings.Repeat("x", 1<<20)
	for i := 0; i < 100; i++ {
		r := row(i)
		r.RequestBody = big
		w.Write(r)
	}
	st := w.Stats()
	// About 10 rows of 1 MiB fit in 10 MiB; the other 90 are dropped and counted.
	if st.Queued > 10 || st.Queued < 8 || int(st.Dropped)+st.Queued != 100 {
		t.Fatalf("stats while locked = %+v; want about 10 queued, the rest dropped", st)
	}
	if c := rec.count("dropping rows"); c != 1 {
		t.Fatalf("drops logged %d times, want once; logs:\n%s", c, rec.all())
	}
	release()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, s); got != st.Queued {
		t.Fatalf("%d rows written, want the %d kept", got, st.Queued)
	}
	// Space is given back: after the outage new rows are accepted again.
	if w.held.Load() != 0 {
		t.Fatalf("%d bytes still counted as held", w.held.Load())
	}
}
