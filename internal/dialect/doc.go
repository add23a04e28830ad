// Package dialect names the inbound API dialects the gateway serves. Each dialect's
// translation to and from the neutral Chat Completions form lives in its own
// subpackage (messages, responses); this package only gives them shared names.
package dialect

// Dialect is one inbound wire format.
type Dialect uint8

// The dialects, in the order they were added.
const (
	Chat      Dialect = iota // OpenAI Chat Completions, /v1/chat/completions
	Messages                 // Anthropic Messages, /v1/messages
	Responses                // OpenAI Responses, /v1/responses
)

func (d Dialect) String() string {
	switch d {
	case Chat:
		return "chat"
	case Messages:
		return "messages"
	case Responses:
		return "responses"
	}
	return "unknown"
}
