package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/store"
)

// SessionHeader is the header the launcher asks an agent to send on every request, so
// an agent that names no session of its own still groups its requests under one.
const SessionHeader = "X-Runestone-Session"

// agentRun is what a launcher knows when it configures an agent: the gateway, the
// session's own key and id, the model asked for, and a private folder for files the
// agent reads (never the user's own configuration).
type agentRun struct {
	URL, Key, Session, Model string
	Dir                      string
	getenv                   func(string) string
}

// agentConfig is what the agent is started with on top of the user's environment:
// extra leading arguments, variables to set, and variables to remove (a user's own
// key for the vendor must not win over the session's).
type agentConfig struct {
	args  []string
	set   []string
	unset []string
}

// agents are the coding agents `runestone exec NAME` recognises by command name.
var agents = map[string]func(agentRun) (agentConfig, error){
	"claude":   claudeConfig,
	"codex":    codexConfig,
	"gemini":   geminiConfig,
	"opencode": opencodeConfig,
}

// agentFor returns the launcher of args[0] when it names a known agent and was not
// given after "--" (which keeps `exec -- claude` a plain command).
func agentFor(args []string, dashAt int) (string, func(agentRun) (agentConfig, error), bool) {
	if len(args) == 0 || dashAt == 0 {
		return "", nil, false
	}
	name := filepath.Base(args[0])
	fn, ok := agents[name]
	return name, fn, ok
}

// claudeConfig: Claude Code reads its endpoint, key and models from the environment.
// The key goes as ANTHROPIC_AUTH_TOKEN (Bearer): an ANTHROPIC_API_KEY would ask a user
// logged in to claude.ai to approve it, and theirs is removed so it cannot win.
func claudeConfig(r agentRun) (agentConfig, error) {
	c := agentConfig{
		set: []string{"ANTHROPIC_BASE_URL=" + r.URL, "ANTHROPIC_AUTH_TOKEN=" + r.Key,
			"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"},
		unset: []string{"ANTHROPIC_API_KEY"},
	}
	headers := SessionHeader + ": " + r.Session
	if own := r.getenv("ANTHROPIC_CUSTOM_HEADERS"); own != "" {
		headers = own + "\n" + headers
	}
	c.set = append(c.set, "ANTHROPIC_CUSTOM_HEADERS="+headers)
	if r.Model != "" {
		for _, v := range []string{"ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL",
			"ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL"} {
			c.set = append(c.set, v+"="+r.Model)
		}
	}
	return c, nil
}

// codexConfig: Codex takes a whole provider through -c overrides, so its config.toml
// is never touched. WebSockets are off: the gateway answers Codex's upgrade with 426.
func codexConfig(r agentRun) (agentConfig, error) {
	p := "model_providers.runestone."
	over := []string{
		`model_provider="runestone"`,
		p + `name="Runestone"`,
		p + "base_url=" + strconv.Quote(r.URL+"/v1"),
		p + `env_key="RUNESTONE_KEY"`,
		p + `wire_api="responses"`,
		p + "supports_websockets=false",
		p + "http_headers={" + strconv.Quote(SessionHeader) + "=" + strconv.Quote(r.Session) + "}",
	}
	if r.Model != "" {
		over = append(over, "model="+strconv.Quote(r.Model))
	}
	c := agentConfig{}
	for _, o := range over {
		c.args = append(c.args, "-c", o)
	}
	return c, nil
}

// geminiConfig: Gemini CLI pins its auth type in settings; a system settings file of
// the launcher's own (GEMINI_CLI_SYSTEM_SETTINGS_PATH) selects the API key without
// editing ~/.gemini/settings.json.
func geminiConfig(r agentRun) (agentConfig, error) {
	settings := filepath.Join(r.Dir, "gemini-system-settings.json")
	body := `{"security":{"auth":{"selectedType":"gemini-api-key"}}}` + "\n"
	if err := os.WriteFile(settings, []byte(body), 0o600); err != nil {
		return agentConfig{}, err
	}
	// GEMINI_CLI_CUSTOM_HEADERS is "Name:value" entries separated by commas.
	headers := SessionHeader + ":" + r.Session
	if own := r.getenv("GEMINI_CLI_CUSTOM_HEADERS"); own != "" {
		headers = own + "," + headers
	}
	c := agentConfig{set: []string{"GOOGLE_GEMINI_BASE_URL=" + r.URL, "GEMINI_API_KEY=" + r.Key,
		"GEMINI_DEFAULT_AUTH_TYPE=gemini-api-key", "GEMINI_CLI_SYSTEM_SETTINGS_PATH=" + settings,
		"GEMINI_CLI_CUSTOM_HEADERS=" + headers},
		unset: []string{"GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"}}
	if r.Model != "" {
		c.set = append(c.set, "GEMINI_MODEL="+r.Model)
	}
	return c, nil
}

// opencodeDefaultModel is the model OpenCode asks for when --model is not given: it
// needs one named in the provider it uses.
const opencodeDefaultModel = "gpt-4.1"

// opencodeConfig: OpenCode merges OPENCODE_CONFIG_CONTENT over the user's config, so a
// runestone provider (Chat Completions, which every provider kind serves) is added
// without a file.
func opencodeConfig(r agentRun) (agentConfig, error) {
	model := r.Model
	if model == "" {
		model = opencodeDefaultModel
	}
	cfg := map[string]any{
		"$schema": "https://opencode.ai/config.json",
		"provider": map[string]any{"runestone": map[string]any{
			"npm":  "@ai-sdk/openai-compatible",
			"name": "Runestone",
			"options": map[string]any{"baseURL": r.URL + "/v1", "apiKey": "{env:RUNESTONE_KEY}",
				"headers": map[string]string{SessionHeader: r.Session}},
			"models": map[string]any{model: map[string]any{"name": model}},
		}},
		"model":       "runestone/" + model,
		"small_model": "runestone/" + model,
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return agentConfig{}, err
	}
	return agentConfig{set: []string{"OPENCODE_CONFIG_CONTENT=" + string(data)}}, nil
}

// newSessionID is the launcher's session id: "rs-" and 16 random hex digits.
func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "rs-" + hex.EncodeToString(b[:])
}

// mergeEnv is base without the unset names, then set (which wins over base).
func mergeEnv(base, set, unset []string) []string {
	drop := map[string]bool{}
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	for _, k := range unset {
		drop[k] = true
	}
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}

// waitKeyLive polls the gateway with key until it authenticates (a running gateway
// reloads keys from the store within its poll interval), 10 s at most.
func waitKeyLive(ctx context.Context, url, key string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/models", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the gateway at %s did not accept the session's key within 10s (%s)", url, last)
		case <-tick.C:
		}
	}
}

// revokeKey revokes the session's key in the home's store.
func revokeKey(ctx context.Context, openStore func(context.Context) (*store.Store, error), id string) error {
	st, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.RevokeKey(ctx, id)
}
