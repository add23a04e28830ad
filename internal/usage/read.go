package usage

import (
	"github.com/tidwall/gjson"

	"github.com/jmanhype/runestone/internal/provider"
)

// One reader per wire format. Every place that meets a usage object (a relay's
// scanner, a translation, a provider) calls the reader of the format it holds, so a
// token class added here is read everywhere at once.
//
// The gateway's convention, which every reader returns: PromptTokens includes cache
// reads and cache writes (OpenAI's convention); CompletionTokens includes reasoning;
// compaction iterations and server-tool calls are counted apart because they bill
// on top of the top-level counts.

// Chat reads a Chat Completions usage object (prompt_tokens, completion_tokens and
// their details). cache_write_tokens is what GPT-5.6 and later report, and what the
// gateway's own translations put there for Anthropic's cache writes.
func Chat(u gjson.Result) provider.Usage {
	if !u.IsObject() {
		return provider.Usage{}
	}
	out := provider.Usage{Reported: true}
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			out.PromptTokens = nonNeg(v)
		case "completion_tokens":
			out.CompletionTokens = nonNeg(v)
		case "prompt_tokens_details":
			out.CachedTokens = nonNeg(v.Get("cached_tokens"))
			out.CacheWriteTokens = nonNeg(v.Get("cache_write_tokens"))
			out.CacheWrite1hTokens = nonNeg(v.Get("cache_write_1h_tokens"))
		case "completion_tokens_details":
			out.ReasoningTokens = nonNeg(v.Get("reasoning_tokens"))
		case "server_tool_calls", "web_search_calls":
			out.WebSearchCalls = nonNeg(v)
		}
		return true
	})
	return out
}

// ChatAnswer reads a chat answer (a body or a chunk): its usage, the model that
// answered and the service tier it ran on.
func ChatAnswer(b []byte) provider.Usage {
	r := gjson.GetManyBytes(b, "usage", "model", "service_tier")
	u := Chat(r[0])
	u.Model, u.ServiceTier = r[1].Str, r[2].Str
	return u
}

// Responses reads an OpenAI Responses usage object. Reasoning tokens are inside
// output_tokens already and are reported apart as well.
func Responses(u gjson.Result) provider.Usage {
	if !u.IsObject() {
		return provider.Usage{}
	}
	out := provider.Usage{Reported: true}
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			out.PromptTokens = nonNeg(v)
		case "output_tokens":
			out.CompletionTokens = nonNeg(v)
		case "input_tokens_details":
			out.CachedTokens = nonNeg(v.Get("cached_tokens"))
			out.CacheWriteTokens = nonNeg(v.Get("cache_write_tokens"))
		case "output_tokens_details":
			out.ReasoningTokens = nonNeg(v.Get("reasoning_tokens"))
		}
		return true
	})
	return out
}

// ResponsesAnswer reads a Responses response object: usage, model, service tier and
// the hosted web searches among its output items (billed per call).
func ResponsesAnswer(resp gjson.Result) provider.Usage {
	u := Responses(resp.Get("usage"))
	u.Model, u.ServiceTier = resp.Get("model").Str, resp.Get("service_tier").Str
	if out := resp.Get("output"); out.IsArray() && u.Reported {
		out.ForEach(func(_, item gjson.Result) bool {
			if item.Get("type").Str == "web_search_call" {
				u.WebSearchCalls++
			}
			return true
		})
	}
	return u
}

// Messages accumulates an Anthropic Messages usage object, or the several a stream
// sends (message_start, then message_delta): the counts are cumulative, so the last
// value of each field wins. Anthropic's input_tokens excludes cache reads and writes;
// Usage adds them back. The zero value is ready to use.
type Messages struct {
	input, output, cacheRead, cacheWrite, cacheWrite1h, thinking int
	compactIn, compactOut, webSearch, webFetch, codeExec         int
	iterations, seen                                             bool
	tier, model                                                  string
}

// Merge takes one usage object.
func (m *Messages) Merge(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	m.seen = true
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			m.input = nonNeg(v)
		case "output_tokens":
			m.output = nonNeg(v)
		case "cache_read_input_tokens":
			m.cacheRead = nonNeg(v)
		case "cache_creation_input_tokens":
			m.cacheWrite = nonNeg(v)
		case "cache_creation":
			if h := v.Get("ephemeral_1h_input_tokens"); h.Type == gjson.Number {
				m.cacheWrite1h = nonNeg(h)
			}
		case "output_tokens_details":
			if t := v.Get("thinking_tokens"); t.Type == gjson.Number {
				m.thinking = nonNeg(t)
			}
		case "server_tool_use":
			m.webSearch = nonNeg(v.Get("web_search_requests"))
			m.webFetch = nonNeg(v.Get("web_fetch_requests"))
			m.codeExec = nonNeg(v.Get("code_execution_requests"))
		case "service_tier":
			m.tier = v.Str
		case "iterations":
			// Compaction runs as its own sampling iteration whose tokens the
			// top-level counts leave out; the "message" iterations are the top level.
			m.iterations, m.compactIn, m.compactOut = true, 0, 0
			v.ForEach(func(_, it gjson.Result) bool {
				if it.Get("type").Str != "message" {
					m.compactIn += nonNeg(it.Get("input_tokens")) + nonNeg(it.Get("cache_read_input_tokens")) +
						nonNeg(it.Get("cache_creation_input_tokens"))
					m.compactOut += nonNeg(it.Get("output_tokens"))
				}
				return true
			})
		}
		return true
	})
}

// SetModel records the model the answer names (message.model).
func (m *Messages) SetModel(model string) {
	if model != "" {
		m.model = model
	}
}

// Seen reports whether any usage object was merged.
func (m *Messages) Seen() bool { return m.seen }

// Usage is the gateway's view of the counts merged so far.
func (m *Messages) Usage() provider.Usage {
	return provider.Usage{
		PromptTokens:           m.input + m.cacheRead + m.cacheWrite,
		CompletionTokens:       m.output,
		CachedTokens:           m.cacheRead,
		CacheWriteTokens:       m.cacheWrite,
		CacheWrite1hTokens:     min(m.cacheWrite1h, m.cacheWrite),
		Reported:               m.seen,
		ReasoningTokens:        min(m.thinking, m.output),
		CompactionInputTokens:  m.compactIn,
		CompactionOutputTokens: m.compactOut,
		WebSearchCalls:         m.webSearch,
		WebFetchCalls:          m.webFetch,
		CodeExecutionCalls:     m.codeExec,
		ServiceTier:            m.tier,
		Model:                  m.model,
	}
}

// MessagesAnswer reads a non-stream Messages answer body.
func MessagesAnswer(body []byte) provider.Usage {
	r := gjson.GetManyBytes(body, "usage", "model")
	var m Messages
	m.Merge(r[0])
	m.SetModel(r[1].Str)
	return m.Usage()
}

// Gemini reads a Gemini usageMetadata object. promptTokenCount includes the cached
// tokens; candidatesTokenCount leaves the thinking tokens out, and both bill as
// output; toolUsePromptTokenCount (tool results fed back) bills as input.
func Gemini(u gjson.Result) provider.Usage {
	if !u.IsObject() {
		return provider.Usage{}
	}
	out := provider.Usage{Reported: true}
	var candidates, thoughts int
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "promptTokenCount", "toolUsePromptTokenCount":
			out.PromptTokens += nonNeg(v)
		case "cachedContentTokenCount":
			out.CachedTokens = nonNeg(v)
		case "candidatesTokenCount":
			candidates = nonNeg(v)
		case "thoughtsTokenCount":
			thoughts = nonNeg(v)
		}
		return true
	})
	out.CompletionTokens, out.ReasoningTokens = candidates+thoughts, thoughts
	return out
}

// GeminiAnswer reads a generateContent answer (or one streamed chunk; the last
// chunk's usageMetadata is the total).
func GeminiAnswer(body []byte) provider.Usage {
	r := gjson.GetManyBytes(body, "usageMetadata", "modelVersion")
	u := Gemini(r[0])
	u.Model = r[1].Str
	return u
}

func nonNeg(v gjson.Result) int { return int(max(v.Int(), 0)) }
