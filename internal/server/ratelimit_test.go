package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/jmanhype/runestone/internal/testutil"
)

// pacer is an upstream that answers 429 with the given headers to every request whose
// body mentions "limited" (or to every request when all is set), and a chat completion
// otherwise. It counts both kinds.
type pacer struct {
	*testutil.Upstream
	limited, served atomic.Int32
}

func newPacer(t *testing.T, name string, all bool, hdr map[string]string) *pacer {
	p := &pacer{}
	ok, _ := scripted(t, name)
	p.Upstream = testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if all || strings.Contains(string(body), "limited") {
			p.limited.Add(1)
			for k, v := range hdr {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprintf(w, `{"error":{"message":"Rate limit reached for %s","type":"requests","param":null,"code":"rate_limit_exceeded"}}`, name)
			return
		}
		p.served.Add(1)
		ok.Respond(w, r, body)
	})
	return p
}

func oneOpenAIProvider(url string) string {
	return `
[auth]
enabled = false
[router]
retries = 2
backoff_base = "1ms"
backoff_max = "10ms"
[breaker]
failure_threshold = 2
cooldown = "30s"
[[providers]]
name = "openai"
kind = "openai"
base_url = "` + url + `/v1"
models = ["m"]
`
}

func chatAbout(g *gw, text string, stream bool) (int, http.Header, []byte) {
	return g.do("POST", "/v1/chat/completions", fmt.Sprintf(`{"model":"m","stream":%v,"messages":[{"role":"user","content":%q}]}`, stream, text), nil)
}

// TestRateLimitedSDKCallIsNotMultiplied: before, one OpenAI SDK call against an upstream
// answering 429 made up to 9 upstream calls (the gateway's retries times the SDK's), the
// provider's breaker opened, and every other client got 503 "breaker open" for 30 s.
// Now each SDK attempt is one upstream call, the breaker stays closed, and another client
// of the same provider is served at once.
func TestRateLimitedSDKCallIsNotMultiplied(t *testing.T) {
	up := newPacer(t, "openai", false, map[string]string{"Retry-After": "1", "Retry-After-Ms": "40"})
	g := startGateway(t, oneOpenAIProvider(up.URL), nil)
	ctx := context.Background()

	c := g.client(option.WithMaxRetries(2))
	_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("limited, please")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("sdk error %v", err)
	}
	if n := up.limited.Load(); n != 3 {
		t.Fatalf("one SDK call with 2 retries made %d upstream calls, want 3 (one per SDK attempt)", n)
	}

	// Another client of the same provider: served, no breaker in the way.
	other := g.client()
	res, err := other.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}})
	if err != nil || res.Choices[0].Message.Content != "openai" || up.served.Load() != 1 {
		t.Fatalf("another client: %v (served %d)", err, up.served.Load())
	}

	// The 429 reaches the client at once with the truth: wait retry-after, then retry.
	for _, stream := range []bool{false, true} {
		status, hdr, body := chatAbout(g, "limited", stream)
		if status != 429 || hdr.Get("Retry-After") != "1" || hdr.Get("Retry-After-Ms") != "40" ||
			hdr.Get("X-Should-Retry") != "true" || gjson.GetBytes(body, "error.code").String() != "rate_limit_exceeded" {
			t.Fatalf("stream %v: %d %v %s", stream, status, hdr, body)
		}
	}
	if n := up.limited.Load(); n != 5 {
		t.Fatalf("%d upstream calls, want 5: a 429 is never retried by the gateway", n)
	}

	// In the Messages dialect (translated to this chat provider), the same truth.
	status, hdr, body := g.do("POST", "/v1/messages", `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"limited"}]}`, nil)
	if status != 429 || hdr.Get("X-Should-Retry") != "true" || hdr.Get("Retry-After") != "1" ||
		gjson.GetBytes(body, "type").String() != "error" || gjson.GetBytes(body, "error.type").String() != "rate_limit_error" {
		t.Fatalf("messages: %d %v %s", status, hdr, body)
	}
	ac := g.anthropicClient(aoption.WithMaxRetries(1))
	before := up.limited.Load()
	_, err = ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 8,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("limited"))}})
	var aErr *anthropic.Error
	if !errors.As(err, &aErr) || aErr.StatusCode != 429 || up.limited.Load()-before != 2 {
		t.Fatalf("anthropic sdk (1 retry): %v, %d upstream calls", err, up.limited.Load()-before)
	}

	_, _, body = g.do("GET", "/health/providers", "", nil)
	p := gjson.GetBytes(body, `providers.#(name=="openai")`)
	if p.Get("breaker").String() != "closed" || p.Get("errors").Int() != 0 || !p.Get("rate_limited_until").Exists() {
		t.Fatalf("providers: %s", body)
	}
}

// TestRateLimitFailsOverToAnotherTarget: a target that answered 429 is not called again
// before its retry-after while another target can serve.
func TestRateLimitFailsOverToAnotherTarget(t *testing.T) {
	primary := newPacer(t, "primary", true, map[string]string{"Retry-After": "30"})
	backup, bn := scripted(t, "backup")
	g := startGateway(t, twoProviders(primary.URL, backup.URL, ""), nil)
	for i, stream := range []bool{false, true, false} {
		status, hdr, body := chat(g, stream)
		if status != 200 || hdr.Get("X-Runestone-Provider") != "backup" || !strings.Contains(string(body), "backup") {
			t.Fatalf("request %d: %d %v %s", i, status, hdr, body)
		}
	}
	if primary.limited.Load() != 1 || bn.Load() != 3 {
		t.Fatalf("primary called %d times during its retry-after, backup %d", primary.limited.Load(), bn.Load())
	}
	_, _, body := g.do("GET", "/health/providers", "", nil)
	if p := gjson.GetBytes(body, `providers.#(name=="primary")`); p.Get("breaker").String() != "closed" || !p.Get("rate_limited_until").Exists() {
		t.Fatalf("providers: %s", body)
	}
}

// TestMockFaultsDoNotTakeTheMockAway: before, two requests with x-mock-status: 500 or
// 429 opened the mock's breaker, and everyone got "mock: breaker open" for 30 s.
func TestMockFaultsDoNotTakeTheMockAway(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	body := `{"model":"mock","messages":[{"role":"user","content":"hi"}]}`
	for range 3 {
		status, hdr, b := g.do("POST", "/v1/chat/completions", body, map[string]string{"X-Mock-Status": "500"})
		if status != 502 || !strings.Contains(string(b), "x-mock-status asked for 500") || hdr.Get("X-Should-Retry") != "false" {
			t.Fatalf("500 rehearsal: %d %v %s", status, hdr, b)
		}
		status, hdr, b = g.do("POST", "/v1/chat/completions", body, map[string]string{"X-Mock-Status": "429"})
		if status != 429 || hdr.Get("Retry-After") != "1" || hdr.Get("X-Should-Retry") != "true" {
			t.Fatalf("429 rehearsal: %d %v %s", status, hdr, b)
		}
	}
	if status, _, b := g.do("POST", "/v1/chat/completions", body, nil); status != 200 {
		t.Fatalf("after the rehearsals: %d %s", status, b)
	}
	_, _, b := g.do("GET", "/health/providers", "", nil)
	if gjson.GetBytes(b, `providers.#(name=="mock").breaker`).String() != "closed" {
		t.Fatalf("providers: %s", b)
	}
}

// TestBreakerOpenSaysWhy: "breaker open" used to come with no cause.
func TestBreakerOpenSaysWhy(t *testing.T) {
	down, _ := scripted(t, "openai", 500, 500, 500, 500)
	g := startGateway(t, strings.Replace(oneOpenAIProvider(down.URL), "retries = 2", "retries = 0", 1), nil)
	for range 2 {
		chat(g, false)
	}
	status, _, body := chat(g, false)
	msg := gjson.GetBytes(body, "error.message").String()
	if status != 503 || !strings.Contains(msg, "openai: breaker open after 2 consecutive failures, last: 500 openai says 500") {
		t.Fatalf("%d %s", status, body)
	}
}
