package gateway

import (
	"net/http"
	"strings"

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
// sends session_id; Go keeps an underscore name as "Session_id"), then the one
// `runestone exec AGENT` asks agents that name no session of their own to send.
var sessionHeaders = [...]string{"X-Claude-Code-Session-Id", "Session-Id", "Session_id", "X-Runestone-Session"}

// maxAgent bounds a stored agent name or version: clients choose them.
const maxAgent = 64

// agentNames maps the product token of a coding agent's User-Agent to its name.
var agentNames = map[string]string{
	"claude-cli": "claude-code", "claude-code": "claude-code",
	"codex_cli_rs": "codex", "codex_exec": "codex", "codex_vscode": "codex", "codex-tui": "codex",
	"GeminiCLI": "gemini-cli", "gemini-cli": "gemini-cli",
	"opencode": "opencode",
}

// agentOf is the client's name and version from its User-Agent's first product token
// ("claude-cli/2.0.76 (external, cli)" is claude-code 2.0.76, "GeminiCLI/0.34.0/model"
// gemini-cli 0.34.0); a client that is no known agent keeps its token's own name.
// Values with bytes other than printable ASCII are not stored.
func agentOf(ua string) (name, version string) {
	tok, _, _ := strings.Cut(strings.TrimSpace(ua), " ")
	name, version, _ = strings.Cut(tok, "/")
	version, _, _ = strings.Cut(version, "/")
	if a, ok := agentNames[name]; ok {
		name = a
	}
	if len(name) > maxAgent || !printable(name) {
		return "", ""
	}
	if len(version) > maxAgent || !printable(version) {
		version = ""
	}
	return name, version
}

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
