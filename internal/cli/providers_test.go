package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/testutil"
)

func runCLI(t *testing.T, home string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &Factory{Out: &out, Err: &errb, Getenv: func(string) string { return "" }}
	code := Execute(context.Background(), f, BuildInfo{Version: "test"}, append([]string{"--home", home}, args...))
	return code, out.String(), errb.String()
}

func TestProvidersTestVerdicts(t *testing.T) {
	bad := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided: sk-wrong","type":"invalid_request_error","code":"invalid_api_key"}}`)
	})
	good := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}]}`)
	})
	home := t.TempDir()
	cfg := `
[[providers]]
name = "bad"
kind = "openai"
base_url = "` + bad.URL + `/v1"
api_key = "sk-wrong"
models = ["gpt-4o-mini"]

[[providers]]
name = "good"
kind = "openai"
base_url = "` + good.URL + `/v1"
models = ["text-embedding-3-small", "gpt-4o-mini"]

[[providers]]
name = "gone"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
models = ["m"]
`
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, home, "providers", "test", "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1 when a provider fails", code)
	}
	var res []probeResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]string{"bad": "auth failed", "good": "ok", "gone": "unreachable"}
	for _, r := range res {
		if want[r.Provider] != r.Verdict {
			t.Errorf("%s: verdict %q, want %q (%s)", r.Provider, r.Verdict, want[r.Provider], r.Detail)
		}
		if strings.Contains(r.Detail, "sk-wrong") {
			t.Error("probe output quotes the provider key")
		}
	}
	if code, _, _ := runCLI(t, home, "providers", "test", "good"); code != 0 {
		t.Fatalf("a healthy provider alone should exit 0, got %d", code)
	}
	code, out, _ = runCLI(t, home, "providers", "list")
	if code != 0 || !strings.Contains(out, "good") || strings.Contains(out, "sk-wrong") || !strings.Contains(out, "unset") {
		t.Fatalf("list exit %d:\n%s", code, out)
	}
}

// A running rate limit replaces "closed" in the BREAKER column; it never opens the breaker.
func TestProvidersListStateText(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.Local)
	r := providerInfo{Breaker: "closed", RateLimitedUntil: now.Add(30 * time.Second)}
	if got := r.stateText(now); got != "rate-limited until 10:00:30" {
		t.Errorf("got %q", got)
	}
	if got := r.stateText(now.Add(time.Minute)); got != "closed" {
		t.Errorf("after it: %q", got)
	}
	r.Breaker = "open"
	if got := r.stateText(now); got != "open" {
		t.Errorf("open breaker: %q", got)
	}
}
