package messages

import (
	"unsafe"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
)

// UsageScanner reads the usage of a native Messages stream relayed byte for byte.
// message_start carries the input and cache counts and the model, message_delta the
// output count (and, on newer models, the input and cache counts again); the counts
// are cumulative, so the last value of each wins. The zero value is ready to use.
type UsageScanner struct{ m usage.Messages }

// Event takes one SSE event of the native stream. Only message_start and
// message_delta are parsed; every other event costs a string compare.
func (s *UsageScanner) Event(name string, data []byte) {
	if name == "" { // a relay that lost the event line: the JSON type says the same
		name = gjson.Get(view(data), "type").Str
	}
	switch name {
	case "message_start":
		r := gjson.GetMany(view(data), "message.usage", "message.model")
		s.m.Merge(r[0])
		s.m.SetModel(r[1].Str)
	case "message_delta":
		s.m.Merge(gjson.Get(view(data), "usage"))
	}
}

// Usage is the usage seen so far; Reported is false until a usage object arrived.
func (s *UsageScanner) Usage() provider.Usage { return s.m.Usage() }

// BodyUsage reads the usage of a native (non-stream) Messages answer.
func BodyUsage(body []byte) provider.Usage { return usage.MessagesAnswer(body) }

// view is b as a string without a copy, for gjson reads that do not outlive b.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
