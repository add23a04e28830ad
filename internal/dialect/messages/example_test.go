package messages_test

import (
	"fmt"

	"github.com/jmanhype/runestone/internal/dialect/messages"
	"github.com/jmanhype/runestone/internal/provider"
)

// A chat stream from a provider, re-encoded for a Messages client.
func ExampleStreamEncoder() {
	enc := messages.NewStreamEncoder("claude-sonnet-4-5")
	var out []byte
	for _, chunk := range []string{
		`{"id":"chatcmpl-42","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
		`{"id":"chatcmpl-42","choices":[{"index":0,"delta":{"content":"Hello"}}]}`,
		`{"id":"chatcmpl-42","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	} {
		out = enc.Chunk(out, []byte(chunk))
	}
	out = enc.Finish(out, provider.Usage{PromptTokens: 12, CompletionTokens: 1, Reported: true})
	fmt.Print(string(out))
	// Output:
	// event: message_start
	// data: {"type":"message_start","message":{"id":"msg_42","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}
	//
	// event: ping
	// data: {"type":"ping"}
	//
	// event: content_block_start
	// data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}
	//
	// event: content_block_delta
	// data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}
	//
	// event: content_block_stop
	// data: {"type":"content_block_stop","index":0}
	//
	// event: message_delta
	// data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}
	//
	// event: message_stop
	// data: {"type":"message_stop"}
}

// A Messages request translated for a Chat Completions provider.
func ExampleToChat() {
	chat, dropped, err := messages.ToChat([]byte(`{"model":"claude-sonnet-4-5","max_tokens":256,
		"system":"Be brief.","messages":[{"role":"user","content":"Hi"}],"top_k":5}`))
	fmt.Println(string(chat), dropped, err)
	// Output:
	// {"model":"claude-sonnet-4-5","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":256} [top_k] <nil>
}
