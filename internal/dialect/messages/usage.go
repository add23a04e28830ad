package messages

import (
	"unsafe"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

// UsageScanner reads the usage of a native Messages stream relayed byte for byte.
// message_start carries the input and cache counts, message_delta the output count
// (and, on newer models, the input and cache counts again); the counts are cumulative,
// so the last value of each wins. The zero value is ready to use.
type UsageScanner struct {
	c    counts
	seen bool
}

type counts struct{ input, output, cacheRead, cacheWrite, cacheWrite1h int64 }

// Event takes one SSE event of the native stream. Only message_start and
// message_delta are parsed; every other event costs a string compare.
func (s *UsageScanner) Event(name string, data []byte) {
	if name == "" { // a relay that lost the event line: the JSON type says the same
		name = gjson.Get(view(data), "type").Str
	}
	switch name {
	case "message_start":
		s.merge(gjson.Get(view(data), "message.usage"))
	case "message_delta":
		s.merge(gjson.Get(view(data), "usage"))
	}
}

func (s *UsageScanner) merge(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	s.seen = true
	s.c.merge(u)
}

func (c *counts) merge(u gjson.Result) {
	if v := u.Get("input_tokens"); v.Type == gjson.Number {
		c.input = v.Int()
	}
	if v := u.Get("output_tokens"); v.Type == gjson.Number {
		c.output = v.Int()
	}
	if v := u.Get("cache_read_input_tokens"); v.Type == gjson.Number {
		c.cacheRead = v.Int()
	}
	if v := u.Get("cache_creation_input_tokens"); v.Type == gjson.Number {
		c.cacheWrite = v.Int()
	}
	if v := u.Get("cache_creation.ephemeral_1h_input_tokens"); v.Type == gjson.Number {
		c.cacheWrite1h = v.Int()
	}
}

// usage converts Anthropic's counts, where input_tokens excludes cache reads and
// writes, into the gateway's, where the prompt includes both.
func (c counts) usage(reported bool) provider.Usage {
	return provider.Usage{
		PromptTokens:       int(c.input + c.cacheRead + c.cacheWrite),
		CompletionTokens:   int(c.output),
		CachedTokens:       int(c.cacheRead),
		CacheWriteTokens:   int(c.cacheWrite),
		CacheWrite1hTokens: int(c.cacheWrite1h),
		Reported:           reported,
	}
}

// Usage is the usage seen so far; Reported is false until a usage object arrived.
func (s *UsageScanner) Usage() provider.Usage { return s.c.usage(s.seen) }

// BodyUsage reads the usage of a native (non-stream) Messages answer.
func BodyUsage(body []byte) provider.Usage {
	u := gjson.Get(view(body), "usage")
	if !u.IsObject() {
		return provider.Usage{}
	}
	var c counts
	c.merge(u)
	return c.usage(true)
}

// view is b as a string without a copy, for gjson reads that do not outlive b.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
