package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jmanhype/runestone/internal/store"
	"github.com/spf13/cobra"
)

// newSessionsCmd is `runestone sessions`: the request log grouped by client session
// (Claude Code's and Codex's own session ids, or the one `runestone exec AGENT` gives
// an agent that names none).
func newSessionsCmd(f *Factory) *cobra.Command {
	var (
		since  string
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List agent sessions from the request log: turns, tokens, cache, cost, errors",
		Long: `List client sessions, newest first: the requests that carried one session id (Claude
Code's X-Claude-Code-Session-Id, Codex's session_id, or the X-Runestone-Session that
` + "`runestone exec AGENT`" + ` gives agents that send none), with the agent and its version from
the User-Agent. Every figure is the sum of the session's rows in the request log: turns
are requests, the cache hit ratio is cached prompt tokens over prompt tokens, and
requests without a price are counted beside the cost ("+ 1 unpriced"), never as $0.
Tool calls are not counted: the log does not keep them.`,
		Example: `  runestone sessions --since 1d
  runestone sessions show rs-3f1f0b8a2c1145e0
  runestone sessions --json | jq '.[0].cost_usd'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var from time.Time
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usageError(err)
				}
				from = t
			}
			st, err := f.OpenStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.Sessions(cmd.Context(), from, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(f.Out, sessionsJSON(list))
			}
			if len(list) == 0 {
				fmt.Fprintln(f.Err, "No sessions in the request log yet. Launch an agent with: runestone exec claude")
				return nil
			}
			printSessions(f.Out, list)
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only sessions with a request from this long ago (`DURATION`, e.g. 1h, 7d) or after an RFC 3339 time")
	cmd.Flags().IntVarP(&limit, "limit", "n", 50, "show at most this many sessions (0 = all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	cmd.AddCommand(newSessionsShowCmd(f))
	return cmd
}

// sessionJSON is a session as --json prints it: the summary and its cache hit ratio.
type sessionJSON struct {
	store.SessionSummary
	CacheHitRatio float64 `json:"cache_hit_ratio"`
}

func sessionsJSON(list []store.SessionSummary) []sessionJSON {
	out := make([]sessionJSON, 0, len(list))
	for _, s := range list {
		out = append(out, sessionJSON{s, s.CacheHitRatio()})
	}
	return out
}

// sessionTime prints a UTC time: sessions are compared across machines and days.
func sessionTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func printSessions(w io.Writer, list []store.SessionSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tAGENT\tMODELS\tSTARTED\tDURATION\tTURNS\tINPUT\tOUTPUT\tCACHE READ\tCACHE WRITE\tHIT\tCOST\tERRORS")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.0f%%\t%s\t%d\n", s.ID, sessionAgent(s.Agent, s.AgentVersion),
			strings.Join(s.Models, ","), sessionTime(s.Started), formatMS(s.DurationMS), s.Turns, s.PromptTokens,
			s.CompletionTokens, s.CachedTokens, s.CacheWriteTokens, 100*s.CacheHitRatio(),
			sessionCost(s), s.Errors)
	}
	_ = tw.Flush()
}

// sessionCost is a session's cost cell: the priced sum, the unpriced requests beside it,
// and "≈" (as in logs) when some of its turns' counts were estimated, not reported.
func sessionCost(s store.SessionSummary) string {
	c := costSummary(s.CostUSD, s.UnpricedRequests, 0)
	if s.EstimatedRequests > 0 {
		c = "≈" + c
	}
	return c
}

func sessionAgent(name, version string) string {
	switch {
	case name == "":
		return unknownMark
	case version == "":
		return name
	}
	return name + " " + version
}

// sessionShow is `sessions show --json`: the summary and its turns.
type sessionShow struct {
	sessionJSON
	Turns []store.RequestRow `json:"requests"`
}

func newSessionsShowCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show SESSION",
		Short: "Walk one session turn by turn: time, model, status, tokens, latency, cost",
		Example: `  runestone sessions show rs-3f1f0b8a2c1145e0
  runestone sessions show 4f6c2a1e-0d1b-4b7e-9d55-3f1f0b8a2c11 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sessionsShowRun(cmd.Context(), f, args[0], asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the session and its requests as JSON")
	return cmd
}

func sessionsShowRun(ctx context.Context, f *Factory, id string, asJSON bool) error {
	st, err := f.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.SessionRequests(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no session %q in the request log: list them with `runestone sessions`", id)
	}
	if err != nil {
		return err
	}
	sum := summarize(id, rows)
	if asJSON {
		return printJSON(f.Out, sessionShow{sessionJSON{sum, sum.CacheHitRatio()}, rows})
	}
	fmt.Fprintf(f.Out, "Session %s: %s, %s, %s\n", id, sessionAgent(sum.Agent, sum.AgentVersion),
		plural(sum.Turns, "turn", "turns"), formatMS(sum.DurationMS))
	fmt.Fprintf(f.Out, "Started %s; cost %s; %s\n", sessionTime(sum.Started),
		sessionCost(sum), plural(sum.Errors, "error", "errors"))
	if sum.EstimatedRequests > 0 {
		fmt.Fprintf(f.Out, "≈ %s estimated by the gateway: the upstream reported no usage for them.\n",
			plural(sum.EstimatedRequests, "turn's tokens were", "turns' tokens were"))
	}
	fmt.Fprintln(f.Out)
	tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTIME\tENDPOINT\tMODEL\tSTATUS\tINPUT\tOUTPUT\tCACHE READ\tCACHE WRITE\tLATENCY\tCOST\tREQUEST")
	for i, r := range rows {
		status := fmt.Sprint(r.Status)
		if r.Error != "" {
			status += " " + trunc(r.Error, 40)
		}
		in, out := strconv.Itoa(r.PromptTokens), strconv.Itoa(r.CompletionTokens)
		if r.TokensEstimated {
			in, out = "≈"+in, "≈"+out
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", i+1, r.Started.UTC().Format("15:04:05.000"),
			r.Endpoint, r.Model, status, in, out, r.CachedTokens, r.CacheWriteTokens,
			formatMS(r.LatencyMS), rowCost(r), r.ID)
	}
	_ = tw.Flush()
	fmt.Fprintf(f.Out, "\nTotal: %d input (%d cache read, %d cache write, %.0f%% hit), %d output; each request's detail: runestone logs show ID\n",
		sum.PromptTokens, sum.CachedTokens, sum.CacheWriteTokens, 100*sum.CacheHitRatio(), sum.CompletionTokens)
	return nil
}

// summarize adds a session's rows up the way store.Sessions does in SQL.
func summarize(id string, rows []store.RequestRow) store.SessionSummary {
	s := store.SessionSummary{ID: id, Started: rows[0].Started, Turns: len(rows), Models: []string{}}
	seen := map[string]bool{}
	var end time.Time
	for _, r := range rows {
		if r.Agent != "" {
			s.Agent, s.AgentVersion = r.Agent, r.AgentVersion
		}
		if !seen[r.Model] {
			seen[r.Model] = true
			s.Models = append(s.Models, r.Model)
		}
		if r.Started.Before(s.Started) {
			s.Started = r.Started
		}
		if e := r.Started.Add(time.Duration(r.LatencyMS * float64(time.Millisecond))); e.After(end) {
			end = e
		}
		s.PromptTokens += int64(r.PromptTokens)
		s.CompletionTokens += int64(r.CompletionTokens)
		s.CachedTokens += int64(r.CachedTokens)
		s.CacheWriteTokens += int64(r.CacheWriteTokens)
		if r.CostUSD != nil {
			s.CostUSD += *r.CostUSD
		} else if r.PromptTokens+r.CompletionTokens > 0 {
			s.UnpricedRequests++
		}
		if r.Status >= 400 {
			s.Errors++
		}
		if r.TokensEstimated {
			s.EstimatedRequests++
		}
	}
	s.DurationMS = float64(end.Sub(s.Started)) / float64(time.Millisecond)
	return s
}
