package gateway

import (
	"net/http"

	"github.com/jmanhype/runestone/internal/provider"
)

// dialectInfo is what the request log records about dialects: the API the client
// spoke, the API spoken to the provider that answered, the client's session, and
// the request fields a translation between the two could not carry. The proxy
// fills it as it decides relay or translation; finish reads it.
type dialectInfo struct {
	dialect  string   // inbound: chat, messages, responses, completions, embeddings
	upstream string   // spoken to the provider; "" when no attempt was made
	session  string   // set by finish from the request headers
	dropped  []string // field paths, e.g. "thinking", "metadata.user_id"
}

// inbound is the inbound dialect, named from the endpoint when the proxy did not
// set one (the OpenAI paths have one dialect each).
func (d *dialectInfo) inbound(ep provider.Endpoint) string {
	if d.dialect != "" {
		return d.dialect
	}
	switch ep {
	case provider.Chat:
		return "chat"
	case provider.Completions:
		return "completions"
	case provider.Embeddings:
		return "embeddings"
	}
	return ""
}

// maxSession bounds a stored session id: clients choose it.
const maxSession = 128

// sessionHeaders are read in order: Claude Code's, then the generic names (Codex
// sends session_id; Go keeps an underscore name as "Session_id").
var sessionHeaders = [...]string{"X-Claude-Code-Session-Id", "Session-Id", "Session_id"}

// sessionID is the client's session id from the request headers: the first
// present, cut to maxSession bytes; a value with bytes other than printable ASCII
// is ignored rather than stored.
func sessionID(h http.Header) string {
	for _, k := range sessionHeaders {
		v := h.Get(k)
		if v == "" {
			continue
		}
		if len(v) > maxSession {
			v = v[:maxSession]
		}
		if printable(v) {
			return v
		}
		return ""
	}
	return ""
}
