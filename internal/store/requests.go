package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/jmanhype/runestone/internal/budget"
)

// RequestRow is one finished request in the request log. Its JSON field names are the
// stable shape `runestone logs --json` prints.
type RequestRow struct {
	Seq              int64     `json:"seq"`     // ordering key, assigned on insert
	ID               string    `json:"id"`      // x-request-id; not unique
	Started          time.Time `json:"started"` // stored as unix ms
	KeyID            string    `json:"key_id"`  // "" when auth is off or a static key was used
	KeyName          string    `json:"key_name"`
	Project          string    `json:"project"`
	Endpoint         string    `json:"endpoint"` // e.g. /v1/chat/completions
	Model            string    `json:"model"`    // as requested
	Provider         string    `json:"provider"` // the provider that answered (or was tried last)
	UpstreamModel    string    `json:"upstream_model"`
	ProvidersTried   []string  `json:"providers_tried"` // in order; stored as a comma list
	Status           int       `json:"status"`
	Stream           bool      `json:"stream"`
	LatencyMS        float64   `json:"latency_ms"`
	TTFTMS           *float64  `json:"ttft_ms"` // nil for non-stream requests
	OverheadMS       float64   `json:"overhead_ms"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	CachedTokens     int       `json:"cached_tokens"`      // prompt tokens read from a cache
	CacheWriteTokens int       `json:"cache_write_tokens"` // prompt tokens written to a cache
	TokensEstimated  bool      `json:"tokens_estimated"`   // counts estimated, not reported by the upstream
	CostUSD          *float64  `json:"cost_usd"`           // nil = the model has no price (never 0 for unknown)
	Attempts         int       `json:"attempts"`
	Error            string    `json:"error"`
	Dialect          string    `json:"dialect"`                 // the API the client spoke: chat, messages, responses, …
	UpstreamDialect  string    `json:"upstream_dialect"`        // the API spoken to the provider ("" before dialects were logged)
	SessionID        string    `json:"session_id"`              // the client's session header, "" when none
	Dropped          []string  `json:"dropped"`                 // request fields a translation dropped; stored as a comma list
	RequestBody      string    `json:"request_body,omitempty"`  // captured (redacted, capped) body
	ResponseBody     string    `json:"response_body,omitempty"` // captured body; streamed text for streams
	// AnsweredModel is the model the provider's answer names ("" when it names none):
	// Model is what the client asked for, UpstreamModel what the router chose, and
	// the cost is the answered model's.
	AnsweredModel      string `json:"answered_model"`
	ReasoningTokens    int    `json:"reasoning_tokens"`      // of CompletionTokens, spent thinking
	CacheWrite1hTokens int    `json:"cache_write_1h_tokens"` // of CacheWriteTokens, with a 1-hour lifetime
	CompactionTokens   int    `json:"compaction_tokens"`     // compaction iterations, on top of prompt and completion
	WebSearchCalls     int    `json:"web_search_calls"`      // server-side web searches, billed per call
	ServiceTier        string `json:"service_tier"`          // the tier the answer ran on, "" when not said
	// Agent and AgentVersion name the client from its User-Agent (claude-code, codex,
	// gemini-cli, opencode; another client's first product token), "" when it sent none.
	Agent        string `json:"agent"`
	AgentVersion string `json:"agent_version"`

	// Keep is a Responses API answer to store with the row, in its transaction: a
	// natively relayed answer, whose state the provider keeps, so the gateway's copy
	// (for GET /v1/responses/{id} and affinity) need not be written on the request path.
	Keep *Response `json:"-"`
}

const requestCols = `seq, id, ts, key_id, key_name, project, endpoint, model, provider, upstream_model,
	providers_tried, status, stream, latency_ms, ttft_ms, overhead_ms, prompt_tokens, completion_tokens,
	cached_tokens, tokens_estimated, cost_usd, attempts, error, dialect, upstream_dialect, session_id,
	cache_write_tokens, dropped, answered_model, reasoning_tokens, cache_write_1h_tokens, compaction_tokens,
	web_search_calls, service_tier, agent, agent_version`

// insertChunk is how many rows one INSERT statement carries. Multi-row VALUES cut the
// per-statement overhead of the pure-Go driver; 8 rows measured as fast as 32 or 64
// (~85-90k rows/s) while keeping each step between yields under ~0.1 ms.
const insertChunk = 8

const insertHead = `INSERT INTO requests (id, ts, key_id, key_name, project, endpoint, model, provider,
	upstream_model, providers_tried, status, stream, latency_ms, ttft_ms, overhead_ms, prompt_tokens,
	completion_tokens, cached_tokens, tokens_estimated, cost_usd, attempts, error, dialect, upstream_dialect,
	session_id, cache_write_tokens, dropped, request_body, response_body, answered_model, reasoning_tokens,
	cache_write_1h_tokens, compaction_tokens, web_search_calls, service_tier, agent, agent_version) VALUES `

const insertCols = 37

// insertSQL[n] is the statement for n rows, built once.
var insertSQL = func() [insertChunk + 1]string {
	var out [insertChunk + 1]string
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", insertCols), ",") + ")"
	for n := 1; n <= insertChunk; n++ {
		out[n] = insertHead + strings.TrimSuffix(strings.Repeat(row+",", n), ",")
	}
	return out
}()

// pgInsertChunk is the Postgres statement size: each statement is a network round trip,
// so more rows per statement pay (37 columns x 128 rows stays far below the 65,535
// parameter limit); batches of 512 on loopback measured ~57k rows/s at 8 rows a
// statement and ~97k rows/s at 128.
const pgInsertChunk = 128

// pgInsertSQL[n] is the Postgres statement for n rows ($1, $2, …), built on first use.
var pgInsertSQL = sync.OnceValue(func() []string {
	out := make([]string, pgInsertChunk+1)
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", insertCols), ",") + ")"
	for n := 1; n <= pgInsertChunk; n++ {
		out[n] = rebind(true, insertHead+strings.TrimSuffix(strings.Repeat(row+",", n), ","))
	}
	return out
})

// InsertRequests appends rows to the request log in one transaction of multi-row
// INSERTs, so a batch of hundreds costs one commit and a handful of statements.
func (s *Store) InsertRequests(ctx context.Context, rows []RequestRow) error {
	if len(rows) == 0 {
		return nil
	}
	chunk, stmts := insertChunk, insertSQL[:]
	if s.db.pg {
		chunk, stmts = pgInsertChunk, pgInsertSQL()
	}
	all := rows
	// Postgres statements wait on the network, which frees the core by itself.
	y := yielder{last: time.Now(), off: s.db.pg}
	return s.tx(ctx, func(tx *Tx) error {
		args := make([]any, 0, chunk*insertCols)
		for len(rows) > 0 {
			n := min(len(rows), chunk)
			var stmt *sql.Stmt
			if !s.db.pg {
				stmt = s.stmts.get(ctx, s.db.db, insertSQL[n])
			}
			args = args[:0]
			for i := range rows[:n] {
				r := &rows[i]
				var ttft, cost any
				if r.TTFTMS != nil {
					ttft = *r.TTFTMS
				}
				if r.CostUSD != nil {
					cost = *r.CostUSD
				}
				args = append(args, r.ID, r.Started.UnixMilli(), r.KeyID, r.KeyName, r.Project,
					r.Endpoint, r.Model, r.Provider, r.UpstreamModel, strings.Join(r.ProvidersTried, ","),
					r.Status, r.Stream, r.LatencyMS, ttft, r.OverheadMS, r.PromptTokens, r.CompletionTokens,
					r.CachedTokens, r.TokensEstimated, cost, r.Attempts, r.Error, r.Dialect, r.UpstreamDialect,
					r.SessionID, r.CacheWriteTokens, strings.Join(r.Dropped, ","), r.RequestBody, r.ResponseBody,
					r.AnsweredModel, r.ReasoningTokens, r.CacheWrite1hTokens, r.CompactionTokens, r.WebSearchCalls, r.ServiceTier,
					r.Agent, r.AgentVersion)
			}
			if s.db.pg {
				pgTextArgs(args)
			}
			var err error
			if stmt != nil {
				_, err = tx.tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, stmts[n], args...)
			}
			if err != nil {
				return fmt.Errorf("insert %d request rows (first %q): %w", n, rows[0].ID, err)
			}
			rows = rows[n:]
			y.yield()
		}
		if err := keepResponses(ctx, tx, all, s.db.pg, &y); err != nil {
			return err
		}
		// The spend ledger is booked once per batch: its statements are parsed anew
		// each time, which per 8-row chunk was a quarter of the writer's CPU.
		return addSpend(ctx, tx, all)
	})
}

// RequestFilter selects request-log rows. Zero fields do not filter.
type RequestFilter struct {
	KeyID    string
	Model    string // requested model
	Provider string
	Session  string    // session id (X-Claude-Code-Session-Id, session_id)
	Status   string    // "200" (exact), "4xx" / "5xx" (class), as ParseStatusFilter accepts
	Since    time.Time // rows started at or after
	AfterSeq int64     // > 0: only rows with seq > AfterSeq, oldest first (for follow)
	Limit    int       // <= 0: no limit
}

// ParseStatusFilter turns "200", "4xx", "5XX" into an inclusive status range.
func ParseStatusFilter(s string) (lo, hi int, err error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) == 3 && strings.HasSuffix(s, "xx") && s[0] >= '1' && s[0] <= '5' {
		c := int(s[0]-'0') * 100
		return c, c + 99, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, 0, fmt.Errorf("invalid status filter %q: want a status code like 200 or a class like 4xx", s)
	}
	return n, n, nil
}

// ListRequests returns matching rows without their captured bodies (RequestsByID has
// them): newest first, or oldest first when f.AfterSeq > 0.
func (s *Store) ListRequests(ctx context.Context, f RequestFilter) ([]RequestRow, error) {
	var where []string
	var args []any
	if f.KeyID != "" {
		where, args = append(where, "key_id = ?"), append(args, f.KeyID)
	}
	if f.Model != "" {
		where, args = append(where, "model = ?"), append(args, f.Model)
	}
	if f.Provider != "" {
		where, args = append(where, "provider = ?"), append(args, f.Provider)
	}
	if f.Session != "" {
		where, args = append(where, "session_id = ?"), append(args, f.Session)
	}
	if f.Status != "" {
		lo, hi, err := ParseStatusFilter(f.Status)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "status BETWEEN ? AND ?"), append(args, lo, hi)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "ts >= ?"), append(args, f.Since.UnixMilli())
	}
	order := "seq DESC"
	if f.AfterSeq > 0 {
		where, args = append(where, "seq > ?"), append(args, f.AfterSeq)
		order = "seq ASC"
	}
	q := "SELECT " + requestCols + ", '', '' FROM requests"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return s.queryRequests(ctx, q, args...)
}

// RequestsByID returns every row logged under the request id, oldest first, with
// captured bodies. ErrNotFound when there is none.
func (s *Store) RequestsByID(ctx context.Context, id string) ([]RequestRow, error) {
	rows, err := s.queryRequests(ctx, "SELECT "+requestCols+
		", request_body, response_body FROM requests WHERE id = ? ORDER BY seq", id)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return rows, nil
}

func (s *Store) queryRequests(ctx context.Context, q string, args ...any) ([]RequestRow, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query requests: %w", err)
	}
	defer rows.Close()
	var out []RequestRow
	for rows.Next() {
		var r RequestRow
		var ts int64
		var tried, dropped string
		var ttft, cost sql.NullFloat64
		if err := rows.Scan(&r.Seq, &r.ID, &ts, &r.KeyID, &r.KeyName, &r.Project, &r.Endpoint, &r.Model,
			&r.Provider, &r.UpstreamModel, &tried, &r.Status, &r.Stream, &r.LatencyMS, &ttft, &r.OverheadMS,
			&r.PromptTokens, &r.CompletionTokens, &r.CachedTokens, &r.TokensEstimated, &cost, &r.Attempts,
			&r.Error, &r.Dialect, &r.UpstreamDialect, &r.SessionID, &r.CacheWriteTokens, &dropped,
			&r.AnsweredModel, &r.ReasoningTokens, &r.CacheWrite1hTokens, &r.CompactionTokens, &r.WebSearchCalls,
			&r.ServiceTier, &r.Agent, &r.AgentVersion, &r.RequestBody, &r.ResponseBody); err != nil {
			return nil, fmt.Errorf("read request row: %w", err)
		}
		r.Started = time.UnixMilli(ts).UTC()
		if tried != "" {
			r.ProvidersTried = strings.Split(tried, ",")
		}
		if dropped != "" {
			r.Dropped = strings.Split(dropped, ",")
		}
		if ttft.Valid {
			v := ttft.Float64
			r.TTFTMS = &v
		}
		if cost.Valid {
			v := cost.Float64
			r.CostUSD = &v
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read requests: %w", err)
	}
	return out, nil
}

// UsageGroup is one line of `keys usage`: totals for one key, project or model.
type UsageGroup struct {
	Key  string `json:"key"`            // key id, project or model ("" = none)
	Name string `json:"name,omitempty"` // by key: the key's name in its latest row
	// Model and Project repeat Key under the name of the grouping, so a --by model
	// report labels its groups by model.
	Model            string  `json:"model,omitempty"`
	Project          string  `json:"project,omitempty"`
	Requests         int     `json:"requests"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`      // of PromptTokens, read from a cache
	CacheWriteTokens int64   `json:"cache_write_tokens"` // of PromptTokens, written to a cache
	CostUSD          float64 `json:"cost_usd"`           // sum over priced requests only
	// UnpricedRequests counts requests that used tokens but have no price: their cost is
	// unknown and is not in CostUSD.
	UnpricedRequests int `json:"unpriced_requests"`
	// EstimatedRequests counts requests whose token counts (and so cost) the gateway
	// estimated because the provider reported none.
	EstimatedRequests int `json:"estimated_requests"`
	// EstimatedCostUSD is the part of CostUSD priced from estimated counts.
	EstimatedCostUSD float64 `json:"estimated_cost_usd"`
}

// Usage aggregates the request log since a time, grouped by "key", "project" or
// "model", optionally for one key id; largest cost first.
func (s *Store) Usage(ctx context.Context, since time.Time, by, keyID string) ([]UsageGroup, error) {
	var col, name string
	switch by {
	case "", "key":
		col, name = "key_id", "key_name"
	case "project":
		col, name = "project", "''"
	case "model":
		col, name = "model", "''"
	default:
		return nil, fmt.Errorf("invalid grouping %q: want key, project or model", by)
	}
	// key_name is a bare column next to max(seq): SQLite takes it from the newest row.
	q := `SELECT ` + col + `, ` + name + `, max(seq), count(*), total(prompt_tokens), total(completion_tokens),
		total(cost_usd), total(cost_usd IS NULL AND prompt_tokens + completion_tokens > 0),
		total(cached_tokens), total(cache_write_tokens), total(tokens_estimated),
		total(CASE WHEN tokens_estimated THEN cost_usd END)
		FROM requests WHERE ts >= ?`
	if s.db.pg {
		if by == "" || by == "key" {
			name = "(array_agg(key_name ORDER BY seq DESC))[1]"
		}
		q = `SELECT ` + col + `, ` + name + `, max(seq), count(*), coalesce(sum(prompt_tokens), 0)::float8,
		coalesce(sum(completion_tokens), 0)::float8, coalesce(sum(cost_usd), 0)::float8,
		(count(*) FILTER (WHERE cost_usd IS NULL AND prompt_tokens + completion_tokens > 0))::float8,
		coalesce(sum(cached_tokens), 0)::float8, coalesce(sum(cache_write_tokens), 0)::float8,
		(count(*) FILTER (WHERE tokens_estimated))::float8,
		coalesce(sum(cost_usd) FILTER (WHERE tokens_estimated), 0)::float8
		FROM requests WHERE ts >= ?`
	}
	args := []any{since.UnixMilli()}
	if keyID != "" {
		q += " AND key_id = ?"
		args = append(args, keyID)
	}
	q += " GROUP BY " + col + " ORDER BY 7 DESC, 4 DESC, 1"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	defer rows.Close()
	var out []UsageGroup
	for rows.Next() {
		var g UsageGroup
		var maxSeq int64
		var pt, ct, unpriced, cached, written, estimated float64
		if err := rows.Scan(&g.Key, &g.Name, &maxSeq, &g.Requests, &pt, &ct, &g.CostUSD, &unpriced, &cached, &written,
			&estimated, &g.EstimatedCostUSD); err != nil {
			return nil, fmt.Errorf("read usage: %w", err)
		}
		g.PromptTokens, g.CompletionTokens, g.UnpricedRequests = int64(pt), int64(ct), int(unpriced)
		g.CachedTokens, g.CacheWriteTokens, g.EstimatedRequests = int64(cached), int64(written), int(estimated)
		switch by {
		case "model":
			g.Model = g.Key
		case "project":
			g.Project = g.Key
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	return out, nil
}

// SpendByKey returns every key's lifetime priced spend in USD from the spend ledger
// (what lifetime budgets start from when the gateway starts). The ledger is not
// pruned with the log, so spend older than log.retention still counts.
func (s *Store) SpendByKey(ctx context.Context) (map[string]float64, error) {
	out := make(map[string]float64)
	err := s.scanSpend(ctx, "WHERE period_start = 0", nil, func(a budget.Account, v float64) { out[a.Key] = v })
	return out, err
}

// SpendSince returns the ledger's accounts a budget book starts from: every key's
// lifetime total and its spend in each period that started at or after since (pass
// the earliest start of a period still running; older periods are over).
func (s *Store) SpendSince(ctx context.Context, since time.Time) (map[budget.Account]float64, error) {
	out := make(map[budget.Account]float64)
	err := s.scanSpend(ctx, "WHERE period_start = 0 OR period_start >= ?", []any{since.UnixMilli()},
		func(a budget.Account, v float64) { out[a] = v })
	return out, err
}

// SpendOf returns one account's spend (0 when nothing was booked to it).
func (s *Store) SpendOf(ctx context.Context, a budget.Account) (float64, error) {
	var v float64
	err := s.scanSpend(ctx, "WHERE key_id = ? AND period_start = ?", []any{a.Key, a.Start},
		func(_ budget.Account, usd float64) { v = usd })
	return v, err
}

func (s *Store) scanSpend(ctx context.Context, where string, args []any, fn func(budget.Account, float64)) error {
	rows, err := s.db.QueryContext(ctx, "SELECT key_id, period_start, usd FROM spend "+where, args...)
	if err != nil {
		return fmt.Errorf("query spend: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a budget.Account
		var v float64
		if err := rows.Scan(&a.Key, &a.Start, &v); err != nil {
			return fmt.Errorf("read spend: %w", err)
		}
		fn(a, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read spend: %w", err)
	}
	return nil
}

// LastRequestSeq returns the highest seq in the log (0 when empty): where a follower
// starts.
func (s *Store) LastRequestSeq(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT max(seq) FROM requests").Scan(&v); err != nil {
		return 0, fmt.Errorf("query last request: %w", err)
	}
	return v.Int64, nil
}

// PruneRequests deletes rows started before the given time and returns how many. It
// deletes in chunks, each its own short transaction, so pruning a large backlog never
// holds the write lock long enough to stall the gateway or a CLI command.
func (s *Store) PruneRequests(ctx context.Context, before time.Time) (int64, error) {
	return s.pruneChunks(ctx, "requests", `DELETE FROM requests WHERE seq IN
		(SELECT seq FROM requests WHERE ts < ? ORDER BY ts LIMIT ?)`, before, 5000)
}

// pruneChunks runs a DELETE … LIMIT ? statement until it deletes fewer than chunk
// rows, each run its own short transaction, and returns how many it deleted.
func (s *Store) pruneChunks(ctx context.Context, what, query string, before time.Time, chunk int) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *Tx) error {
			res, err := tx.ExecContext(ctx, query, before.UnixMilli(), chunk)
			if err != nil {
				return fmt.Errorf("prune %s: %w", what, err)
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < int64(chunk) {
			return total, err
		}
	}
}

// IsBusy reports whether err is SQLite saying another connection holds the lock
// (SQLITE_BUSY or SQLITE_LOCKED): worth waiting for, not a fault of the data.
func IsBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

// addSpend books the priced rows' cost in the spend ledger, in the transaction that
// inserts them: the ledger and the log agree row for row. Every row counts towards its
// key's lifetime account (period_start 0); a key with a budget period also books the
// period its request started in, so a new period starts from zero.
func addSpend(ctx context.Context, tx *Tx, rows []RequestRow) error {
	var (
		accts   []budget.Account
		sums    []float64
		last    []int64
		periods = map[string]budget.Period{}
	)
	book := func(a budget.Account, usd float64, ts int64) {
		j := slices.Index(accts, a)
		if j < 0 {
			accts, sums, last = append(accts, a), append(sums, 0), append(last, 0)
			j = len(accts) - 1
		}
		sums[j] += usd
		last[j] = max(last[j], ts)
	}
	for i := range rows {
		r := &rows[i]
		if r.CostUSD == nil || r.KeyID == "" || *r.CostUSD == 0 {
			continue
		}
		p, ok := periods[r.KeyID]
		if !ok {
			// Static keys (from the config file) are not in the table: lifetime.
			var s string
			err := tx.queryRowCached(ctx, "SELECT budget_period FROM keys WHERE id = ?", r.KeyID).Scan(&s)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read budget period: %w", err)
			}
			p, _ = budget.Parse(s)
			periods[r.KeyID] = p
		}
		ts := r.Started.UnixMilli()
		book(budget.Account{Key: r.KeyID}, *r.CostUSD, ts)
		if p != budget.None {
			book(budget.For(r.KeyID, p, r.Started), *r.CostUSD, ts)
		}
	}
	for j, a := range accts {
		if _, err := tx.execCached(ctx, `INSERT INTO spend (key_id, period_start, usd, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (key_id, period_start) DO UPDATE SET usd = spend.usd + excluded.usd, updated = excluded.updated`,
			a.Key, a.Start, sums[j], last[j]); err != nil {
			return fmt.Errorf("book spend: %w", err)
		}
	}
	return nil
}

// keepResponses stores the responses kept with a batch's rows. A duplicate id under
// another key is left alone, as PutResponse does. SQLite takes them insertChunk to a
// statement; Postgres one by one, as it refuses a statement that updates a row twice
// (a re-sent stream's final object can repeat an id within a batch).
func keepResponses(ctx context.Context, tx *Tx, rows []RequestRow, pg bool, y *yielder) error {
	var args []any
	n, first := 0, ""
	flush := func() error {
		if n == 0 {
			return nil
		}
		q := putResponsesSQL[n]
		if pg {
			pgTextArgs(args)
			q = putResponseSQL
		}
		if _, err := tx.execCached(ctx, q, args...); err != nil {
			return fmt.Errorf("store %d kept responses (first %q): %w", n, first, err)
		}
		args, n = args[:0], 0
		y.yield()
		return nil
	}
	for i := range rows {
		k := rows[i].Keep
		if k == nil {
			continue
		}
		if n == 0 {
			first = k.ID
		}
		args = k.appendArgs(args)
		if n++; n == insertChunk || pg {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// ModelSeen is one model name combination the request log holds: what the client
// asked for, what the router sent upstream and what the answer named.
type ModelSeen struct {
	Model, UpstreamModel, AnsweredModel, Provider string
	Requests                                      int
	// Unpriced counts the requests that used tokens but got no cost.
	Unpriced int
}

// ModelsSince lists the model combinations logged since a time (`prices check`).
func (s *Store) ModelsSince(ctx context.Context, since time.Time) ([]ModelSeen, error) {
	unpriced := `total(cost_usd IS NULL AND prompt_tokens + completion_tokens > 0)`
	if s.db.pg {
		unpriced = `(count(*) FILTER (WHERE cost_usd IS NULL AND prompt_tokens + completion_tokens > 0))::float8`
	}
	rows, err := s.db.QueryContext(ctx, `SELECT model, upstream_model, answered_model, provider, count(*), `+unpriced+`
		FROM requests WHERE ts >= ? GROUP BY model, upstream_model, answered_model, provider
		ORDER BY model, upstream_model, answered_model, provider`, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("query models: %w", err)
	}
	defer rows.Close()
	var out []ModelSeen
	for rows.Next() {
		var m ModelSeen
		var n float64
		if err := rows.Scan(&m.Model, &m.UpstreamModel, &m.AnsweredModel, &m.Provider, &m.Requests, &n); err != nil {
			return nil, fmt.Errorf("read models: %w", err)
		}
		m.Unpriced = int(n)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	return out, nil
}
