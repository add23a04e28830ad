package messages

import (
	"strings"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

// FromChat converts a complete chat.completion answer into a Messages answer. model is
// the model the client asked for; u is the usage the gateway accounted, written the
// Anthropic way (input_tokens without the cached and cache-written tokens). A zero u
// falls back to the chat answer's own usage.
func FromChat(chat []byte, model string, u provider.Usage) ([]byte, error) {
	if !gjson.ValidBytes(chat) {
		return nil, apierr.BadUpstream("", "the chat answer is not valid JSON")
	}
	root := gjson.ParseBytes(chat)
	msg := root.Get("choices.0.message")
	finish := root.Get("choices.0.finish_reason").Str

	out := make([]byte, 0, len(chat)+256)
	out = append(out, `{"id":`...)
	out = jsonx.AppendString(out, msgID(root.Get("id").Str))
	out = append(out, `,"type":"message","role":"assistant","model":`...)
	out = jsonx.AppendString(out, model)
	out = append(out, `,"content":[`...)
	n := 0
	block := func() {
		if n > 0 {
			out = append(out, ',')
		}
		n++
	}
	// Thinking first, as Anthropic orders it. There is no signature to give: a client
	// that sends this block back to Anthropic itself would be refused, which is why
	// ToChat drops thinking in history rather than forwarding it.
	if r := reasoningText(msg); r != "" {
		block()
		out = append(out, `{"type":"thinking","thinking":`...)
		out = jsonx.AppendString(out, r)
		out = append(out, `,"signature":""}`...)
	}
	if text := contentText(msg); text != "" {
		block()
		out = append(out, `{"type":"text","text":`...)
		out = jsonx.AppendString(out, text)
		out = append(out, '}')
	}
	sawTool := false
	var scratch []byte
	msg.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		sawTool = true
		block()
		id := tc.Get("id").Str
		if id == "" {
			id = toolID()
		}
		out = append(out, `{"type":"tool_use","id":`...)
		out = jsonx.AppendString(out, id)
		out = append(out, `,"name":`...)
		out = jsonx.AppendString(out, tc.Get("function.name").Str)
		out = append(out, `,"input":`...)
		// Invalid or empty arguments (a cut-off answer) become {}: input must be an object.
		args := tc.Get("function.arguments").Str
		if gjson.Valid(args) && gjson.Parse(args).IsObject() {
			scratch = appendCompact(scratch[:0], args)
			out = append(out, scratch...)
		} else {
			out = append(out, "{}"...)
		}
		out = append(out, '}')
		return true
	})
	out = append(out, `],"stop_reason":`...)
	out = jsonx.AppendString(out, stopReason(finish, sawTool))
	out = append(out, `,"stop_sequence":null,"usage":`...)
	if u == (provider.Usage{}) {
		if cu := root.Get("usage"); cu.IsObject() {
			u = chatUsage(cu)
		}
	}
	out = appendUsage(out, u)
	return append(out, '}'), nil
}

// contentText is the answer's text: content as a string or as text parts (some
// servers answer with parts), else the refusal, which Messages carries as text with
// stop_reason refusal.
func contentText(msg gjson.Result) string {
	c := msg.Get("content")
	if c.IsArray() {
		var sb strings.Builder
		c.ForEach(func(_, p gjson.Result) bool {
			if p.Get("type").Str == "text" {
				sb.WriteString(p.Get("text").Str)
			}
			return true
		})
		if sb.Len() > 0 {
			return sb.String()
		}
	} else if c.Type == gjson.String && c.Str != "" {
		return c.Str
	}
	return msg.Get("refusal").Str
}

// reasoningText is the neutral form's thinking text: reasoning_content, or the
// "reasoning" spelling some OpenAI-compatible servers use.
func reasoningText(msg gjson.Result) string {
	if r := msg.Get("reasoning_content"); r.Type == gjson.String {
		return r.Str
	}
	if r := msg.Get("reasoning"); r.Type == gjson.String {
		return r.Str
	}
	return ""
}

// appendUsage writes u as a Messages usage object. Anthropic's input_tokens excludes
// cache reads and writes, which are reported beside it.
func appendUsage(dst []byte, u provider.Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = jsonx.AppendInt(dst, int64(max(u.PromptTokens-u.CachedTokens-u.CacheWriteTokens, 0)))
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = jsonx.AppendInt(dst, int64(u.CacheWriteTokens))
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = jsonx.AppendInt(dst, int64(u.CachedTokens))
	dst = append(dst, `,"output_tokens":`...)
	dst = jsonx.AppendInt(dst, int64(u.CompletionTokens))
	return append(dst, '}')
}
