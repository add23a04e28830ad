package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

// aResponse is the part of a Messages answer the translation reads.
type aResponse struct {
	ID      string `json:"id"`
	Content []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	StopReason string `json:"stop_reason"`
	Usage      aUsage `json:"usage"`
}

// aUsage counts are pointers so a message_delta that omits a field leaves the value
// from message_start alone.
type aUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	CacheCreation            *struct {
		Ephemeral1h *int `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
}

// counts keeps the latest value of each Anthropic usage field.
type counts struct {
	input, output, cacheWrite, cacheRead, cacheWrite1h int
	seen                                               bool
}

// merge takes the fields u carries: Anthropic's counts are cumulative, never summed.
func (c *counts) merge(u *aUsage) {
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = max(*v, 0)
			c.seen = true
		}
	}
	set(&c.input, u.InputTokens)
	set(&c.output, u.OutputTokens)
	set(&c.cacheWrite, u.CacheCreationInputTokens)
	set(&c.cacheRead, u.CacheReadInputTokens)
	if u.CacheCreation != nil {
		set(&c.cacheWrite1h, u.CacheCreation.Ephemeral1h)
	}
}

// usage is the OpenAI view: the prompt includes cached tokens, as OpenAI's does.
func (c *counts) usage() provider.Usage {
	return provider.Usage{
		PromptTokens:       c.input + c.cacheWrite + c.cacheRead,
		CompletionTokens:   c.output,
		CachedTokens:       c.cacheRead,
		CacheWriteTokens:   c.cacheWrite,
		CacheWrite1hTokens: c.cacheWrite1h,
		Reported:           c.seen,
	}
}

func appendUsage(dst []byte, u provider.Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, int64(u.PromptTokens))
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, int64(u.CompletionTokens))
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, int64(u.Total()))
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = appendInt(dst, int64(u.CachedTokens))
	dst = append(dst, `,"cache_write_tokens":`...)
	dst = appendInt(dst, int64(u.CacheWriteTokens))
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":0}}`...)
	return dst
}

// finishReason maps stop_reason; unknown and future reasons read as a normal stop.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop"
}

// idPrefix gives OpenAI-looking ids that stay stable for one Anthropic message.
func idPrefix(text bool) string {
	if text {
		return "cmpl-"
	}
	return "chatcmpl-"
}

// translateResponse turns a Messages answer into chat.completion (or text_completion).
func translateResponse(raw []byte, model string, created int64, text bool) ([]byte, provider.Usage, *apierr.Error) {
	var r aResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, provider.Usage{}, &apierr.Error{Status: http.StatusBadGateway, Type: apierr.TypeServer,
			Message: "anthropic returned an answer that is not valid JSON", Retryable: true, Cause: err}
	}
	var c counts
	c.merge(&r.Usage)
	u := c.usage()

	var sb strings.Builder
	hasText, tools := false, 0
	for _, b := range r.Content {
		switch b.Type {
		case "text":
			sb.WriteString(b.Text)
			hasText = true
		case "tool_use":
			tools++
		}
		// thinking, redacted_thinking and server tool blocks have no OpenAI field.
	}

	dst := make([]byte, 0, 256+sb.Len()+len(raw)/4)
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, idPrefix(text)+r.ID)
	if text {
		dst = append(dst, `,"object":"text_completion","created":`...)
	} else {
		dst = append(dst, `,"object":"chat.completion","created":`...)
	}
	dst = appendInt(dst, created)
	dst = append(dst, `,"model":`...)
	dst = appendString(dst, model)
	dst = append(dst, `,"choices":[{"index":0,`...)
	if text {
		dst = append(dst, `"text":`...)
		dst = appendString(dst, sb.String())
	} else {
		dst = append(dst, `"message":{"role":"assistant","content":`...)
		if hasText || tools == 0 {
			dst = appendString(dst, sb.String())
		} else {
			dst = append(dst, "null"...) // OpenAI's shape for a tool-call-only answer
		}
		dst = append(dst, `,"refusal":null`...)
		if tools > 0 {
			dst = append(dst, `,"tool_calls":[`...)
			n := 0
			for _, b := range r.Content {
				if b.Type != "tool_use" {
					continue
				}
				if n > 0 {
					dst = append(dst, ',')
				}
				n++
				dst = append(dst, `{"id":`...)
				dst = appendString(dst, b.ID)
				dst = append(dst, `,"type":"function","function":{"name":`...)
				dst = appendString(dst, b.Name)
				dst = append(dst, `,"arguments":`...)
				dst = appendString(dst, compactArgs(b.Input))
				dst = append(dst, "}}"...)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, `,"annotations":[]}`...)
	}
	dst = append(dst, `,"logprobs":null,"finish_reason":`...)
	dst = appendString(dst, finishReason(r.StopReason))
	dst = append(dst, `}],"usage":`...)
	dst = appendUsage(dst, u)
	dst = append(dst, '}')
	return dst, u, nil
}

// compactArgs renders a tool input as the arguments string: compact JSON, "{}" when
// absent.
func compactArgs(in json.RawMessage) string {
	in = bytes.TrimSpace(in)
	if len(in) == 0 || string(in) == "null" {
		return "{}"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, in); err != nil {
		return "{}"
	}
	return b.String()
}
