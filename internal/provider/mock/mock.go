// Package mock is the built-in offline provider: deterministic echo answers, word-by-word
// streams, hash-derived embeddings and scripted tool calls, plus x-mock-* request headers
// that rehearse latency, slow streams, upstream errors and dropped connections.
package mock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

// Options configure the mock.
type Options struct {
	Name string
	// CatchAll makes the mock serve every model name (zero-config mode); otherwise it
	// serves "mock", "mock-*" and Models.
	CatchAll bool
	Models   []string
	// Tokens counts tokens in a text; nil counts whitespace-separated words.
	Tokens func(text string) int
}

// Provider is the mock upstream.
type Provider struct{ o Options }

// New returns a mock provider.
func New(o Options) *Provider {
	if o.Name == "" {
		o.Name = "mock"
	}
	if o.Tokens == nil {
		o.Tokens = func(s string) int { return len(strings.Fields(s)) }
	}
	return &Provider{o: o}
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return p.o.Name }

// Kind implements provider.Provider.
func (p *Provider) Kind() string { return "mock" }

// Models implements provider.Provider.
func (p *Provider) Models() []string {
	if len(p.o.Models) > 0 {
		return p.o.Models
	}
	return []string{"mock", "mock-embedding"}
}

// ServesModel implements provider.ModelMatcher.
func (p *Provider) ServesModel(model string) bool {
	return p.o.CatchAll || model == "mock" || strings.HasPrefix(model, "mock-")
}

// knobs are the x-mock-* request headers.
type knobs struct {
	latency, chunkDelay time.Duration
	chunks, cutAfter    int
	status              int
}

// Caps on the knobs: a client-chosen number must not size an allocation or hold a
// concurrency slot for ever (x-mock-chunks: 10^12 used to end in out-of-memory).
const (
	MaxChunks     = 10000
	MaxLatency    = 60 * time.Second
	MaxChunkDelay = 10 * time.Second
)

func readKnobs(h http.Header) knobs {
	ms := func(k string, limit time.Duration) time.Duration {
		n := atoi(h.Get(k))
		if int64(n) > int64(limit/time.Millisecond) {
			return limit
		}
		return time.Duration(n) * time.Millisecond
	}
	return knobs{
		latency:    ms("X-Mock-Latency-Ms", MaxLatency),
		chunkDelay: ms("X-Mock-Chunk-Delay-Ms", MaxChunkDelay),
		chunks:     min(atoi(h.Get("X-Mock-Chunks")), MaxChunks),
		cutAfter:   min(atoi(h.Get("X-Mock-Cut-After")), MaxChunks),
		status:     atoi(h.Get("X-Mock-Status")),
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Do implements provider.Provider.
func (p *Provider) Do(ctx context.Context, call *provider.Call) (*provider.Response, error) {
	k := readKnobs(call.Header)
	if k.latency > 0 {
		t := time.NewTimer(k.latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	if k.status >= 400 && k.status <= 599 {
		return nil, p.statusError(k.status)
	}
	switch call.Endpoint {
	case provider.Embeddings:
		return p.embeddings(call)
	case provider.Completions:
		prompt := promptText(gjson.GetBytes(call.Body, "prompt"))
		return p.answer(ctx, call, k, answer{text: "You said: " + prompt, prompt: prompt})
	default:
		return p.answer(ctx, call, k, p.chatAnswer(call.Body))
	}
}

func (p *Provider) statusError(status int) *apierr.Error {
	var h http.Header
	if status == http.StatusTooManyRequests {
		h = http.Header{"Retry-After": {"1"}}
	}
	body := `{"error":{"message":"mock: x-mock-status asked for ` + strconv.Itoa(status) + `","type":"mock_error","param":null,"code":null}}`
	e := apierr.FromUpstream(p.o.Name, status, h, []byte(body))
	e.Cause = provider.ErrRehearsal
	return e
}

// answer is what the mock says.
type answer struct {
	text     string
	prompt   string // text counted as the prompt
	toolName string // set when answering with a tool call
	toolID   string // that call's id, unique per conversation turn
	toolArgs string
}

// chatAnswer behaves like a model in a tool loop: it honours tool_choice ("none": no
// call; "required" or a named function: that call), calls a tool when the last user
// message says "call NAME" (auto; "call NAME {JSON object}" gives the arguments, so an
// agent's tool can do real work, e.g. read a file, otherwise each required field gets a
// placeholder), and answers a conversation that ends with a tool result with text quoting
// it instead of calling the tool again.
func (p *Provider) chatAnswer(body []byte) answer {
	msgs := gjson.GetBytes(body, "messages").Array()
	var prompt strings.Builder
	last, lastRole, lastTool := "", "", ""
	for _, m := range msgs {
		t := contentText(m.Get("content"))
		prompt.WriteString(t)
		prompt.WriteByte('\n')
		lastRole = m.Get("role").String()
		switch lastRole {
		case "user":
			// Agents put reminders before the prompt in one message: the last part is it.
			last = lastText(m.Get("content"))
		case "tool":
			lastTool = t
		}
	}
	a := answer{text: "You said: " + last, prompt: prompt.String()}
	tools := gjson.GetBytes(body, "tools").Array()
	find := func(name string) bool {
		for _, t := range tools {
			if t.Get("function.name").String() == name {
				a.toolName, a.toolArgs = name, stubArgs(t.Get("function.parameters"))
				return true
			}
		}
		return false
	}
	choice := gjson.GetBytes(body, "tool_choice")
	switch {
	case choice.Type == gjson.String && choice.Str == "none":
		// No tool call, whatever the message says.
	case choice.IsObject() && choice.Get("function.name").String() != "":
		if !find(choice.Get("function.name").String()) {
			a.toolName, a.toolArgs = choice.Get("function.name").String(), "{}"
		}
	case choice.Type == gjson.String && choice.Str == "required" && len(tools) > 0:
		if !find(callTarget(last)) {
			find(tools[0].Get("function.name").String())
		}
	case lastRole == "tool":
		a.text = "The tool returned: " + lastTool
	default:
		if find(callTarget(last)) {
			if args := callArgs(last); args != "" {
				a.toolArgs = args
			}
		}
	}
	if a.toolName != "" {
		// Unique per turn (the body grows each turn) and stable for a replayed body.
		sum := sha256.Sum256(body)
		a.toolID = "call_" + hex.EncodeToString(sum[:12])
	}
	return a
}

// lastText is the last text part of a message content (all of it when a string).
func lastText(c gjson.Result) string {
	if c.Type == gjson.String {
		return c.Str
	}
	parts := c.Array()
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i].Get("type").Str == "text" {
			return parts[i].Get("text").Str
		}
	}
	return ""
}

// callTarget is NAME in a message "call NAME", "" otherwise.
func callTarget(msg string) string {
	name, ok := strings.CutPrefix(strings.TrimSpace(msg), "call ")
	if !ok {
		return ""
	}
	return strings.Trim(strings.Fields(name + " ")[0], ".!?`'\"")
}

// callArgs is the JSON object after NAME in a message "call NAME {…}", "" when there is none.
func callArgs(msg string) string {
	rest, ok := strings.CutPrefix(strings.TrimSpace(msg), "call ")
	if !ok {
		return ""
	}
	i := strings.IndexByte(rest, '{')
	if i < 0 || strings.TrimSpace(rest[:i]) != callTarget(msg) {
		return ""
	}
	args := strings.TrimSpace(rest[i:])
	if !gjson.Valid(args) || !gjson.Parse(args).IsObject() {
		return ""
	}
	return args
}

// contentText flattens a message content (string or parts) to its text.
func contentText(c gjson.Result) string {
	if c.Type == gjson.String {
		return c.String()
	}
	var b strings.Builder
	for _, part := range c.Array() {
		if part.Get("type").String() == "text" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(part.Get("text").String())
		}
	}
	return b.String()
}

func promptText(p gjson.Result) string {
	if p.IsArray() {
		var parts []string
		for _, x := range p.Array() {
			parts = append(parts, x.String())
		}
		return strings.Join(parts, " ")
	}
	return p.String()
}

// stubArgs builds {} or an object with a placeholder for each required field.
func stubArgs(schema gjson.Result) string {
	req := schema.Get("required").Array()
	if len(req) == 0 {
		return "{}"
	}
	var b []byte
	b = append(b, '{')
	for i, r := range req {
		if i > 0 {
			b = append(b, ',')
		}
		name := r.String()
		b = strconv.AppendQuote(b, name)
		b = append(b, ':')
		switch schema.Get("properties." + gjson.Escape(name) + ".type").String() {
		case "integer", "number":
			b = append(b, '0')
		case "boolean":
			b = append(b, "false"...)
		case "array":
			b = append(b, "[]"...)
		case "object":
			b = append(b, "{}"...)
		default:
			b = append(b, `"example"`...)
		}
	}
	return string(append(b, '}'))
}
