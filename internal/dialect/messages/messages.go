// Package messages is the Anthropic Messages side of the dialect seam: it turns an
// inbound /v1/messages request into the neutral Chat Completions request body, and a
// chat answer (a complete chat.completion or a stream of chat.completion.chunk
// payloads) back into a Messages answer or event stream, plus the Messages error
// envelope and the readers of usage in native Messages answers.
//
// The neutral form is plain Chat Completions JSON with one extension the gateway's
// providers agree on: an assistant message's or a stream delta's "reasoning_content"
// (string) carries thinking text (the common "reasoning" spelling is read too).
// ToChat never writes it: an Anthropic thinking block's signature cannot cross to
// another provider, so thinking in history is dropped and recorded.
//
// What cannot be carried is never silently lost: ToChat returns the paths it dropped
// for the request log, and docs/compatibility.md lists every field. Translation is
// only for a provider that does not speak Messages natively; a native Anthropic
// provider gets the client's body byte for byte and UsageScanner / BodyUsage read the
// usage from the native answer.
package messages

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// msgID makes a Messages id from a chat completion id: "chatcmpl-abc" becomes
// "msg_abc", so one request keeps one id across the translation and the log. An empty
// id gets a random one.
func msgID(chatID string) string {
	if s, ok := strings.CutPrefix(chatID, "chatcmpl-"); ok && s != "" {
		return "msg_" + s
	}
	if chatID != "" {
		return "msg_" + chatID
	}
	return "msg_" + randomHex()
}

// toolID is a tool_use id for a chat tool call that came without one.
func toolID() string { return "toolu_" + randomHex() }

func randomHex() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// stopReason maps a chat finish_reason to a Messages stop_reason. Chat does not say
// which stop sequence matched, so "stop" is always end_turn. A "stop" after tool calls
// (some OpenAI-compatible servers send it) becomes tool_use, because Messages clients
// run their tool loop on that value.
func stopReason(finish string, sawTool bool) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	if sawTool {
		return "tool_use"
	}
	return "end_turn"
}
