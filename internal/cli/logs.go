package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tidwall/gjson"

	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/reqlog"
	"github.com/jmanhype/runestone/internal/sse"
	"github.com/jmanhype/runestone/internal/store"
)

// followPoll is how often `logs --follow` looks for new rows.
const followPoll = 250 * time.Millisecond

// unknownMark marks an unknown value (no price, no key) in tables.
const unknownMark = "—"

type logsOptions struct {
	f        *Factory
	follow   bool
	key      string
	model    string
	provider string
	session  string
	status   string
	since    string
	limit    int
	json     bool

	poll time.Duration // tests shorten it
}

// newLogsCmd is `runestone logs`: list, follow, show and replay the request log.
func newLogsCmd(f *Factory) *cobra.Command {
	o := &logsOptions{f: f, poll: followPoll}
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "List the request log, or follow it as requests finish",
		Long: `List finished requests, newest first, from the request log.

With --follow, print the latest rows and then every new one as it lands, like tail -f,
until Ctrl-C. With --json, print one JSON array (or, with --follow, one JSON object
per line).`,
		Example: `  runestone logs --since 1h --status 5xx
  runestone logs --follow --model gpt-4o
  runestone logs --session 4f6c2a1e-0d1b-4b7e-9d55-3f1f0b8a2c11   # one Claude Code session
  runestone logs show <x-request-id>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.resolveKey(cmd.Context()); err != nil {
				return err
			}
			filter, err := o.filter(time.Now())
			if err != nil {
				return usageError(err)
			}
			if o.follow {
				return logsFollow(cmd.Context(), o, filter)
			}
			return logsList(cmd.Context(), o, filter)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.follow, "follow", "f", false, "keep printing new requests as they finish (Ctrl-C to stop)")
	o.filterFlags(fl)
	fl.IntVarP(&o.limit, "limit", "n", 50, "show at most this many rows (0 = all)")
	fl.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	cmd.AddCommand(newLogsShowCmd(f), newLogsReplayCmd(f), newLogsExportCmd(f))
	return cmd
}

// resolveKey lets --key name a key by its name as well as its id: the name is what
// `keys list` and the dashboard show first.
func (o *logsOptions) resolveKey(ctx context.Context) error {
	if o.key == "" {
		return nil
	}
	st, err := o.f.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := st.ListKeys(ctx, true)
	if err != nil {
		return err
	}
	var named []string
	for _, k := range keys {
		if k.ID == o.key {
			return nil
		}
		if k.Name == o.key {
			named = append(named, k.ID)
		}
	}
	switch len(named) {
	case 0:
		return nil // a static key's id, or no key: the filter finds nothing, as before
	case 1:
		o.key = named[0]
		return nil
	}
	return usageError(fmt.Errorf("--key %q: %d keys have that name (%s): give the id", o.key, len(named), strings.Join(named, ", ")))
}

// filterFlags are the request filters `logs` and `logs export` share.
func (o *logsOptions) filterFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.key, "key", "", "only requests made with this key (its `ID` or its name)")
	fl.StringVar(&o.model, "model", "", "only requests for this (requested) model")
	fl.StringVar(&o.provider, "provider", "", "only requests answered by this provider")
	fl.StringVar(&o.session, "session", "", "only requests of this client session `ID` (X-Claude-Code-Session-Id, session_id)")
	fl.StringVar(&o.status, "status", "", "only this status: a code (200) or a class (2xx, 4xx, 5xx)")
	fl.StringVar(&o.since, "since", "", "only requests from this long ago (`DURATION`, e.g. 30m, 1h, 7d) or after an RFC 3339 time")
}

func (o *logsOptions) filter(now time.Time) (store.RequestFilter, error) {
	f := store.RequestFilter{KeyID: o.key, Model: o.model, Provider: o.provider, Session: o.session, Status: o.status, Limit: o.limit}
	if o.limit < 0 {
		return f, fmt.Errorf("--limit must be 0 or more, not %d", o.limit)
	}
	if o.status != "" {
		if _, _, err := store.ParseStatusFilter(o.status); err != nil {
			return f, fmt.Errorf("--status %q: want a status code like 200 or a class like 4xx", o.status)
		}
	}
	if o.since != "" {
		t, err := parseSince(o.since, now)
		if err != nil {
			return f, err
		}
		f.Since = t
	}
	return f, nil
}

// parseSince reads --since: a duration back from now (Go syntax plus "d" for days, e.g.
// 90s, 1h30m, 7d) or an absolute RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 {
			return now.Add(-time.Duration(n * float64(24*time.Hour))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration like 30m, 24h or 7d, or an RFC 3339 time", s)
}

func logsList(ctx context.Context, o *logsOptions, filter store.RequestFilter) error {
	st, err := o.f.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.ListRequests(ctx, filter)
	if err != nil {
		return fmt.Errorf("read the request log: %w", err)
	}
	if o.json {
		if rows == nil {
			rows = []store.RequestRow{}
		}
		return printJSON(o.f.Out, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.f.Err, "No requests logged match.")
		return nil
	}
	cells := [][]string{logHeader}
	for _, r := range rows {
		cells = append(cells, logCells(r, time.Now()))
	}
	widths := fitColumns(naturalWidths(make([]int, len(logHeader)), cells...), o.f.logsWidth())
	var b strings.Builder
	for _, c := range cells {
		b.WriteString(fitRow(c, widths, true) + "\n")
	}
	_, err = io.WriteString(o.f.Out, b.String())
	return err
}

var logHeader = []string{"TIME", "ID", "KEY", "MODEL", "DIALECT", "PROVIDER", "STATUS", "LATENCY", "TOKENS", "COST"}

func logCells(r store.RequestRow, now time.Time) []string {
	key := r.KeyName
	if key == "" {
		key = r.KeyID
	}
	if key == "" {
		key = unknownMark
	}
	provider := r.Provider
	if provider == "" {
		provider = unknownMark
	}
	status := strconv.Itoa(r.Status)
	tokens := fmt.Sprintf("%d/%d", r.PromptTokens, r.CompletionTokens)
	if r.TokensEstimated {
		tokens = "≈" + tokens
	}
	return []string{
		formatTime(r.Started, now), r.ID, key, r.Model, orDash(r.Dialect), provider, status,
		formatMS(r.LatencyMS), tokens, rowCost(r),
	}
}

// rowCost is a row's cost cell: "≈" marks a cost priced from estimated tokens.
func rowCost(r store.RequestRow) string {
	if r.CostUSD != nil && r.TokensEstimated {
		return "≈" + formatUSD(*r.CostUSD)
	}
	return formatCost(r.CostUSD)
}

func formatTime(t, now time.Time) string {
	t = t.Local()
	y1, m1, d1 := t.Date()
	if y2, m2, d2 := now.Local().Date(); y1 == y2 && m1 == m2 && d1 == d2 {
		return t.Format("15:04:05")
	}
	return t.Format("Jan 02 15:04") // older rows give up the seconds: logs fits 80 columns
}

func formatMS(ms float64) string {
	switch {
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	default:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	}
}

// formatCost prints USD with enough digits for per-request costs; nil is unknown.
func formatCost(c *float64) string {
	if c == nil {
		return unknownMark
	}
	return formatUSD(*c)
}

func formatUSD(v float64) string {
	switch {
	case v == 0:
		return "$0.00"
	case v >= 1:
		return fmt.Sprintf("$%.2f", v)
	case v >= 0.01:
		return fmt.Sprintf("$%.4f", v)
	default:
		return fmt.Sprintf("$%.6f", v)
	}
}

// logsFollow prints the latest rows (oldest of them first, like tail) and then polls by
// seq for new ones until ctx ends; Ctrl-C is a normal way out (exit 0).
func logsFollow(ctx context.Context, o *logsOptions, filter store.RequestFilter) error {
	st, err := o.f.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()

	// The cursor comes from before the first read, so a row committed in between is
	// either in that read or after the cursor: never skipped.
	cursor, err := st.LastRequestSeq(ctx)
	if err != nil {
		return err
	}
	first, err := st.ListRequests(ctx, filter)
	if err != nil {
		return fmt.Errorf("read the request log: %w", err)
	}
	enc := json.NewEncoder(o.f.Out)
	// Widths are set once, from the header and the first rows; later rows are cut to
	// them on a terminal (or $COLUMNS), and only push the line out in a pipe.
	width := o.f.logsWidth()
	natural := naturalWidths(followWidths, logHeader)
	for _, r := range first {
		natural = naturalWidths(natural, logCells(r, time.Now()))
	}
	widths := fitColumns(natural, width)
	print := func(r store.RequestRow) error {
		if o.json {
			return enc.Encode(r)
		}
		_, err := fmt.Fprintln(o.f.Out, fitRow(logCells(r, time.Now()), widths, width > 0))
		return err
	}
	if !o.json {
		fmt.Fprintln(o.f.Out, fitRow(logHeader, widths, width > 0))
	}
	for i := len(first) - 1; i >= 0; i-- {
		if err := print(first[i]); err != nil {
			return err
		}
		cursor = max(cursor, first[i].Seq)
	}

	tick := time.NewTicker(o.poll)
	defer tick.Stop()
	follow := filter
	follow.Limit = 1000
	var seqs *seqTracker // set once the cursor is known (> 0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		after := int64(-1) // this poll's read position; -1: start below the lowest open hole
		for more := true; more; {
			var rows []store.RequestRow
			if cursor == 0 {
				// The log was empty so far, and AfterSeq 0 means "no cursor" to the
				// store: read every match (all new), oldest first, and move the cursor
				// to the end of the log as it was before the read.
				var last int64
				if last, err = st.LastRequestSeq(ctx); err == nil {
					all := filter
					all.Limit = 0
					rows, err = st.ListRequests(ctx, all)
					slices.Reverse(rows)
					cursor = last
				}
				more = false
			} else {
				if seqs == nil {
					seqs = newSeqTracker(cursor)
				}
				if after < 0 {
					// From below the lowest seq that may still commit late (see seqTracker).
					after = seqs.from(time.Now())
				}
				follow.AfterSeq = after
				rows, err = st.ListRequests(ctx, follow)
				more = len(rows) == follow.Limit
				if more {
					after = rows[len(rows)-1].Seq
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("read the request log: %w", err)
			}
			for _, r := range rows {
				if seqs != nil && !seqs.see(r.Seq, time.Now()) {
					continue // printed already (re-read below a hole)
				}
				if err := print(r); err != nil {
					return err
				}
				cursor = max(cursor, r.Seq)
			}
		}
	}
}

// newLogsShowCmd is `runestone logs show ID`.
func newLogsShowCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show REQUEST_ID",
		Short: "Show one request: metadata, timings, providers tried and captured bodies",
		Long: `Show one request from the request log by its x-request-id: metadata, timings,
attempts and providers tried, and the captured request and response bodies. A client
that reused an id gets every matching request.`,
		Example: `  runestone logs show req_3f9a1c2b0d4e5f61
  runestone logs show req_3f9a1c2b0d4e5f61 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := f.OpenStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := st.RequestsByID(ctx, args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no request with id %q in the request log", args[0])
			}
			if err != nil {
				return fmt.Errorf("read the request log: %w", err)
			}
			if asJSON {
				return printJSON(f.Out, rows)
			}
			for i, r := range rows {
				if i > 0 {
					fmt.Fprintln(f.Out)
				}
				printDetail(f.Out, r, i+1, len(rows))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of every matching request")
	return cmd
}

func printDetail(w io.Writer, r store.RequestRow, n, of int) {
	title := "Request " + r.ID
	if of > 1 {
		title += fmt.Sprintf("  (%d of %d requests with this id)", n, of)
	}
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	line("Time", r.Started.Local().Format("2006-01-02 15:04:05.000 MST"))
	line("Endpoint", "POST "+orDash(r.Endpoint))
	key := orDash(r.KeyName)
	if r.KeyID != "" && r.KeyID != r.KeyName {
		key += " (" + r.KeyID + ")"
	}
	if r.Project != "" {
		key += "  project " + r.Project
	}
	line("Key", key)
	model := orDash(r.Model)
	if r.Provider != "" {
		model += " → " + r.Provider
		if r.UpstreamModel != "" {
			model += ":" + r.UpstreamModel
		}
	}
	line("Model", model)
	if a := (events.Request{AnsweredModel: r.AnsweredModel, UpstreamModel: r.UpstreamModel}); a.ModelDiffers() {
		line("Answered by", r.AnsweredModel+"  (not the model sent upstream; the cost is this model's)")
	} else if r.AnsweredModel != "" && r.AnsweredModel != r.UpstreamModel {
		line("Answered by", r.AnsweredModel)
	}
	if r.Dialect != "" {
		dialect := r.Dialect
		switch r.UpstreamDialect {
		case "", r.Dialect:
			if r.UpstreamDialect != "" {
				dialect += "  (relayed as sent)"
			}
		default:
			dialect += " → " + r.UpstreamDialect + "  (translated)"
		}
		line("Dialect", dialect)
	}
	if r.SessionID != "" {
		line("Session", r.SessionID)
	}
	tried := unknownMark
	if len(r.ProvidersTried) > 0 {
		tried = strings.Join(r.ProvidersTried, " → ")
	}
	attempts := fmt.Sprintf("%d attempts", r.Attempts)
	if r.Attempts == 1 {
		attempts = "1 attempt"
	}
	line("Providers tried", fmt.Sprintf("%s  (%s)", tried, attempts))
	status := strconv.Itoa(r.Status)
	if txt := http.StatusText(r.Status); txt != "" {
		status += " " + txt
	}
	if r.Stream {
		status += "  (stream)"
	}
	line("Status", status)
	timing := formatMS(r.LatencyMS) + " total"
	if r.TTFTMS != nil {
		timing += ", " + formatMS(*r.TTFTMS) + " to first token"
	}
	timing += ", " + formatMS(r.OverheadMS) + " gateway overhead"
	line("Latency", timing)
	tokens := fmt.Sprintf("%d prompt", r.PromptTokens)
	switch {
	case r.CachedTokens > 0 && r.CacheWriteTokens > 0:
		tokens += fmt.Sprintf(" (%d cached, %d cache write)", r.CachedTokens, r.CacheWriteTokens)
	case r.CachedTokens > 0:
		tokens += fmt.Sprintf(" (%d cached)", r.CachedTokens)
	case r.CacheWriteTokens > 0:
		tokens += fmt.Sprintf(" (%d cache write)", r.CacheWriteTokens)
	}
	if r.CacheWrite1hTokens > 0 {
		tokens += fmt.Sprintf(" [cache writes: %d 5m, %d 1h]", r.CacheWriteTokens-r.CacheWrite1hTokens, r.CacheWrite1hTokens)
	}
	tokens += fmt.Sprintf(" + %d completion", r.CompletionTokens)
	if r.ReasoningTokens > 0 {
		tokens += fmt.Sprintf(" (%d reasoning)", r.ReasoningTokens)
	}
	if r.CompactionTokens > 0 {
		tokens += fmt.Sprintf(" + %d compaction", r.CompactionTokens)
	}
	used := r.PromptTokens+r.CompletionTokens > 0
	switch {
	case r.TokensEstimated:
		tokens += "  (estimated)"
	case used:
		tokens += "  (reported by the provider)"
	}
	line("Tokens", tokens)
	if r.WebSearchCalls > 0 {
		line("Server tools", fmt.Sprintf("%d web search(es), billed per call", r.WebSearchCalls))
	}
	if r.ServiceTier != "" {
		line("Service tier", r.ServiceTier)
	}
	cost := formatCost(r.CostUSD)
	if r.CostUSD != nil && r.TokensEstimated {
		cost += "  (estimated: priced from estimated tokens)"
	}
	if r.CostUSD == nil && used {
		if r.CachedTokens+r.CacheWriteTokens > 0 {
			cost += "  (unknown: no price for this model or for its cache reads/writes; see runestone prices show)"
		} else {
			cost += "  (unknown: no price for this model, or its service tier or long-context rate; see runestone prices show)"
		}
	}
	line("Cost", cost)
	if len(r.Dropped) > 0 {
		line("Dropped", strings.Join(r.Dropped, ", ")+"  (not carried by the translation)")
	}
	if r.Error != "" {
		line("Error", r.Error)
	}
	_ = tw.Flush()

	fmt.Fprintln(w, "\nRequest body:")
	fmt.Fprintln(w, indentBody(r.RequestBody))
	fmt.Fprintln(w, "\nResponse body:")
	fmt.Fprintln(w, indentBody(r.ResponseBody))
}

func orDash(s string) string {
	if s == "" {
		return unknownMark
	}
	return s
}

// indentBody pretty-prints JSON bodies and leaves anything else (streamed text, a body
// cut at the capture limit) as it is.
func indentBody(b string) string {
	if b == "" {
		return "  (not captured)"
	}
	var out bytes.Buffer
	if json.Valid([]byte(b)) && json.Indent(&out, []byte(b), "  ", "  ") == nil {
		return "  " + out.String()
	}
	return "  " + strings.ReplaceAll(b, "\n", "\n  ")
}

type replayOptions struct {
	f   *Factory
	url string
	key string
	raw bool
}

// newLogsReplayCmd is `runestone logs replay ID`.
func newLogsReplayCmd(f *Factory) *cobra.Command {
	o := &replayOptions{f: f}
	cmd := &cobra.Command{
		Use:   "replay REQUEST_ID",
		Short: "Send a logged request again to the running gateway and print the new answer",
		Long: `Send the captured request body of a logged request to the running gateway again
(same endpoint) and print the new answer; a streamed request streams its answer as it
arrives. The client key comes from --key or $RUNESTONE_API_KEY. Exits 1 when the
gateway answers with an error.`,
		Example: `  RUNESTONE_API_KEY=sk-rs-… runestone logs replay req_3f9a1c2b0d4e5f61
  runestone logs replay req_3f9a1c2b0d4e5f61 --url http://127.0.0.1:4001 --key sk-rs-…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.key == "" {
				o.key = f.getenv()("RUNESTONE_API_KEY")
			}
			return replayRun(cmd.Context(), o, args[0])
		},
	}
	cmd.Flags().StringVar(&o.url, "url", "", "gateway base URL (default: the gateway serving --home, else http:// + server.addr)")
	cmd.Flags().StringVar(&o.key, "key", "", "client API key (default $RUNESTONE_API_KEY)")
	cmd.Flags().BoolVar(&o.raw, "raw", false, "print the response body as received instead of just the answer")
	return cmd
}

func replayRun(ctx context.Context, o *replayOptions, id string) error {
	st, err := o.f.OpenStore(ctx)
	if err != nil {
		return err
	}
	rows, err := st.RequestsByID(ctx, id)
	_ = st.Close()
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no request with id %q in the request log", id)
	}
	if err != nil {
		return fmt.Errorf("read the request log: %w", err)
	}
	r := rows[len(rows)-1]
	if len(rows) > 1 {
		fmt.Fprintf(o.f.Err, "%d requests used id %s; replaying the latest (%s).\n",
			len(rows), id, r.Started.Local().Format("Jan 02 15:04:05"))
	}
	if r.RequestBody == "" {
		return fmt.Errorf("request %s has no captured body to replay (is log.capture_bodies off?)", id)
	}
	if !json.Valid([]byte(r.RequestBody)) {
		return fmt.Errorf("request %s's captured body is not complete JSON (cut at log.max_body_capture?); cannot replay it", id)
	}

	base := o.url
	if base == "" {
		t, err := o.f.findGateway("", "")
		if err != nil {
			return err
		}
		base = t.URL
	}
	endpoint := r.Endpoint
	if endpoint == "" {
		endpoint = "/v1/chat/completions"
	}
	base = strings.TrimRight(base, "/")
	if strings.HasSuffix(base, "/v1") && strings.HasPrefix(endpoint, "/v1/") {
		base = strings.TrimSuffix(base, "/v1") // --url http://host:4001/v1, as SDKs take it
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+endpoint, strings.NewReader(r.RequestBody))
	if err != nil {
		return usageError(fmt.Errorf("--url %q: %w", o.url, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-runestone-replay-of", id)
	if o.key != "" {
		req.Header.Set("Authorization", "Bearer "+o.key)
	}
	stream := gjson.Get(r.RequestBody, "stream").Bool()
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("cannot reach the gateway at %s (is `runestone serve` running?): %w", base, err)
	}
	defer resp.Body.Close()
	if newID := resp.Header.Get("x-request-id"); newID != "" {
		fmt.Fprintf(o.f.Err, "Replayed %s as %s", id, newID)
		if p := resp.Header.Get("x-runestone-provider"); p != "" {
			fmt.Fprintf(o.f.Err, " via %s", p)
		}
		fmt.Fprintln(o.f.Err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return fmt.Errorf("replay failed: %s", errorMessage(resp.StatusCode, body))
	}
	if o.raw {
		_, err := io.Copy(o.f.Out, resp.Body)
		return err
	}
	if stream || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return printStream(ctx, o.f.Out, resp.Body)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	return printAnswer(o.f.Out, body)
}

// dialAddr turns a listen address into one to connect to: a wildcard host becomes loopback.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// errorMessage renders an OpenAI error envelope (or any body) as one sentence.
func errorMessage(status int, body []byte) string {
	msg := gjson.GetBytes(body, "error.message").String()
	code := gjson.GetBytes(body, "error.code").String()
	if msg == "" {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
	}
	s := fmt.Sprintf("%d %s", status, http.StatusText(status))
	if code != "" {
		s += " (" + code + ")"
	}
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// printAnswer prints a non-stream answer's text (chat message, completion text, tool
// calls), or the pretty JSON body when it has none (embeddings, unknown shapes).
func printAnswer(w io.Writer, body []byte) error {
	choice := gjson.GetBytes(body, "choices.0")
	var parts []string
	if c := choice.Get("message.content"); c.Type == gjson.String && c.String() != "" {
		parts = append(parts, c.String())
	} else if t := choice.Get("text"); t.Type == gjson.String {
		parts = append(parts, t.String())
	}
	choice.Get("message.tool_calls").ForEach(func(_, tc gjson.Result) bool {
		parts = append(parts, fmt.Sprintf("[tool_call %s(%s)]", tc.Get("function.name").String(),
			tc.Get("function.arguments").String()))
		return true
	})
	if len(parts) == 0 {
		var out bytes.Buffer
		if json.Indent(&out, body, "", "  ") != nil {
			_, err := w.Write(body)
			return err
		}
		parts = append(parts, out.String())
	}
	_, err := fmt.Fprintln(w, strings.Join(parts, "\n"))
	return err
}

// printStream prints a streamed answer's content deltas as they arrive, then any tool
// calls; an error event ends it with an error (exit 1).
func printStream(ctx context.Context, w io.Writer, body io.Reader) error {
	capt := reqlog.NewTextCapture(1 << 20)
	sr := sse.NewReader(body)
	for {
		_, data, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				break // Ctrl-C: print what arrived, as at the end of the stream
			}
			fmt.Fprintln(w)
			return fmt.Errorf("read the stream: %w", err)
		}
		data = bytes.TrimSpace(data)
		if string(data) == "[DONE]" {
			break
		}
		capt.Add(data)
		choice := gjson.GetBytes(data, "choices.0")
		text := choice.Get("delta.content").String()
		if text == "" {
			text = choice.Get("text").String()
		}
		if text != "" {
			if _, err := io.WriteString(w, text); err != nil {
				return err
			}
		}
		if msg := capt.Err(); msg != "" {
			fmt.Fprintln(w)
			return fmt.Errorf("the stream failed: %s", msg)
		}
	}
	for _, tc := range capt.ToolCalls() {
		fmt.Fprintf(w, "\n%s", tc)
	}
	_, err := fmt.Fprintln(w)
	return err
}
