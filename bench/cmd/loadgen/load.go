package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// chatBody is a realistic small chat request (system + user, sampling params).
func chatBody(model string, stream bool) []byte {
	s := `{"model":"` + model + `","messages":[` +
		`{"role":"system","content":"You are a concise assistant. Answer in plain English, cite nothing, and keep it under fifty words."},` +
		`{"role":"user","content":"Summarise why a local LLM gateway should add as little latency as possible, in two sentences, for a developer audience that runs agents in tight loops."}],` +
		`"temperature":0.2,"max_tokens":256,"user":"bench"`
	if stream {
		s += `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return []byte(s + "}")
}

// anthropicBody is the same request in Anthropic's Messages shape.
func anthropicBody(model string, stream bool) []byte {
	return []byte(`{"model":"` + model + `","max_tokens":256,"stream":` + strconv.FormatBool(stream) + `,` +
		`"system":"You are a concise assistant. Answer in plain English, cite nothing, and keep it under fifty words.",` +
		`"messages":[{"role":"user","content":"Summarise why a local LLM gateway should add as little latency as possible, in two sentences, for a developer audience that runs agents in tight loops."}]}`)
}

// responsesBody is the same request in the OpenAI Responses shape, with input
// items as Codex and the Agents SDK send them. store is left at its default (true):
// the gateway then keeps every answer, the costlier path.
func responsesBody(model string, stream bool) []byte {
	return []byte(`{"model":"` + model + `","max_output_tokens":256,"stream":` + strconv.FormatBool(stream) + `,` +
		`"instructions":"You are a concise assistant. Answer in plain English, cite nothing, and keep it under fifty words.",` +
		`"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Summarise why a local LLM gateway should add as little latency as possible, in two sentences, for a developer audience that runs agents in tight loops."}]}]}`)
}

func newTransport(conns int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

func (c *cfg) header() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if c.key != "" {
		h.Set("Authorization", "Bearer "+c.key)
	}
	return h
}

// dialectHeader is header() plus what clients of d send (anthropic-version for Messages).
func (c *cfg) dialectHeader(d dialect) http.Header {
	h := c.header()
	if d == dMessages {
		h.Set("anthropic-version", "2023-06-01")
	}
	return h
}

// ---- A: concurrency 1, closed loop, own timer ----

type seqResult struct {
	p50, p99    float64 // µs
	overheadP50 float64 // ms, from x-runestone-overhead-ms (NaN when absent)
	n, errs     int
}

func sequential(c *cfg, t *tier, dur time.Duration) seqResult {
	return sequentialTo(t.base+"/v1/chat/completions", chatBody("fake-instant", false), c.header(), dur)
}

// sequentialTo is A against any endpoint: url with body and headers, non-stream.
func sequentialTo(url string, body []byte, hdr http.Header, dur time.Duration) seqResult {
	client := &http.Client{Transport: newTransport(4), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	do := func() (time.Duration, string, bool) {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header = hdr.Clone()
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", false
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		el := time.Since(t0)
		return el, resp.Header.Get("x-runestone-overhead-ms"), err == nil && resp.StatusCode == 200
	}
	for i := 0; i < 200; i++ { // warm-up: connection, caches, JIT-free but GC-warm
		do()
	}
	var lat, ovh []float64
	errs := 0
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		el, o, ok := do()
		if !ok {
			errs++
			continue
		}
		lat = append(lat, float64(el.Nanoseconds())/1e3)
		if o != "" {
			if f, err := strconv.ParseFloat(o, 64); err == nil {
				ovh = append(ovh, f)
			}
		}
	}
	sort.Float64s(lat)
	sort.Float64s(ovh)
	r := seqResult{p50: pct(lat, .5), p99: pct(lat, .99), overheadP50: pct(ovh, .5), n: len(lat), errs: errs}
	return r
}

// ---- B: open-loop rate sweep with vegeta ----

type sweepResult struct {
	rate, p50, p99 float64 // achieved successful rps; ms
	errs           float64
	cpu, rss       float64
	anon           float64 // peak RssAnon (MB)
	cpuPerReq      float64 // µs of gateway CPU per successful request
	waitMs         float64 // gateway threads' run-queue wait over the step
	firstErr       string
}

// newVegetaClient is one tier's client, shared by every attacker of that tier so
// connections stay warm between rate steps (an Attacker cannot be reused: the end
// of an attack closes its stop channel for good).
func newVegetaClient() *http.Client {
	return &http.Client{Transport: newTransport(1024), Timeout: 10 * time.Second}
}

func newAttacker(client *http.Client) *vegeta.Attacker {
	return vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(64),
		vegeta.MaxWorkers(4096),
		vegeta.MaxBody(-1),
	)
}

func sweep(c *cfg, t *tier, rate int, dur time.Duration) sweepResult {
	atk := newAttacker(t.vclient)
	tgt := vegeta.Target{Method: "POST", URL: t.base + "/v1/chat/completions",
		Body: chatBody("fake-instant", false), Header: c.header()}
	targeter := vegeta.NewStaticTargeter(tgt)
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	s := startSampler(t.pid)
	var m vegeta.Metrics
	for res := range atk.Attack(targeter, pacer, dur, fmt.Sprintf("%s-%d", t.name, rate)) {
		res.Body = nil
		m.Add(res)
	}
	m.Close()
	cpu, rss := s.finish()
	r := sweepResult{
		rate: m.Throughput,
		p50:  float64(m.Latencies.P50.Microseconds()) / 1e3,
		p99:  float64(m.Latencies.P99.Microseconds()) / 1e3,
		errs: float64(m.Requests) - float64(int(m.Success*float64(m.Requests)+0.5)),
		cpu:  cpu, rss: rss,
	}
	r.waitMs = s.waitMs
	r.anon = float64(s.anonKB) / 1024
	if ok := m.Success * float64(m.Requests); ok > 0 && s.cpuSec >= 0 && t.pid > 0 {
		r.cpuPerReq = s.cpuSec * 1e6 / ok
	}
	if len(m.Errors) > 0 {
		r.firstErr = m.Errors[0]
	}
	return r
}

// ---- B: closed loop, 32 workers, max throughput ----

type closedResult struct{ rps, p50, p99, errs float64 }

func closedLoop(c *cfg, t *tier, workers int, dur time.Duration) closedResult {
	client := &http.Client{Transport: newTransport(workers * 2), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	url := t.base + "/v1/chat/completions"
	body := chatBody("fake-instant", false)
	hdr := c.header()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var ok, bad atomic.Int64
	lats := make([][]float64, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header = hdr.Clone()
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						bad.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad.Add(1)
					continue
				}
				ok.Add(1)
				lats[w] = append(lats[w], float64(time.Since(t0).Microseconds())/1e3)
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	var all []float64
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Float64s(all)
	return closedResult{rps: float64(ok.Load()) / el, p50: pct(all, .5), p99: pct(all, .99), errs: float64(bad.Load())}
}
