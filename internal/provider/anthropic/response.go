package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
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
	Model      string `json:"model"`
	Usage      aUsage `json:"usage"`
}

// aUsage is a usage object as sent, read by the one Messages usage reader
// (usage.Messages), which keeps what a message_delta leaves out from message_start.
type aUsage = json.RawMessage

// mergeUsage takes one usage object into m (nothing when absent).
func mergeUsage(m *usage.Messages, raw aUsage) {
	if len(raw) > 0 {
		m.Merge(gjson.ParseBytes(raw))
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
	dst = append(dst, `,"cache_write_1h_tokens":`...)
	dst = appendInt(dst, int64(u.CacheWrite1hTokens))
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = appendInt(dst, int64(u.ReasoningTokens))
	dst = append(dst, `}}`...)
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
	var c usage.Messages
	mergeUsage(&c, r.Usage)
	c.SetModel(r.Model)
	u := c.Usage()

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
