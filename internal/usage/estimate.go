package usage

import (
	"strings"
	"sync"

	"github.com/tidwall/gjson"
	"github.com/tiktoken-go/tokenizer"
	"github.com/tiktoken-go/tokenizer/codec"
)

// Estimates are a fallback for upstreams that report no usage. They count only what
// the client sent and what was streamed back, so they cannot see hidden reasoning
// tokens; callers must keep Usage.Reported false for them.

const (
	// OpenAI's documented chat framing: every message costs 3 tokens on top of its
	// fields, a name 1 more, and the reply is primed with 3.
	tokensPerMessage = 3
	tokensPerName    = 1
	replyPriming     = 3
	// tokensPerTool approximates the framing OpenAI adds around each function
	// definition; the exact rendering is unpublished.
	tokensPerTool = 8
	// tokensPerImage is the low-detail image charge: a floor, since high-detail
	// images cost more depending on their size, which the body does not say.
	tokensPerImage = 85
	// maxExactBytes bounds tokenizer work per string. The BPE runs a backtracking
	// regexp at a few MB/s, so a pathological body must not stall the request path;
	// beyond this the ~4 bytes/token rule of thumb applies.
	maxExactBytes = 1 << 20
)

// Estimator counts tokens with the real BPE vocabularies (embedded in the binary, so
// it works offline). It is safe for concurrent use; each vocabulary loads on first use.
type Estimator struct {
	o200k, cl100k lazyCodec
}

// lazyCodec builds its codec on first use. It names the codec's constructor rather than
// going through tokenizer.Get, whose switch links every vocabulary the library has:
// the two unused ones (r50k, p50k) are compiled map literals worth megabytes of binary.
type lazyCodec struct {
	once  sync.Once
	newFn func() *codec.Codec
	codec tokenizer.Codec
}

func (l *lazyCodec) get() tokenizer.Codec {
	l.once.Do(func() { l.codec = l.newFn() })
	return l.codec
}

// NewEstimator returns an Estimator; no vocabulary is loaded until first needed.
func NewEstimator() *Estimator {
	return &Estimator{
		o200k:  lazyCodec{newFn: codec.NewO200kBase},
		cl100k: lazyCodec{newFn: codec.NewCl100kBase},
	}
}

// codecFor picks o200k_base for the GPT-4o generation onwards and cl100k_base for
// everything else, including non-OpenAI models whose tokenizers are not public: for
// those any BPE count is an approximation.
func (e *Estimator) codecFor(model string) tokenizer.Codec {
	if i := strings.IndexByte(model, ':'); i >= 0 {
		model = model[i+1:]
	}
	if usesO200k(model) {
		return e.o200k.get()
	}
	return e.cl100k.get()
}

func usesO200k(model string) bool {
	for _, p := range [...]string{"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	switch model {
	case "o1", "o3", "o4":
		return true
	}
	for _, p := range [...]string{"o1-", "o3-", "o4-"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}

// Text counts the tokens of s as model's tokenizer would.
func (e *Estimator) Text(model, s string) int {
	if s == "" {
		return 0
	}
	if len(s) <= maxExactBytes {
		if c := e.codecFor(model); c != nil {
			if n, err := c.Count(s); err == nil {
				return n
			}
		}
	}
	return (len(s) + 3) / 4
}

// Prompt estimates the prompt tokens of a request body for endpoint
// ("chat/completions", "completions" or "embeddings"), reading only the fields that
// become prompt tokens. An unknown endpoint or unreadable body counts 0.
func (e *Estimator) Prompt(model, endpoint string, body []byte) int {
	switch endpoint {
	case "chat/completions":
		return e.chat(model, body)
	case "completions":
		return e.inputs(model, gjson.GetBytes(body, "prompt"))
	case "embeddings":
		return e.inputs(model, gjson.GetBytes(body, "input"))
	}
	return 0
}

func (e *Estimator) chat(model string, body []byte) int {
	msgs := gjson.GetBytes(body, "messages")
	if !msgs.IsArray() {
		return 0
	}
	n := replyPriming
	msgs.ForEach(func(_, msg gjson.Result) bool {
		n += tokensPerMessage
		msg.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "role", "tool_call_id":
				n += e.Text(model, v.Str)
			case "name":
				n += e.Text(model, v.Str) + tokensPerName
			case "content":
				n += e.content(model, v)
			case "tool_calls":
				v.ForEach(func(_, tc gjson.Result) bool {
					n += e.function(model, tc.Get("function"))
					return true
				})
			case "function_call": // the pre-tools form
				n += e.function(model, v)
			}
			return true
		})
		return true
	})
	for _, path := range []string{"tools.#.function", "functions"} {
		gjson.GetBytes(body, path).ForEach(func(_, fn gjson.Result) bool {
			n += tokensPerTool + e.Text(model, fn.Get("name").Str) +
				e.Text(model, fn.Get("description").Str) +
				e.Text(model, fn.Get("parameters").Raw)
			return true
		})
	}
	return n
}

// content counts a message's content: a string, or an array of parts.
func (e *Estimator) content(model string, v gjson.Result) int {
	if v.Type == gjson.String {
		return e.Text(model, v.Str)
	}
	n := 0
	v.ForEach(func(_, part gjson.Result) bool {
		switch part.Get("type").Str {
		case "text":
			n += e.Text(model, part.Get("text").Str)
		case "image_url":
			n += tokensPerImage
		case "refusal":
			n += e.Text(model, part.Get("refusal").Str)
		}
		return true
	})
	return n
}

// function counts a tool call's name and argument text.
func (e *Estimator) function(model string, fn gjson.Result) int {
	return e.Text(model, fn.Get("name").Str) + e.Text(model, fn.Get("arguments").Str)
}

// inputs counts a completions prompt or embeddings input: a string, an array of
// strings, an array of token ids, or an array of token-id arrays.
func (e *Estimator) inputs(model string, v gjson.Result) int {
	switch {
	case v.Type == gjson.String:
		return e.Text(model, v.Str)
	case v.IsArray():
		n := 0
		v.ForEach(func(_, el gjson.Result) bool {
			switch {
			case el.Type == gjson.String:
				n += e.Text(model, el.Str)
			case el.Type == gjson.Number:
				n++
			case el.IsArray():
				n += int(el.Get("#").Int())
			}
			return true
		})
		return n
	}
	return 0
}
