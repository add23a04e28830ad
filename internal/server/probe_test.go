package server_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

// TestHealthCheckProbesFeedTheBreaker: with health_check set, a failing provider is
// probed without client traffic and its breaker opens.
func TestHealthCheckProbesFeedTheBreaker(t *testing.T) {
	var calls atomic.Int32
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		calls.Add(1)
		w.WriteHeader(503)
	})
	g := startGateway(t, `
[auth]
enabled = false
[router]
retries = 0
[breaker]
failure_threshold = 2
cooldown = "1m"
[[providers]]
name = "probed"
kind = "openai"
base_url = "`+u.URL+`/v1"
models = ["m"]
health_check = "50ms"
`, nil)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		_, _, body := g.do("GET", "/health/providers", "", nil)
		if gjson.GetBytes(body, "providers.0.breaker").String() == "open" {
			if calls.Load() < 2 {
				t.Fatalf("breaker open after %d probes", calls.Load())
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("breaker never opened; upstream saw %d probes", calls.Load())
}
