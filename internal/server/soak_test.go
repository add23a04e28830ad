//go:build soak

package server_test

// The soak test runs only with -tags soak:
//
//	go test -tags soak -run TestSoak -v ./internal/server/          # 60s
//	SOAK_DURATION=5m go test -tags soak -run TestSoak -v -timeout 20m ./internal/server/

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
	"github.com/tidwall/gjson"
)

type soakResult struct {
	id       string
	key      int
	stream   bool
	fault    string // "" or the x-mock-* header injected
	status   int
	sent     time.Time
	done     time.Time
	limitErr bool // a 429 whose envelope says rate_limit_exceeded
	complete bool // a stream ended with [DONE]
	errEvent bool // a stream ended with an error event
}

func TestSoak(t *testing.T) {
	dur := 60 * time.Second
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		dur = d
	}
	const rate = 300 // requests per second
	const rpmLimit, concLimit = 600, 4

	runtime.GC()
	baseG := runtime.NumGoroutine()
	g := startGateway(t, `
[auth]
enabled = true
[limits]
rpm = 0
rph = 0
tpm = 0
concurrent = 0
queue = 0
[router]
retries = 0
backoff_base = "1ms"
backoff_max = "5ms"
[breaker]
failure_threshold = 1000000
[[providers]]
name = "mock"
kind = "mock"
`, nil)
	st := openStore(t, g.Home)
	ctx := context.Background()
	rpm, conc := rpmLimit, concLimit
	var secrets [3]string
	var err error
	_, secrets[0], err = st.CreateKey(ctx, store.NewKey{Name: "free"})
	if err == nil {
		_, secrets[1], err = st.CreateKey(ctx, store.NewKey{Name: "rpm", RPM: &rpm})
	}
	if err == nil {
		_, secrets[2], err = st.CreateKey(ctx, store.NewKey{Name: "conc", Concurrent: &conc})
	}
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // keys apply within a second

	tr := &http.Transport{MaxIdleConns: 1000, MaxIdleConnsPerHost: 1000}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var (
		mu sync.Mutex
		// Preallocated, so the test's own bookkeeping does not grow the heap it measures.
		results = make([]soakResult, 0, int(dur.Seconds()*rate*1.1)+1000)
		wg      sync.WaitGroup
		seq     atomic.Int64
	)
	one := func(n int64) {
		defer wg.Done()
		rnd := rand.New(rand.NewPCG(uint64(n), 42))
		r := soakResult{}
		switch k := rnd.IntN(10); {
		case k < 6:
			r.key = 0
		case k < 8:
			r.key = 1
		default:
			r.key = 2
		}
		r.stream = rnd.IntN(10) < 7
		h := map[string]string{}
		if rnd.IntN(20) == 0 { // 5% faults
			switch k := rnd.IntN(3); {
			case r.stream && k == 0:
				r.fault = "x-mock-cut-after"
				h["x-mock-cut-after"] = "2"
			case k == 1:
				r.fault = "x-mock-status"
				h["x-mock-status"] = "503"
			default:
				r.fault = "x-mock-status"
				h["x-mock-status"] = "500"
			}
		}
		if r.stream {
			h["x-mock-chunks"] = "8"
			h["x-mock-chunk-delay-ms"] = "20"
		}
		body := fmt.Sprintf(`{"model":"mock","stream":%v,"messages":[{"role":"user","content":"soak %d alpha beta gamma delta"}]}`, r.stream, n)
		req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secrets[r.key])
		for k, v := range h {
			req.Header.Set(k, v)
		}
		r.sent = time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("request %d: %v", n, err)
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		r.done = time.Now()
		if err != nil {
			t.Errorf("request %d body: %v", n, err)
		}
		r.id, r.status = resp.Header.Get("X-Request-Id"), resp.StatusCode
		if r.stream && r.status == 200 {
			evs := sseEvents(b)
			r.complete = len(evs) > 0 && evs[len(evs)-1] == "[DONE]"
			r.errEvent = len(evs) > 0 && gjson.Get(evs[len(evs)-1], "error").Exists()
		}
		if r.status == 429 {
			r.limitErr = gjson.GetBytes(b, "error.code").Str == "rate_limit_exceeded"
		}
		if r.status >= 500 && r.fault == "" {
			t.Logf("gateway 5xx: %d %.300s", r.status, b)
		}
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}

	// Heap sampling, once a second.
	// Live heap (HeapAlloc right after a GC) and HeapInuse, once a second.
	heap := make([]uint64, 0, int(dur.Seconds())+10)
	inuse := make([]uint64, 0, int(dur.Seconds())+10)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tk.C:
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				heap = append(heap, ms.HeapAlloc)
				inuse = append(inuse, ms.HeapInuse)
			}
		}
	}()

	// Open-loop load: one request every 1/rate s, whatever the latency.
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	sem := make(chan struct{}, 2000)
	for time.Since(start) < dur {
		<-tick.C
		// Catch up to rate × elapsed, so a late tick does not lower the rate.
		for due := int64(time.Since(start).Seconds() * rate); seq.Load() < due; {
			select {
			case sem <- struct{}{}:
			default:
				t.Fatal("more than 2000 requests in flight: the gateway is not keeping up")
			}
			wg.Add(1)
			n := seq.Add(1)
			go func() { defer func() { <-sem }(); one(n) }()
		}
	}
	tick.Stop()
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled
	tr.CloseIdleConnections()

	// Every answered request has exactly one row.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := g.Srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	rows, err := st.ListRequests(ctx, store.RequestFilter{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int, len(rows))
	for _, r := range rows {
		seen[r.ID]++
	}
	missing := 0
	for _, r := range results {
		if seen[r.id] != 1 {
			missing++
		}
	}

	// Statuses: 5xx only where a fault was injected; every 429 justified.
	status := map[int]int{}
	var gateway5xx, unjustified429, faults, incomplete, streams int
	limited := [3]int{}
	admitted := [3][]time.Time{}
	for _, r := range results {
		if r.status != 429 && r.status != 401 {
			admitted[r.key] = append(admitted[r.key], r.sent)
		}
	}
	for k := range admitted {
		slices.SortFunc(admitted[k], func(a, b time.Time) int { return a.Compare(b) })
	}
	// For the concurrency key: intervals of admitted requests.
	type span struct{ from, to time.Time }
	var concSpans []span
	for _, r := range results {
		if r.key == 2 && r.status != 429 {
			concSpans = append(concSpans, span{r.sent, r.done})
		}
	}
	for _, r := range results {
		status[r.status]++
		if r.fault != "" {
			faults++
		}
		if r.stream {
			streams++
			if r.status == 200 && r.fault == "" && !r.complete {
				incomplete++
			}
		}
		if r.status >= 500 && r.fault == "" {
			gateway5xx++
		}
		if r.status == 429 {
			limited[r.key]++
			ok := r.limitErr
			switch r.key {
			case 0:
				ok = false // no limits
			case 1:
				// The window before the answer held at least rpm admitted requests.
				from := r.done.Add(-61 * time.Second)
				lo, _ := slices.BinarySearchFunc(admitted[1], from, func(a, b time.Time) int { return a.Compare(b) })
				hi, _ := slices.BinarySearchFunc(admitted[1], r.done, func(a, b time.Time) int { return a.Compare(b) })
				ok = ok && hi-lo >= rpmLimit
			case 2:
				// At least concLimit admitted requests overlapped this one (5ms slack for
				// the client seeing the end of a body just before the slot is released).
				n := 0
				for _, s := range concSpans {
					if s.from.Before(r.done) && s.to.Add(5*time.Millisecond).After(r.sent) {
						n++
					}
				}
				ok = ok && n >= concLimit
			}
			if !ok {
				unjustified429++
				if unjustified429 <= 5 {
					t.Logf("unjustified 429 for key %d (rate_limit_exceeded: %v)", r.key, r.limitErr)
				}
			}
		}
	}

	// Heap over the last half against the first half (after warm-up).
	var firstMax, lastMax, lastMin uint64
	half := len(heap) / 2
	lastMin = ^uint64(0)
	for i, h := range heap {
		if i < half {
			if i >= len(heap)/10 {
				firstMax = max(firstMax, h)
			}
		} else {
			lastMax = max(lastMax, h)
			lastMin = min(lastMin, h)
		}
	}
	// Growth over the last half: a least-squares slope in bytes per second.
	var slope float64
	if n := len(heap) - half; n > 2 {
		var sx, sy, sxx, sxy float64
		for i, h := range heap[half:] {
			x, y := float64(i), float64(h)
			sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
		}
		fn := float64(n)
		slope = (fn*sxy - sx*sy) / (fn*sxx - sx*sx)
	}

	// Goroutines back to baseline.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	var endG int
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		endG = runtime.NumGoroutine()
		if endG <= baseG+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	lat := make([]time.Duration, 0, len(results))
	for _, r := range results {
		if !r.stream && r.status == 200 {
			lat = append(lat, r.done.Sub(r.sent))
		}
	}
	slices.Sort(lat)
	pct := func(p int) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, len(lat)*p/100)]
	}
	t.Logf("soak: %v, %d requests (%.0f/s), %d streams, %d faults injected", elapsed.Round(time.Second), len(results),
		float64(len(results))/elapsed.Seconds(), streams, faults)
	t.Logf("soak: statuses %v; 429s by key free/rpm/conc = %v; unjustified 429s %d; gateway-caused 5xx %d; clean streams not ending in [DONE] %d",
		status, limited, unjustified429, gateway5xx, incomplete)
	t.Logf("soak: %d log rows for %d requests, %d requests without exactly one row", len(rows), len(results), missing)
	t.Logf("soak: plain 200 latency p50 %v p99 %v", pct(50), pct(99))
	var inuseMax uint64
	for _, v := range inuse {
		inuseMax = max(inuseMax, v)
	}
	t.Logf("soak: live heap after GC, MB: first-half max %.1f (after 10%% warm-up), last-half min %.1f max %.1f, last-half slope %.1f KB/s (%d samples); HeapInuse max %.1f MB",
		mb(firstMax), mb(lastMin), mb(lastMax), slope/1024, len(heap), mb(inuseMax))
	t.Logf("soak: goroutines baseline %d, end %d", baseG, endG)

	if missing > 0 {
		t.Errorf("%d requests without exactly one log row", missing)
	}
	if gateway5xx > 0 {
		t.Errorf("%d 5xx without an injected fault", gateway5xx)
	}
	if unjustified429 > 0 {
		t.Errorf("%d 429s not justified by a limit", unjustified429)
	}
	if incomplete > 0 {
		t.Errorf("%d clean streams did not end with [DONE]", incomplete)
	}
	if limited[1] == 0 || limited[2] == 0 {
		t.Errorf("the limits were never reached (%v): the soak does not exercise them", limited)
	}
	if lastMax > firstMax+firstMax/4+8<<20 {
		t.Errorf("heap grew: first-half max %.1f MB, last-half max %.1f MB", mb(firstMax), mb(lastMax))
	}
	// A leak of even 1 KB per request would be 300 KB/s here.
	if slope > 64<<10 {
		t.Errorf("live heap grows %.1f KB/s over the last half", slope/1024)
	}
	if endG > baseG+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: baseline %d, end %d\n%s", baseG, endG, buf[:runtime.Stack(buf, true)])
	}
	if got := float64(len(results)) / elapsed.Seconds(); got < rate*0.9 {
		t.Errorf("sustained %.0f req/s, want %d", got, rate)
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
