// Package responses is the OpenAI Responses API (/v1/responses) side of the dialect
// seam: it turns an inbound Responses request into the neutral Chat Completions body
// every provider accepts (ToChat), and a chat answer back into a Responses object
// (FromChat) or a Responses event stream (StreamEncoder). It also reads usage out of
// native Responses answers (BodyUsage, UsageScanner), validates bodies just enough
// to route them (Inspect), and rebuilds stored conversations for
// previous_response_id (InputItems, WithHistory).
//
// The neutral chat form may carry one extension, used in both directions:
// an assistant message's "reasoning_content" (string) and a stream delta's
// "reasoning_content" hold reasoning text. FromChat and StreamEncoder turn it into a
// "reasoning" output item with one summary_text part.
//
// Custom-tool bookkeeping: Responses "custom" (freeform) tools, such as Codex's
// apply_patch, have no chat equivalent, so ToChat sends each as a function tool
// taking one string argument "input". To map the model's call back to a
// custom_tool_call item, the answer side must know which tool names were custom:
// ParseRequest reads that (and the fields a response object echoes) from the client's
// body, and Request.FromChat / Request.NewStreamEncoder use it. The package-level
// FromChat and NewStreamEncoder are the same with no request known (every call is a
// function_call and the echo fields take the API's defaults).
package responses

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/jmanhype/runestone/internal/apierr"
)

// WriteError sends e as a Responses API error: the OpenAI envelope, e's status and
// its extra headers (Retry-After and the like).
func WriteError(w http.ResponseWriter, e *apierr.Error, requestID string) {
	_ = requestID
	apierr.Write(w, e)
}

// newIDCore returns 24 random hex characters: the shared core of one response's
// ids ("resp_<core>", "msg_<core>_<n>"), so every item id is unique without a random
// read per item.
func newIDCore() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
