package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// SessionSummary is one client session of the request log: the rows that carried one
// session id (an agent's own session header, or the launcher's). Every figure is a sum
// over those rows, so a session costs exactly what its requests cost.
type SessionSummary struct {
	ID               string    `json:"id"`
	Agent            string    `json:"agent"`
	AgentVersion     string    `json:"agent_version"`
	Models           []string  `json:"models"` // requested models, sorted
	Started          time.Time `json:"started"`
	DurationMS       float64   `json:"duration_ms"` // first request's start to the last one's end
	Turns            int       `json:"turns"`       // requests
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	CachedTokens     int64     `json:"cached_tokens"`      // of PromptTokens, read from a cache
	CacheWriteTokens int64     `json:"cache_write_tokens"` // of PromptTokens, written to a cache
	CostUSD          float64   `json:"cost_usd"`           // priced rows only
	UnpricedRequests int       `json:"unpriced_requests"`  // used tokens, have no price
	Errors           int       `json:"errors"`             // status 400 and above
	// EstimatedRequests counts turns whose token counts (and so cost) the gateway
	// estimated because the upstream reported none.
	EstimatedRequests int `json:"estimated_requests"`
}

// CacheHitRatio is the share of prompt tokens read from a cache (0 with no prompt).
func (s SessionSummary) CacheHitRatio() float64 {
	if s.PromptTokens == 0 {
		return 0
	}
	return float64(s.CachedTokens) / float64(s.PromptTokens)
}

// Sessions summarises the sessions with a request at or after since, newest first;
// limit <= 0 is no limit.
func (s *Store) Sessions(ctx context.Context, since time.Time, limit int) ([]SessionSummary, error) {
	q := `SELECT session_id, max(agent), max(agent_version), group_concat(DISTINCT model), min(ts),
		max(ts + latency_ms), count(*), total(prompt_tokens), total(completion_tokens), total(cached_tokens),
		total(cache_write_tokens), total(cost_usd), total(cost_usd IS NULL AND prompt_tokens + completion_tokens > 0),
		total(status >= 400), total(tokens_estimated)
		FROM requests WHERE session_id != '' AND ts >= ? GROUP BY session_id ORDER BY 5 DESC, 1`
	if s.db.pg {
		q = `SELECT session_id, max(agent), max(agent_version), string_agg(DISTINCT model, ','), min(ts),
		max(ts + latency_ms)::float8, count(*), coalesce(sum(prompt_tokens), 0)::float8,
		coalesce(sum(completion_tokens), 0)::float8, coalesce(sum(cached_tokens), 0)::float8,
		coalesce(sum(cache_write_tokens), 0)::float8, coalesce(sum(cost_usd), 0)::float8,
		(count(*) FILTER (WHERE cost_usd IS NULL AND prompt_tokens + completion_tokens > 0))::float8,
		(count(*) FILTER (WHERE status >= 400))::float8, (count(*) FILTER (WHERE tokens_estimated))::float8
		FROM requests WHERE session_id != '' AND ts >= ? GROUP BY session_id ORDER BY 5 DESC, 1`
	}
	args := []any{since.UnixMilli()}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query sessions: %w", err)
	}
	defer rows.Close()
	var out []SessionSummary
	for rows.Next() {
		var (
			ss                                        SessionSummary
			models                                    *string
			first                                     int64
			end, pt, ct, cached, written, unp, e, est float64
		)
		if err := rows.Scan(&ss.ID, &ss.Agent, &ss.AgentVersion, &models, &first, &end, &ss.Turns, &pt, &ct, &cached,
			&written, &ss.CostUSD, &unp, &e, &est); err != nil {
			return nil, fmt.Errorf("read sessions: %w", err)
		}
		ss.Started = time.UnixMilli(first).UTC()
		ss.DurationMS = end - float64(first)
		ss.PromptTokens, ss.CompletionTokens, ss.CachedTokens, ss.CacheWriteTokens = int64(pt), int64(ct), int64(cached), int64(written)
		ss.UnpricedRequests, ss.Errors, ss.EstimatedRequests = int(unp), int(e), int(est)
		ss.Models = []string{}
		if models != nil && *models != "" {
			ss.Models = strings.Split(*models, ",")
			sort.Strings(ss.Models)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	return out, nil
}

// SessionRequests is a session's rows, oldest first, without captured bodies.
// ErrNotFound when the log holds none.
func (s *Store) SessionRequests(ctx context.Context, id string) ([]RequestRow, error) {
	rows, err := s.queryRequests(ctx, "SELECT "+requestCols+
		", '', '' FROM requests WHERE session_id = ? ORDER BY seq", id)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return rows, nil
}
