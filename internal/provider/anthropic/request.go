package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmanhype/runestone/internal/apierr"
)

// The OpenAI side: only the fields the translation reads. Everything else the client
// sent (seed, penalties, logit_bias, service_tier, ...) has no Anthropic meaning and is
// dropped, as Anthropic's own compatibility layer does.

type chatRequest struct {
	Messages            []message   `json:"messages"`
	Tools               []tool      `json:"tools"`
	ToolChoice          *toolChoice `json:"tool_choice"`
	ParallelToolCalls   *bool       `json:"parallel_tool_calls"`
	MaxCompletionTokens *int        `json:"max_completion_tokens"`
	MaxTokens           *int        `json:"max_tokens"`
	Temperature         *float64    `json:"temperature"`
	TopP                *float64    `json:"top_p"`
	Stop                stopList    `json:"stop"`
	User                string      `json:"user"`
	N                   *int        `json:"n"`
	Logprobs            *bool       `json:"logprobs"`
}

type message struct {
	Role       string     `json:"role"`
	Content    content    `json:"content"`
	ToolCalls  []toolCall `json:"tool_calls"`
	ToolCallID string     `json:"tool_call_id"`
}

// content is OpenAI's string | array of parts | null.
type content struct {
	parts []part // a plain string becomes one text part
}

type part struct {
	Type     string    `json:"type"`
	Text     string    `json:"text"`
	ImageURL *imageURL `json:"image_url"`
}

// imageURL is {"url","detail"}, or a bare URL string as some older clients send.
type imageURL struct {
	URL string
}

func (u *imageURL) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &u.URL)
	}
	var o struct {
		URL string `json:"url"`
	}
	err := json.Unmarshal(b, &o)
	u.URL = o.URL
	return err
}

func (c *content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		c.parts = nil
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		c.parts = []part{{Type: "text", Text: s}}
		return nil
	case b[0] == '[':
		return json.Unmarshal(b, &c.parts)
	}
	return fmt.Errorf("content must be a string, an array of parts or null")
}

type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// toolChoice is "none" | "auto" | "required" | {"type":"function","function":{"name"}}.
type toolChoice struct {
	mode string // none, auto, required, function, or another object type
	name string
}

func (t *toolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &t.mode)
	}
	var o struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	t.mode, t.name = o.Type, o.Function.Name
	return nil
}

// stopList is OpenAI's string | [string] | null.
type stopList []string

func (s *stopList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*s = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = stopList{v}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

// The Anthropic side, marshalled with encoding/json: schemas and tool inputs stay
// json.RawMessage so they are copied, not decoded and re-encoded.

type aRequest struct {
	Model         string       `json:"model"`
	MaxTokens     int          `json:"max_tokens"`
	System        []aBlock     `json:"system,omitempty"`
	Messages      []aMessage   `json:"messages"`
	StopSequences []string     `json:"stop_sequences,omitempty"`
	Stream        bool         `json:"stream,omitempty"`
	Temperature   *float64     `json:"temperature,omitempty"`
	TopP          *float64     `json:"top_p,omitempty"`
	Tools         []aTool      `json:"tools,omitempty"`
	ToolChoice    *aToolChoice `json:"tool_choice,omitempty"`
	Metadata      *aMetadata   `json:"metadata,omitempty"`
}

type aMessage struct {
	Role    string   `json:"role"`
	Content []aBlock `json:"content"`
}

// aBlock is every content block kind the translation emits; omitempty keeps each kind
// to its own fields. Text is never empty: the API rejects empty text blocks.
type aBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *aSource        `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   []aBlock        `json:"content,omitempty"`
}

type aSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type aTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type aToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type aMetadata struct {
	UserID string `json:"user_id"`
}

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// buildChatRequest translates an OpenAI chat request body into a Messages request.
func buildChatRequest(body []byte, model string, stream bool, defMax int) ([]byte, *apierr.Error) {
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badJSON(err)
	}
	if in.N != nil && *in.N > 1 {
		return nil, apierr.BadRequest("n", "n > 1 is not supported by anthropic models; send n=1 or omit it")
	}
	if in.Logprobs != nil && *in.Logprobs {
		return nil, apierr.BadRequest("logprobs", "logprobs are not supported by anthropic models")
	}
	out := aRequest{Model: model, Stream: stream}
	if err := convertMessages(in.Messages, &out); err != nil {
		return nil, err
	}
	if err := convertTools(&in, &out); err != nil {
		return nil, err
	}
	maxTok := in.MaxCompletionTokens
	if maxTok == nil {
		maxTok = in.MaxTokens
	}
	if err := applySampling(&out, maxTok, in.Temperature, in.TopP, in.Stop, in.User, defMax); err != nil {
		return nil, err
	}
	return marshal(&out)
}

// completionRequest is the legacy /v1/completions request.
type completionRequest struct {
	Prompt      json.RawMessage `json:"prompt"`
	MaxTokens   *int            `json:"max_tokens"`
	Temperature *float64        `json:"temperature"`
	TopP        *float64        `json:"top_p"`
	Stop        stopList        `json:"stop"`
	User        string          `json:"user"`
	N           *int            `json:"n"`
	BestOf      *int            `json:"best_of"`
	Echo        bool            `json:"echo"`
	Suffix      *string         `json:"suffix"`
	Logprobs    *int            `json:"logprobs"`
}

// buildCompletionRequest turns a legacy completion into one user turn. OpenAI's
// 16-token default is deliberately not applied: it exists for base models and would
// cut every Claude answer short; the chat default applies instead.
func buildCompletionRequest(body []byte, model string, stream bool, defMax int) ([]byte, *apierr.Error) {
	var in completionRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badJSON(err)
	}
	var prompt string
	if err := json.Unmarshal(in.Prompt, &prompt); err != nil {
		var list []string
		if err := json.Unmarshal(in.Prompt, &list); err != nil || len(list) != 1 {
			return nil, apierr.BadRequest("prompt", "anthropic models take prompt as a string or an array of exactly one string")
		}
		prompt = list[0]
	}
	if strings.TrimSpace(prompt) == "" {
		return nil, apierr.BadRequest("prompt", "prompt must not be empty")
	}
	switch {
	case in.N != nil && *in.N > 1:
		return nil, apierr.BadRequest("n", "n > 1 is not supported by anthropic models; send n=1 or omit it")
	case in.BestOf != nil && *in.BestOf > 1:
		return nil, apierr.BadRequest("best_of", "best_of is not supported by anthropic models")
	case in.Echo:
		return nil, apierr.BadRequest("echo", "echo is not supported by anthropic models")
	case in.Suffix != nil && *in.Suffix != "":
		return nil, apierr.BadRequest("suffix", "suffix is not supported by anthropic models")
	case in.Logprobs != nil && *in.Logprobs > 0:
		return nil, apierr.BadRequest("logprobs", "logprobs are not supported by anthropic models")
	}
	out := aRequest{Model: model, Stream: stream,
		Messages: []aMessage{{Role: "user", Content: []aBlock{{Type: "text", Text: prompt}}}}}
	if err := applySampling(&out, in.MaxTokens, in.Temperature, in.TopP, in.Stop, in.User, defMax); err != nil {
		return nil, err
	}
	return marshal(&out)
}

func marshal(r *aRequest) ([]byte, *apierr.Error) {
	b, err := json.Marshal(r)
	if err != nil {
		// Only an invalid RawMessage from the client can get here.
		return nil, apierr.BadRequest("", "request contains invalid JSON: %v", err)
	}
	return b, nil
}

func badJSON(err error) *apierr.Error {
	e := apierr.BadRequest("", "could not parse the JSON body of your request: %v", err)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		e.Param = te.Field
	}
	return e
}
