package server_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
	"github.com/tidwall/gjson"
)

// TestConcurrencyQueue: with --concurrent 1 a second request waits for the first and
// then succeeds; with queue = 0 it is refused at once.
func TestConcurrencyQueue(t *testing.T) {
	for _, queue := range []int{100, 0} {
		cfg := "[limits]\nqueue = " + map[int]string{100: "100", 0: "0"}[queue] + "\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\n"
		g := startGateway(t, cfg, nil)
		st := openStore(t, g.Home)
		one := 1
		_, secret, err := st.CreateKey(context.Background(), store.NewKey{Name: "serial", Concurrent: &one})
		if err != nil {
			t.Fatal(err)
		}
		g.Key = secret
		time.Sleep(1100 * time.Millisecond)
		var wg sync.WaitGroup
		wg.Add(1)
		var slowStatus int
		var slowDone atomic.Bool
		go func() {
			defer wg.Done()
			slowStatus, _, _ = g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"slow"}]}`,
				map[string]string{"x-mock-latency-ms": "400"})
			slowDone.Store(true)
		}()
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		status, hdr, body := g.do("POST", "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"second"}]}`, nil)
		waited := time.Since(start)
		// Refused at once means refused while the slow request still held the slot: an
		// order of events, not a time limit a loaded machine could miss.
		refusedWhileBusy := !slowDone.Load()
		wg.Wait()
		if slowStatus != 200 {
			t.Fatalf("queue=%d: slow request %d", queue, slowStatus)
		}
		if queue > 0 {
			if status != 200 || waited < 200*time.Millisecond {
				t.Fatalf("queued request: %d after %v: %s", status, waited, body)
			}
		} else {
			if status != 429 || !refusedWhileBusy || hdr.Get("Retry-After") == "" ||
				gjson.GetBytes(body, "error.code").String() != "rate_limit_exceeded" {
				t.Fatalf("queue=0: %d after %v %v %s", status, waited, hdr, body)
			}
		}
	}
}
