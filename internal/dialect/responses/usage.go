package responses

import (
	"bytes"
	"unsafe"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// defaultCountModel is the model input_tokens counts for when the body names none.
const defaultCountModel = "gpt-4o"

// UsageScanner reads usage out of a native Responses event stream relayed unchanged:
// the terminal event (response.completed, response.incomplete or response.failed)
// carries the response object with its usage. Other events cost a string compare.
type UsageScanner struct {
	u     provider.Usage
	final []byte
}

// Event observes one SSE event: its event name ("" when the stream has no event
// lines; the data's "type" is read then) and data payload.
func (s *UsageScanner) Event(name string, data []byte) {
	if name == "" {
		if len(data) == 0 || data[0] != '{' {
			return
		}
		name = gjson.GetBytes(data, "type").Str
	}
	switch name {
	case "response.completed", "response.incomplete", "response.failed":
	default:
		return
	}
	js := unsafe.String(unsafe.SliceData(data), len(data))
	resp := gjson.Get(js, "response")
	if !resp.IsObject() {
		return
	}
	s.final = append(s.final[:0], resp.Raw...)
	if u := usage.ResponsesAnswer(resp); u.Reported {
		s.u = u
	}
}

// Response is a copy of the terminal event's response object (nil before it), for
// keeping a natively relayed stream's answer.
func (s *UsageScanner) Response() []byte { return s.final }

// Usage is the usage seen so far (complete after the terminal event).
func (s *UsageScanner) Usage() provider.Usage { return s.u }

// BodyUsage reads usage from a native non-stream Responses answer body.
func BodyUsage(body []byte) provider.Usage {
	return usage.ResponsesAnswer(gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body))))
}

// EstimateInputTokens counts the prompt tokens of a Responses request body (for
// /v1/responses/input_tokens) as the chat request it translates to would count:
// instructions, input items and tool definitions.
//
// The input_tokens endpoint does not require a model: without one the count uses
// the o200k tokenizer of current OpenAI models.
func EstimateInputTokens(est *usage.Estimator, body []byte) (int, error) {
	if m := gjson.GetBytes(body, "model"); m.Type == gjson.Null || !m.Exists() {
		if b, err := sjson.SetBytes(bytes.Clone(body), "model", defaultCountModel); err == nil {
			body = b
		}
	}
	chat, _, err := ToChat(body)
	if err != nil {
		return 0, err
	}
	return est.Prompt(gjson.GetBytes(body, "model").Str, "chat/completions", chat), nil
}
