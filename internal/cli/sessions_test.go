package cli

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
	"github.com/spf13/cobra"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/")

// sessionRows are two agent sessions and a request without one, at fixed times.
func sessionRows() []store.RequestRow {
	t0 := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	cc := func(i int, model string, pt, ct, cached, written int, cost *float64) store.RequestRow {
		return store.RequestRow{ID: "req_cc" + string(rune('a'+i)), Started: t0.Add(time.Duration(i) * 4 * time.Second),
			Endpoint: "/v1/messages", Model: model, Status: 200, LatencyMS: 1200 + float64(i)*100, PromptTokens: pt,
			CompletionTokens: ct, CachedTokens: cached, CacheWriteTokens: written, CostUSD: cost,
			SessionID: "4f6c2a1e-0d1b-4b7e-9d55-3f1f0b8a2c11", Agent: "claude-code", AgentVersion: "2.0.76"}
	}
	rows := []store.RequestRow{
		cc(0, "claude-haiku-4-5", 420, 12, 0, 0, costPtr(0.00048)),
		cc(1, "claude-sonnet-4-5", 18000, 310, 0, 17500, costPtr(0.070275)),
		cc(2, "claude-sonnet-4-5", 18600, 95, 17500, 1100, costPtr(0.01353)),
		{ID: "req_plain", Started: t0.Add(time.Minute), Endpoint: "/v1/chat/completions", Model: "gpt-4o", Status: 200,
			LatencyMS: 300, PromptTokens: 5, CompletionTokens: 2, CostUSD: costPtr(0.0001)},
	}
	t1 := t0.Add(2 * time.Minute)
	for i, r := range []struct {
		status   int
		err      string
		pt, ct   int
		cachedIn int
		priced   bool
		est      bool // the upstream reported no usage: the gateway counted
	}{{200, "", 3000, 120, 0, true, true}, {429, "rate limited: rpm 2", 0, 0, 0, false, false}, {200, "", 3300, 40, 2900, false, false}} {
		row := store.RequestRow{ID: "req_cx" + string(rune('a'+i)), Started: t1.Add(time.Duration(i) * 2 * time.Second),
			Endpoint: "/v1/responses", Model: "ollama:qwen3-coder", Status: r.status, Error: r.err, LatencyMS: 900,
			PromptTokens: r.pt, CompletionTokens: r.ct, CachedTokens: r.cachedIn, SessionID: "rs-0123456789abcdef",
			Agent: "codex", AgentVersion: "0.63.0", TokensEstimated: r.est}
		if r.priced {
			row.CostUSD = costPtr(0)
		}
		rows = append(rows, row)
	}
	return rows
}

func runSessions(t *testing.T, e *logsEnv, args ...string) string {
	t.Helper()
	e.out.mu.Lock()
	e.out.b.Reset()
	e.out.mu.Unlock()
	root := &cobra.Command{Use: "runestone", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newSessionsCmd(e.f))
	root.SetArgs(args)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("runestone %v: %v", args, err)
	}
	return e.out.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (rerun with -update after checking):\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestSessionsGolden(t *testing.T) {
	e := newLogsEnv(t)
	e.seed(t, sessionRows()...)
	golden(t, "sessions.golden", runSessions(t, e, "sessions"))
	golden(t, "sessions_show.golden", runSessions(t, e, "sessions", "show", "4f6c2a1e-0d1b-4b7e-9d55-3f1f0b8a2c11"))
	golden(t, "sessions_show_codex.golden", runSessions(t, e, "sessions", "show", "rs-0123456789abcdef"))
}

// TestSessionsJSONEqualRows: the list's figures, the show view's and the sum of the
// rows `logs --session` would print are one and the same.
func TestSessionsJSONEqualRows(t *testing.T) {
	e := newLogsEnv(t)
	e.seed(t, sessionRows()...)
	var list []sessionJSON
	if err := json.Unmarshal([]byte(runSessions(t, e, "sessions", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d sessions, want 2", len(list))
	}
	for _, s := range list {
		var show sessionShow
		if err := json.Unmarshal([]byte(runSessions(t, e, "sessions", "show", s.ID, "--json")), &show); err != nil {
			t.Fatal(err)
		}
		var pt, ct, cached, written int64
		var cost float64
		unpriced, errs, est := 0, 0, 0
		for _, r := range show.Turns {
			if r.TokensEstimated {
				est++
			}
			pt, ct, cached, written = pt+int64(r.PromptTokens), ct+int64(r.CompletionTokens), cached+int64(r.CachedTokens), written+int64(r.CacheWriteTokens)
			if r.CostUSD != nil {
				cost += *r.CostUSD
			} else if r.PromptTokens+r.CompletionTokens > 0 {
				unpriced++
			}
			if r.Status >= 400 {
				errs++
			}
		}
		if s.Turns != len(show.Turns) || s.PromptTokens != pt || s.CompletionTokens != ct || s.CachedTokens != cached ||
			s.CacheWriteTokens != written || math.Abs(s.CostUSD-cost) > 1e-12 || s.UnpricedRequests != unpriced || s.Errors != errs ||
			s.EstimatedRequests != est {
			t.Errorf("%s: list %+v, rows sum to turns %d pt %d ct %d cached %d written %d cost %v unpriced %d errors %d",
				s.ID, s.SessionSummary, len(show.Turns), pt, ct, cached, written, cost, unpriced, errs)
		}
		show.SessionSummary.Models, s.Models = nil, nil
		if math.Abs(show.CostUSD-s.CostUSD) > 1e-12 {
			t.Errorf("%s: show cost %v, list %v", s.ID, show.CostUSD, s.CostUSD)
		}
		show.CostUSD = s.CostUSD
		if show.SessionSummary.DurationMS != s.DurationMS || show.SessionSummary.Turns != s.Turns || show.CacheHitRatio != s.CacheHitRatio {
			t.Errorf("%s: show %+v, list %+v", s.ID, show.sessionJSON, s)
		}
	}
}
