package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
)

const okBody = `{"id":"chatcmpl-ok","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"%s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`

// scripted answers with statuses from a script, then 200s naming who answered.
func scripted(t *testing.T, name string, statuses ...int) (*testutil.Upstream, *atomic.Int32) {
	var n atomic.Int32
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		i := int(n.Add(1)) - 1
		if i < len(statuses) && statuses[i] != 200 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(statuses[i])
			fmt.Fprintf(w, `{"error":{"message":"%s says %d","type":"server_error","param":null,"code":null}}`, name, statuses[i])
			return
		}
		if gjson.GetBytes(body, "stream").Bool() {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"%s\"},\"finish_reason\":null}]}\n\n", name)
			io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, okBody, name)
	})
	return u, &n
}

func twoProviders(primary, backup string, extra string) string {
	return `
[auth]
enabled = false
[router]
retries = 2
backoff_base = "1ms"
backoff_max = "10ms"
[breaker]
failure_threshold = 3
cooldown = "300ms"
[[providers]]
name = "primary"
kind = "openai"
base_url = "` + primary + `/v1"
models = ["m"]
priority = 1
[[providers]]
name = "backup"
kind = "openai"
base_url = "` + backup + `/v1"
models = ["m"]
priority = 2
` + extra
}

func chat(g *gw, stream bool) (int, http.Header, []byte) {
	return g.do("POST", "/v1/chat/completions", fmt.Sprintf(`{"model":"m","stream":%v,"messages":[{"role":"user","content":"x"}]}`, stream), nil)
}

func TestRetryThenSuccessIsOneClientRequest(t *testing.T) {
	p, pn := scripted(t, "primary", 503, 503, 200)
	b, bn := scripted(t, "backup")
	g := startGateway(t, twoProviders(p.URL, b.URL, ""), nil)
	status, hdr, body := chat(g, false)
	if status != 200 || !strings.Contains(string(body), "primary") || pn.Load() != 3 || bn.Load() != 0 {
		t.Fatalf("status %d body %s primary calls %d backup %d", status, body, pn.Load(), bn.Load())
	}
	if hdr.Get("X-Runestone-Provider") != "primary" {
		t.Fatalf("provider header %q", hdr.Get("X-Runestone-Provider"))
	}
}

func TestFailoverBreakerAndFastFail(t *testing.T) {
	p, pn := scripted(t, "primary", 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	b, bn := scripted(t, "backup")
	g := startGateway(t, twoProviders(p.URL, b.URL, ""), nil)
	// Primary always 500: the backup answers; after 3 failures the breaker opens.
	status, hdr, body := chat(g, false)
	if status != 200 || hdr.Get("X-Runestone-Provider") != "backup" || !strings.Contains(string(body), "backup") {
		t.Fatalf("failover: %d %s %s", status, hdr.Get("X-Runestone-Provider"), body)
	}
	if pn.Load() != 3 {
		t.Fatalf("primary got %d calls, want 3 (1 + 2 retries)", pn.Load())
	}
	for i := 0; i < 3; i++ {
		chat(g, false)
	}
	if pn.Load() != 3 || bn.Load() != 4 {
		t.Fatalf("open breaker must skip the primary: primary %d backup %d", pn.Load(), bn.Load())
	}
	status, _, body = g.do("GET", "/health", "", nil)
	if status != 200 || gjson.GetBytes(body, "status").String() != "degraded" {
		t.Fatalf("health %d %s", status, body)
	}
	_, _, body = g.do("GET", "/health/providers", "", nil)
	if gjson.GetBytes(body, `providers.#(name=="primary").breaker`).String() != "open" {
		t.Fatalf("providers %s", body)
	}
	// What happens after the cooldown (one probe, reopen on failure) is
	// resilience.TestHalfOpenProbeFailureReopens, on a fake clock rather than a real
	// sleep here.
}

func TestAllTargetsDownFailsFastWithEnvelope(t *testing.T) {
	p, pn := scripted(t, "primary", 500, 500, 500)
	b, bn := scripted(t, "backup", 502, 502, 502)
	cfg := strings.Replace(twoProviders(p.URL, b.URL, ""), "retries = 2", "retries = 0", 1)
	cfg = strings.Replace(cfg, "failure_threshold = 3", "failure_threshold = 1", 1)
	cfg = strings.Replace(cfg, `cooldown = "300ms"`, `cooldown = "1m"`, 1)
	g := startGateway(t, cfg, nil)
	status, hdr, body := chat(g, false)
	e := envelope(t, body)
	if status != 502 || e.Get("code").String() != "provider_unavailable" || !strings.Contains(e.Get("message").String(), "primary") ||
		!strings.Contains(e.Get("message").String(), "backup") || hdr.Get("X-Should-Retry") != "false" {
		t.Fatalf("%d %v %s", status, hdr, body)
	}
	// Failing fast means no upstream call at all (the cost per refusal is
	// resilience.BenchmarkExecuteAllOpen's).
	calls := pn.Load() + bn.Load()
	status, _, body = chat(g, false)
	if status != 503 || pn.Load()+bn.Load() != calls {
		t.Fatalf("all breakers open: %d after %d upstream calls: %s", status, pn.Load()+bn.Load()-calls, body)
	}
	// The SDK sees a typed error and, told not to, does not multiply upstream calls.
	c := g.client()
	_, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
		t.Fatalf("sdk err %v", err)
	}
}

func TestStreamFailsOverBeforeFirstByteOnly(t *testing.T) {
	p, _ := scripted(t, "primary", 503, 503, 503)
	b, _ := scripted(t, "backup")
	g := startGateway(t, twoProviders(p.URL, b.URL, ""), nil)
	_, _, body := chat(g, true)
	if !strings.Contains(string(body), "backup") || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Fatalf("stream did not fail over: %s", body)
	}
	// After the first byte: the mock cuts the stream; no failover, a final error event.
	g2 := startGateway(t, "[auth]\nenabled = false\n", nil)
	_, _, body = g2.do("POST", "/v1/chat/completions", `{"model":"x","stream":true,"messages":[{"role":"user","content":"a b c"}]}`,
		map[string]string{"x-mock-cut-after": "1"})
	evs := sseEvents(body)
	if len(evs) != 3 || !gjson.Get(evs[2], "error").Exists() {
		t.Fatalf("events %q", evs)
	}
}

func TestCostAndLatencyPolicies(t *testing.T) {
	cheap, cn := scripted(t, "cheap")
	pricey, pn := scripted(t, "pricey")
	cfg := `
[auth]
enabled = false
[router]
policy = "cost"
[pricing."big-model"]
input = 10.0
output = 30.0
[pricing."small-model"]
input = 0.1
output = 0.4
[[providers]]
name = "pricey"
kind = "openai"
base_url = "` + pricey.URL + `/v1"
models = ["big-model"]
[[providers]]
name = "cheap"
kind = "openai"
base_url = "` + cheap.URL + `/v1"
models = ["small-model"]
[[routes]]
model = "any"
targets = ["pricey:big-model", "cheap:small-model"]
`
	g := startGateway(t, cfg, nil)
	for i := 0; i < 3; i++ {
		g.do("POST", "/v1/chat/completions", `{"model":"any","messages":[{"role":"user","content":"x"}]}`, nil)
	}
	if cn.Load() != 3 || pn.Load() != 0 {
		t.Fatalf("cost policy: cheap %d pricey %d", cn.Load(), pn.Load())
	}

	var slowN, fastN atomic.Int32
	slow := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		slowN.Add(1)
		time.Sleep(40 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, okBody, "slow")
	})
	fast := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		fastN.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, okBody, "fast")
	})
	cfg = strings.Replace(twoProviders(slow.URL, fast.URL, ""), `policy = "default"`, "", 1)
	cfg = strings.Replace(cfg, "[router]\n", "[router]\npolicy = \"latency\"\n", 1)
	g = startGateway(t, cfg, nil)
	for i := 0; i < 12; i++ {
		chat(g, false)
	}
	if fastN.Load() < 9 {
		t.Fatalf("latency policy should move traffic to the faster provider: fast %d slow %d", fastN.Load(), slowN.Load())
	}
}
