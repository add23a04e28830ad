package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/limits/redislimit"
	"github.com/jmanhype/runestone/internal/store"
)

func intp(n int) *int { return &n }

// 90 requests spread over three replicas for a key limited to 30 rpm: exactly 30 pass.
func TestScaleOutRPMAcrossReplicas(t *testing.T) {
	c := newCluster(t, "", nil)
	_, secret, err := c.store().CreateKey(context.Background(), store.NewKey{Name: "rpm30", RPM: intp(30)})
	if err != nil {
		t.Fatal(err)
	}
	rs := c.replicas(3)
	var ok, limited, other atomic.Int32
	var wg sync.WaitGroup
	for i := range 90 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch st, body := scaleChat(rs[i%3].URL, secret, "mock", nil); st {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			default:
				other.Add(1)
				t.Errorf("status %d: %s", st, body)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 30 || limited.Load() != 60 {
		t.Fatalf("accepted %d, limited %d, other %d; want exactly 30 accepted and 60 limited", ok.Load(), limited.Load(), other.Load())
	}
}

// fakeUpstream answers chat completions after delay with fixed usage, counting the
// requests in flight at once.
func fakeUpstream(t *testing.T, delay time.Duration, tokens int) (*httptest.Server, *atomic.Int32) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			tokens, tokens, 2*tokens)
	}))
	t.Cleanup(srv.Close)
	return srv, &peak
}

func fakeProviderTOML(url string) string {
	return `
[[providers]]
name = "fake"
kind = "openai"
base_url = "` + url + `/v1"
models = ["m"]

[pricing."m"]
input = 1.0
output = 1.0
`
}

// A key with concurrent = 2 never has more than two requests upstream across replicas;
// the rest wait in each replica's queue and are all served.
func TestScaleOutConcurrencyAcrossReplicas(t *testing.T) {
	up, peak := fakeUpstream(t, 60*time.Millisecond, 1)
	c := newCluster(t, fakeProviderTOML(up.URL), nil)
	_, secret, err := c.store().CreateKey(context.Background(), store.NewKey{Name: "c2", Concurrent: intp(2)})
	if err != nil {
		t.Fatal(err)
	}
	rs := c.replicas(3)
	var wg sync.WaitGroup
	for i := range 18 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, body := scaleChat(rs[i%3].URL, secret, "m", nil); st != 200 {
				t.Errorf("status %d: %s", st, body)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak upstream concurrency %d, want at most 2", p)
	}
}

// Sequential requests across replicas stop at the budget: the spend recorded never
// exceeds the budget by more than one request's cost.
func TestScaleOutBudgetAcrossReplicas(t *testing.T) {
	up, _ := fakeUpstream(t, 0, 1000) // 2,000 tokens at $1/M = $0.002 a request
	c := newCluster(t, fakeProviderTOML(up.URL), nil)
	budget, cost := 0.01, 0.002
	_, secret, err := c.store().CreateKey(context.Background(), store.NewKey{Name: "b", BudgetUSD: &budget})
	if err != nil {
		t.Fatal(err)
	}
	rs := c.replicas(3)
	ok := 0
	for i := range 20 {
		st, body := scaleChat(rs[i%3].URL, secret, "m", nil)
		switch {
		case st == 200:
			ok++
		case st == 429 && strings.Contains(body, "insufficient_quota"):
		default:
			t.Fatalf("status %d: %s", st, body)
		}
	}
	if spent := float64(ok) * cost; spent < budget-1e-9 || spent > budget+cost+1e-9 {
		t.Fatalf("%d requests served ($%.3f) for a $%.3f budget", ok, spent, budget)
	}

	// Parallel clients on every replica, one request in flight at a time for the key:
	// the admission script checks the budget atomically with the lease, and spend is
	// booked before the lease is freed, so the overshoot is at most one request.
	_, secret2, err := c.store().CreateKey(context.Background(), store.NewKey{Name: "b2", BudgetUSD: &budget, Concurrent: intp(1)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // the replicas load the new key
	var served atomic.Int32
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				st, body := scaleChat(rs[w%3].URL, secret2, "m", nil)
				if st == 200 {
					served.Add(1)
				} else if st != 429 {
					t.Errorf("status %d: %s", st, body)
				}
			}
		}()
	}
	wg.Wait()
	if spent := float64(served.Load()) * cost; spent < budget-1e-9 || spent > budget+cost+1e-9 {
		t.Fatalf("parallel: %d requests served ($%.3f) for a $%.3f budget", served.Load(), spent, budget)
	}
}

// Revoking a key through the shared store makes every replica refuse it within a second.
func TestScaleOutRevocationReachesReplicas(t *testing.T) {
	c := newCluster(t, "", nil)
	st := c.store()
	k, secret, err := st.CreateKey(context.Background(), store.NewKey{Name: "r"})
	if err != nil {
		t.Fatal(err)
	}
	rs := c.replicas(3)
	for _, r := range rs {
		if code, body := scaleChat(r.URL, secret, "mock", nil); code != 200 {
			t.Fatalf("before revocation: %d %s", code, body)
		}
	}
	if err := rs[0].Srv.Store.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, r := range rs[1:] {
		for {
			if code, _ := scaleChat(r.URL, secret, "mock", nil); code == 401 {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("a replica still accepts the key %s after revocation", time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("revocation reached replicas 2 and 3 in %s", time.Since(start).Round(time.Millisecond))
}

// A replica that dies holding a concurrency lease frees it within the lease TTL.
func TestScaleOutCrashedReplicaLeaseExpires(t *testing.T) {
	ttl := 400 * time.Millisecond
	c := newCluster(t, "", func(cfg *config.Config) { cfg.Limits.LeaseTTL.Duration, cfg.Limits.Queue = ttl, 0 })
	k, secret, err := c.store().CreateKey(context.Background(), store.NewKey{Name: "one", Concurrent: intp(1)})
	if err != nil {
		t.Fatal(err)
	}
	rs := c.replicas(2)
	// The "crashed" replica: admits a request for the key and dies without releasing.
	dead, err := redislimit.New(redislimit.Options{URL: c.redisURL, Prefix: c.prefix, LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Admit(context.Background(), k.ID, k.Name, limits.Limits{Concurrent: 1}); err != nil {
		t.Fatal(err)
	}
	dead.Close()
	killed := time.Now()
	if code, _ := scaleChat(rs[0].URL, secret, "mock", nil); code != 429 {
		t.Fatalf("status %d while the dead replica's lease is live, want 429", code)
	}
	for {
		code, _ := scaleChat(rs[1].URL, secret, "mock", nil)
		if code == 200 {
			break
		}
		if time.Since(killed) > ttl+time.Second {
			t.Fatalf("lease still held %s after the replica died (ttl %s)", time.Since(killed), ttl)
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Logf("lease freed %s after the crash (ttl %s)", time.Since(killed).Round(time.Millisecond), ttl)
}

// ownRedis starts a private redis-server (so stopping it does not disturb other tests)
// and returns its URL and start/stop functions.
func ownRedis(t *testing.T) (url string, start, stop func()) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("RUNESTONE_REQUIRE_SCALEOUT") != "" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server not installed: outage test skipped")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	var cmd *exec.Cmd
	start = func() {
		cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				_ = c.Close()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("redis-server did not start")
	}
	stop = func() {
		if cmd != nil && cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			cmd = nil
		}
	}
	t.Cleanup(stop)
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), start, stop
}

// Stopping Redis mid-run: fail-closed answers 503 limiter_unavailable, fail-open keeps
// serving; one log line when the outage starts and one when it ends; no restart needed.
func TestScaleOutRedisOutage(t *testing.T) {
	for _, mode := range []string{config.RedisFailClose, config.RedisFailOpen} {
		t.Run(mode, func(t *testing.T) {
			url, start, stop := ownRedis(t)
			start()
			c := newCluster(t, "", func(cfg *config.Config) { cfg.Limits.RedisURL, cfg.Limits.OnRedisError = url, mode })
			_, secret, err := c.store().CreateKey(context.Background(), store.NewKey{Name: "o", RPM: intp(1000)})
			if err != nil {
				t.Fatal(err)
			}
			var log syncBuf
			r := c.replica(&log)
			if code, body := scaleChat(r.URL, secret, "mock", nil); code != 200 {
				t.Fatalf("before outage: %d %s", code, body)
			}
			stop()
			for range 20 {
				code, body := scaleChat(r.URL, secret, "mock", nil)
				if mode == config.RedisFailClose && (code != 503 || !strings.Contains(body, "limiter_unavailable")) {
					t.Fatalf("fail-closed during outage: %d %s", code, body)
				}
				if mode == config.RedisFailOpen && code != 200 {
					t.Fatalf("fail-open during outage: %d %s", code, body)
				}
			}
			if code, body := scaleGet(r.URL + "/health"); code != 200 || !strings.Contains(body, `"limits":"unreachable"`) {
				t.Fatalf("/health during the outage: %d %s", code, body)
			}
			start()
			deadline := time.Now().Add(5 * time.Second)
			for {
				code, _ := scaleChat(r.URL, secret, "mock", nil)
				if code == 200 && log.count("redis reachable again") == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery after Redis came back (last status %d)", code)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := log.count("redis unreachable"); n != 1 {
				t.Fatalf("%d outage log lines, want 1", n)
			}
		})
	}
}
