package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The SDK's and net/http's idle keep-alive readers close with the transports.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		// teatest waits for SIGINT on a goroutine that lives as long as the process.
		goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest.NewTestModel.func2"),
	)
}

// gw is a gateway started on a loopback port with a fresh home folder.
type gw struct {
	t    *testing.T
	URL  string
	Home string
	Srv  *server.Server
	Key  string
}

// startGateway writes configTOML (may be "") into a new home and starts serve's wiring.
func startGateway(t *testing.T, configTOML string, env map[string]string) *gw {
	return startGatewayWith(t, configTOML, env, server.Options{Version: "test"})
}

func startGatewayWith(t *testing.T, configTOML string, env map[string]string, opts server.Options) *gw {
	return startIn(t, t.TempDir(), configTOML, env, opts)
}

// startIn starts a gateway on a home folder the test prepared (say, a mount).
func startIn(t *testing.T, home, configTOML string, env map[string]string, opts server.Options) *gw {
	t.Helper()
	if configTOML != "" {
		if err := os.WriteFile(filepath.Join(home, config.FileName), []byte(configTOML), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	get := func(k string) string { return env[k] }
	cfg, err := config.Load(config.Options{Home: home, Addr: "127.0.0.1:0", Getenv: get})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gw{t: t, URL: "http://" + srv.Addr(), Home: home, Srv: srv, Key: firstKey(cfg)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	return g
}

func firstKey(cfg *config.Config) string {
	if len(cfg.Auth.Keys) > 0 {
		return cfg.Auth.Keys[0]
	}
	return ""
}

// client is an official SDK client pointed at the gateway, without SDK retries.
func (g *gw) client(opts ...option.RequestOption) openai.Client {
	key := g.Key
	if key == "" {
		key = "unused"
	}
	base := []option.RequestOption{option.WithBaseURL(g.URL + "/v1"), option.WithAPIKey(key), option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{Transport: &http.Transport{}})}
	return openai.NewClient(append(base, opts...)...)
}

// do sends a raw request and returns status, headers and body.
func (g *gw) do(method, path, body string, hdr map[string]string) (int, http.Header, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.URL+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if g.Key != "" {
		req.Header.Set("Authorization", "Bearer "+g.Key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// sseEvents splits an SSE body into its data payloads.
func sseEvents(body []byte) []string {
	var out []string
	for _, line := range bytes.Split(body, []byte("\n")) {
		if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			out = append(out, string(d))
		}
	}
	return out
}

// upstreamConfig points one OpenAI-compatible provider at a fake.
func upstreamConfig(url string, extra string) string {
	return `
[auth]
keys = ["sk-test-static-key-0123456789abcdef"]

[router]
backoff_base = "1ms"
backoff_max = "5ms"

[[providers]]
name = "fake"
kind = "openai"
base_url = "` + url + `/v1"
api_key = "sk-upstream-secret-value"
models = ["gpt-4o-mini", "gpt-3.5-turbo", "gpt-3.5-turbo-instruct", "text-embedding-3-small"]
` + extra
}

var _ = testutil.Testdata
