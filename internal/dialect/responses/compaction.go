package responses

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

// Remote compaction for a provider that does not speak Responses.
//
// Codex's built-in OpenAI provider compacts a long session by sending its history
// to /v1/responses with a last input item {"type":"compaction_trigger"}, and it
// accepts only an answer holding exactly one "compaction" output item: anything else
// (an error status, a text answer) ends the session. Its next requests carry that
// item back in their input. OpenAI's item is encrypted for OpenAI's models; on a
// translated path the gateway makes its own: the chat model is asked for a summary
// of the history, the summary travels in the item's encrypted_content behind
// compactionPrefix, and when the item comes back ToChat turns it into a user message
// holding the summary. A compaction item from OpenAI reaching a chat provider (a
// failover) cannot be read and is recorded as dropped.
//
// The /v1/responses/compact endpoint (Codex's earlier remote compaction) answers
// with the same item through CompactToChat and CompactFromChat.

// compactionPrefix marks encrypted_content the gateway wrote: the rest is the
// summary in standard base64.
const compactionPrefix = "runestone.summary.v1:"

// summaryIntro introduces a summary to the model that continues the session.
const summaryIntro = "The conversation so far was compacted into this summary (written when the context grew too long); continue from it:\n\n"

// compactionPrompt asks the chat model for the summary that replaces the history.
const compactionPrompt = "Your context is about to be compacted. Write a summary of the conversation above " +
	"that lets you continue the work without it: the user's requests and goals, the decisions made, " +
	"the work done so far (files, commands and their results), the current state, and the next steps. " +
	"Keep exact names, paths and values. Answer with the summary only."

// hasCompactionTrigger reports whether a Responses body asks for a compaction: an
// input item of type compaction_trigger. The byte search keeps the common case (no
// trigger) from walking the input.
func hasCompactionTrigger(body []byte) bool {
	if !bytes.Contains(body, []byte(`"compaction_trigger"`)) {
		return false
	}
	found := false
	gjson.GetBytes(body, "input").ForEach(func(_, it gjson.Result) bool {
		found = it.Get("type").Str == "compaction_trigger"
		return !found
	})
	return found
}

// summaryOf returns the summary a gateway-made compaction item carries.
func summaryOf(it gjson.Result) (string, bool) {
	enc, ok := strings.CutPrefix(it.Get("encrypted_content").Str, compactionPrefix)
	if !ok {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// compactionRequest turns the translated history into the request for its summary:
// the prompt goes last, and tools go (the answer must be text).
func (t *translator) compactionRequest() {
	t.out.Messages = append(t.out.Messages, chatMessage{Role: "user", Content: stringJSON(compactionPrompt)})
	if len(t.out.Tools) > 0 {
		t.drop("tools (compaction: the summary is asked for without tools)")
	}
	t.out.Tools, t.out.ToolChoice, t.out.ParallelToolCalls, t.out.ResponseFormat = nil, nil, nil, nil
}

// appendCompactionItem writes the compaction output item for summary (plain text).
func appendCompactionItem(dst []byte, id, summary string) []byte {
	dst = append(dst, `{"type":"compaction","id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"encrypted_content":"`...)
	dst = append(dst, compactionPrefix...)
	dst = base64.StdEncoding.AppendEncode(dst, []byte(summary))
	return append(dst, `"}`...)
}

// CompactToChat converts a /v1/responses/compact body ({model, input, instructions})
// into the chat request for a summary of its input, for a provider that does not
// serve the endpoint. The answer goes back through CompactFromChat.
func CompactToChat(body []byte) (chat []byte, dropped []string, err error) {
	return toChat(body, true)
}

// CompactFromChat answers /v1/responses/compact from the chat model's summary, in the
// shape api.openai.com gives: a "response.compaction" object whose output is the
// compacted history the client continues with: the request's user messages as sent,
// then one compaction item holding the summary (which ToChat reads back).
func CompactFromChat(req, chat []byte, u provider.Usage) ([]byte, error) {
	var a chatAnswer
	if err := json.Unmarshal(chat, &a); err != nil {
		return nil, err
	}
	summary := ""
	if len(a.Choices) > 0 {
		summary, _ = partsText(gjson.ParseBytes(a.Choices[0].Message.Content))
	}
	if u == (provider.Usage{}) {
		if cu := gjson.GetBytes(chat, "usage"); cu.IsObject() {
			u = chatUsage(cu)
		}
	}
	core := newIDCore()
	out := make([]byte, 0, 256+len(summary)*2)
	out = append(out, `{"id":"resp_`...)
	out = append(out, core...)
	out = append(out, `","object":"response.compaction","created_at":`...)
	out = strconv.AppendInt(out, time.Now().Unix(), 10)
	out = append(out, `,"output":[`...)
	n := 0
	gjson.GetBytes(req, "input").ForEach(func(_, it gjson.Result) bool {
		typ := it.Get("type").Str
		if it.Get("role").Str == "user" && (typ == "message" || typ == "") {
			var c bytes.Buffer
			if json.Compact(&c, []byte(it.Raw)) == nil {
				out = append(out, c.Bytes()...)
				out = append(out, ',')
				n++
			}
		}
		return true
	})
	out = appendCompactionItem(out, itemID("cmp_", core, n), summary)
	out = append(out, `],"usage":`...)
	out = appendUsage(out, u)
	return append(out, '}'), nil
}
