package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
)

func TestSeqTracker(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := newSeqTracker(10)
	for _, s := range []int64{11, 12, 15} {
		if !tr.see(s, now) {
			t.Fatalf("%d not new", s)
		}
	}
	if got := tr.openHoles(); !slices.Equal(got, []int64{13, 14}) {
		t.Fatalf("holes %v", got)
	}
	if f := tr.from(now); f != 12 {
		t.Fatalf("from %d, want 12", f)
	}
	if tr.see(15, now) || tr.see(12, now) {
		t.Fatal("a printed row is new again")
	}
	if !tr.see(14, now) || tr.see(14, now) {
		t.Fatal("a late row is not printed exactly once")
	}
	if f := tr.from(now.Add(followSettle)); f != 15 {
		t.Fatalf("after the settle time: from %d, want 15", f)
	}
}

// TestLogsFollowLateCommit: a row whose seq is below one already printed (on Postgres:
// two replicas committing at the same moment) is still printed, once. Before, the
// follower asked only for seq > the highest printed and skipped it for good.
func TestLogsFollowLateCommit(t *testing.T) {
	e := newLogsEnv(t)
	e.seed(t, store.RequestRow{ID: "first", Started: time.Now(), Model: "mock", Status: 200})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.run(ctx, "logs", "--follow", "--json") }()
	waitForOutput(t, "the first row", func() bool { return strings.Contains(e.out.String(), `"first"`) })
	// Raw SQL: the store API never sets seq, and this test must choose it.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.f.Home, store.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Seq 1 is "first"; seq 3 commits before seq 2.
	exec := func(seq int64, id string) {
		if _, err := db.ExecContext(context.Background(),
			"INSERT INTO requests (seq, id, ts, model, status) VALUES (?, ?, ?, 'mock', 200)", seq, id, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	exec(3, "third")
	waitForOutput(t, "third", func() bool { return strings.Contains(e.out.String(), `"third"`) })
	exec(2, "second-late")
	waitForOutput(t, "the late row", func() bool { return strings.Contains(e.out.String(), `"second-late"`) })
	time.Sleep(600 * time.Millisecond) // two more polls: nothing is printed twice
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(e.out.String()), "\n") {
		var r store.RequestRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"first", "third", "second-late"}) {
		t.Fatalf("printed %v", ids)
	}
}

// openHoles lists the holes, lowest first (only the tests need it).
func (t *seqTracker) openHoles() []int64 {
	var out []int64
	for s := range t.holes {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
