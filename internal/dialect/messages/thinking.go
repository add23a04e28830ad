package messages

import (
	"bytes"
	"strconv"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// StripUnsignedThinking removes the assistant thinking blocks that have an empty
// signature from a Messages request body, and says how many it removed. Such blocks
// are the ones this package made from another provider's reasoning (FromChat and
// StreamEncoder cannot sign them); a client sends them back as history, and if that
// request is relayed to Anthropic itself the unverifiable signature may be refused.
// The gateway can call this before relaying to a native Anthropic provider: a body
// without such blocks is returned as it is (same slice, no copy), and body itself is
// never modified.
func StripUnsignedThinking(body []byte) ([]byte, int) {
	// Only this package writes an empty signature; a body without one (every body
	// Anthropic's own answers built) costs one scan and no parse.
	if !bytes.Contains(body, []byte(`"signature":""`)) && !bytes.Contains(body, []byte(`"signature": ""`)) {
		return body, 0
	}
	var paths []string
	i := 0
	gjson.GetBytes(body, "messages").ForEach(func(_, m gjson.Result) bool {
		if m.Get("role").Str == "assistant" {
			j := 0
			m.Get("content").ForEach(func(_, b gjson.Result) bool {
				if b.Get("type").Str == "thinking" && b.Get("signature").Str == "" {
					paths = append(paths, "messages."+strconv.Itoa(i)+".content."+strconv.Itoa(j))
				}
				j++
				return true
			})
		}
		i++
		return true
	})
	out := body
	// Last first, so the earlier indexes stay right.
	for k := len(paths) - 1; k >= 0; k-- {
		next, err := sjson.DeleteBytes(out, paths[k])
		if err != nil {
			return body, 0
		}
		out = next
	}
	return out, len(paths)
}
