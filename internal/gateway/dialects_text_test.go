package gateway

import "testing"

// The text a native relay captures from each frame: text and tool-input deltas,
// nothing from other events; escapes are decoded.
func TestFrameText(t *testing.T) {
	for _, tt := range []struct {
		frame, messages, responses string
	}{
		{string(benchMessagesFrame), " word", ""},
		{"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n", `{"a":`, ""},
		{"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\\nb\"}}\n\n", "a\nb", ""},
		{"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n", "", ""},
		{"event: ping\ndata: {\"type\": \"ping\"}\n\n", "", ""},
		{string(benchResponsesFrame), "", " word"},
		{"event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"delta\":\"{\\\"x\\\"\"}\n\n", "", `{"x"`},
	} {
		if got := messagesText([]byte(tt.frame)); got != tt.messages && tt.responses == "" {
			t.Errorf("messagesText(%q) = %q, want %q", tt.frame, got, tt.messages)
		}
		if got := responsesText([]byte(tt.frame)); got != tt.responses && tt.messages == "" {
			t.Errorf("responsesText(%q) = %q, want %q", tt.frame, got, tt.responses)
		}
	}
}
