package server_test

import (
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

// TestCostUsesTheAnsweredModel: a native Messages relay whose answer names another
// model than the one sent (a fallback answering a refusal) is priced as the model that
// answered, with every token class of its usage: 1-hour cache writes, thinking,
// compaction iterations and a web search, streamed or not.
func TestCostUsesTheAnsweredModel(t *testing.T) {
	// Usage blocks as Anthropic sends them: cache writes split by lifetime, thinking
	// tokens in output_tokens_details, a compaction iteration, one web search.
	const usage = `{"input_tokens":2,"cache_creation_input_tokens":11420,"cache_read_input_tokens":7276,` +
		`"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":11420},"output_tokens":16,` +
		`"output_tokens_details":{"thinking_tokens":10},"server_tool_use":{"web_search_requests":1},"service_tier":"standard",` +
		`"iterations":[{"type":"compaction","input_tokens":1000,"output_tokens":100},{"type":"message","input_tokens":2,"output_tokens":16}]}`
	body := `{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-5-5-20260922","content":[{"type":"text","text":"hi"}],` +
		`"stop_reason":"end_turn","stop_sequence":null,"usage":` + usage + `}`
	stream := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"type\":\"message\",\"role\":\"assistant\"," +
		"\"model\":\"claude-opus-5-5-20260922\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":2,\"cache_creation_input_tokens\":11420," +
		"\"cache_read_input_tokens\":7276,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":11420},\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":" + usage + "}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		if gjson.GetBytes(b, "stream").Bool() {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte(stream))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	})
	g := startGateway(t, strings.Replace(claudeProvider, "%s", u.URL, 1), nil)
	for _, req := range []string{
		`{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
	} {
		if status, _, got := g.do("POST", "/v1/messages", req, map[string]string{"x-api-key": g.Key, "Authorization": "",
			"anthropic-version": "2023-06-01"}); status != 200 {
			t.Fatalf("%d %s", status, got)
		}
	}
	// Opus 5.5 (not Sonnet 4.5): 2 x $4 + 7,276 read x $0.20 + 11,420 1h-written x $8 +
	// 16 out x $20, the compaction's 1,000 in x $4 + 100 out x $20, and $0.01 a search.
	want := (2*4+7276*0.20+11420*8+16*20+1000*4+100*20)/1e6 + 0.01
	for _, row := range g.rows(t, 2) {
		if row.AnsweredModel != "claude-opus-5-5-20260922" || row.UpstreamModel != "claude-sonnet-4-5" {
			t.Errorf("row %s: answered %q, upstream %q", row.ID, row.AnsweredModel, row.UpstreamModel)
		}
		if row.CostUSD == nil || math.Round(*row.CostUSD*1e6) != math.Round(want*1e6) {
			t.Errorf("row %s (stream %v): cost %v, want %.6f", row.ID, row.Stream, row.CostUSD, want)
		}
		if row.CacheWrite1hTokens != 11420 || row.ReasoningTokens != 10 || row.CompactionTokens != 1100 ||
			row.WebSearchCalls != 1 || row.ServiceTier != "standard" || row.TokensEstimated {
			t.Errorf("row %s: token classes %+v", row.ID, row)
		}
	}
}
