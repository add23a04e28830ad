package messages

import (
	"bytes"
	"unicode/utf8"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
)

// Inspect validates a /v1/messages body just enough to route it: a JSON object with a
// non-empty string model, a non-empty messages array, a positive integer max_tokens
// (Anthropic requires it) and an optional boolean stream. The messages are not read.
func Inspect(body []byte) (model string, stream bool, err *apierr.Error) {
	return inspect(body, true)
}

// inspect is Inspect; count_tokens bodies carry no max_tokens, so needMax is false for them.
func inspect(body []byte, needMax bool) (model string, stream bool, err *apierr.Error) {
	if !utf8.Valid(body) {
		return "", false, apierr.BadRequest("", "The request body is not valid UTF-8.")
	}
	if !gjson.ValidBytes(body) {
		return "", false, apierr.BadRequest("", "The request body is not valid JSON.")
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return "", false, apierr.BadRequest("", "The request body must be a JSON object.")
	}
	js := view(body)
	m := gjson.Get(js, "model")
	if m.Type != gjson.String || m.Str == "" {
		return "", false, apierr.BadRequest("model", "model: Field required (a non-empty string).")
	}
	msgs := gjson.Get(js, "messages")
	if !msgs.IsArray() {
		return "", false, apierr.BadRequest("messages", "messages: Field required (an array of messages).")
	}
	if !msgs.Get("0").Exists() {
		return "", false, apierr.BadRequest("messages", "messages: at least one message is required.")
	}
	mt := gjson.Get(js, "max_tokens")
	if needMax && (!mt.Exists() || mt.Type == gjson.Null) {
		return "", false, apierr.BadRequest("max_tokens", "max_tokens: Field required")
	}
	if mt.Exists() && mt.Type != gjson.Null && (!isInt(mt) || mt.Int() < 1) {
		return "", false, apierr.BadRequest("max_tokens", "max_tokens: Input should be a positive integer.")
	}
	if s := gjson.Get(js, "stream"); s.Exists() && s.Type != gjson.Null {
		if s.Type != gjson.True && s.Type != gjson.False {
			return "", false, apierr.BadRequest("stream", "stream: Input should be a valid boolean.")
		}
		stream = s.Type == gjson.True
	}
	// The model string is copied: callers keep it past the body's lifetime.
	return string([]byte(m.Str)), stream, nil
}

// isInt reports whether a number is written as an integer (2048, not 2048.5 or 2e3).
func isInt(v gjson.Result) bool {
	if v.Type != gjson.Number {
		return false
	}
	for i := 0; i < len(v.Raw); i++ {
		if c := v.Raw[i]; (c < '0' || c > '9') && !(i == 0 && c == '-') {
			return false
		}
	}
	return true
}

// EstimateInputTokens counts a Messages body's prompt tokens (for count_tokens) with
// the gateway's tokenizer: the body is translated to the neutral chat form and counted
// the way chat prompts are, so the framing rules live in one place. The count is an
// estimate: Anthropic's tokenizer is not public, and PDF documents are not counted.
func EstimateInputTokens(est *usage.Estimator, body []byte) (int, error) {
	model, _, aerr := inspect(body, false)
	if aerr != nil {
		return 0, aerr
	}
	chat, _, aerr := toChat(body)
	if aerr != nil {
		return 0, aerr
	}
	return est.Prompt(model, "chat/completions", chat), nil
}
