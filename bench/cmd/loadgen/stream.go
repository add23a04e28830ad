package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// dialect is the wire format a stream is read in.
type dialect int

const (
	dChat      dialect = iota // OpenAI chat.completion.chunk lines, "[DONE]"
	dMessages                 // Anthropic Messages events: content_block_delta text_delta, message_stop
	dResponses                // OpenAI Responses events: response.output_text.delta, response.completed
)

// streamSpec is one streaming scenario against one tier.
type streamSpec struct {
	url     string
	body    []byte
	dialect dialect
	hdr     http.Header // nil: the run's common header
	conc    int         // concurrent streams
	waves   int         // streams per worker, back to back
	chunks  int         // expected content chunks per stream
	pace    time.Duration
	stagger time.Duration // first-wave start times are spread over this
}

type streamResult struct {
	ttftP50, ttftP99 float64 // ms
	gapP50, gapP99   float64 // ms
	gapMax           float64 // ms
	stalled          int     // streams with a gap > 2×pace
	failed           int     // streams that errored or came back short
	streams          int
	cpuPerChunk      float64 // µs of gateway CPU per content chunk relayed (set by the caller)
	waitMs           float64 // gateway threads' run-queue wait (set by the caller)
	firstErr         string
}

var (
	dataPfx     = []byte("data:")
	contentKey  = []byte(`"content":`)
	textDelta   = []byte(`"text_delta"`)
	doneOA      = []byte("[DONE]")
	msgStop     = []byte(`"message_stop"`)
	outputDelta = []byte(`"response.output_text.delta"`)
	emptyDelta  = []byte(`"delta":""`)
	respDone    = []byte(`"response.completed"`)
	errorType   = []byte(`"type":"error"`)
	respFailed  = []byte(`"response.failed"`)
	respIncompl = []byte(`"response.incomplete"`)
	errorKey    = []byte(`"error"`)
)

// isContent reports whether an SSE line carries a non-empty text delta in d.
func isContent(line []byte, d dialect) bool {
	if !bytes.HasPrefix(line, dataPfx) {
		return false
	}
	switch d {
	case dMessages:
		return bytes.Contains(line, textDelta)
	case dResponses:
		return bytes.Contains(line, outputDelta) && !bytes.Contains(line, emptyDelta)
	}
	i := bytes.Index(line, contentKey)
	if i < 0 {
		return false
	}
	rest := bytes.TrimLeft(line[i+len(contentKey):], " ")
	return len(rest) > 1 && rest[0] == '"' && rest[1] != '"'
}

// isDone reports whether a data line ends the stream successfully in d.
func isDone(line []byte, d dialect) bool {
	switch d {
	case dMessages:
		return bytes.Contains(line, msgStop)
	case dResponses:
		return bytes.Contains(line, respDone)
	}
	return bytes.Contains(line, doneOA)
}

// isError reports whether a data line reports a failure in d. A Responses object
// always carries "error": null, so only the failure events count there.
func isError(line []byte, d dialect) bool {
	switch d {
	case dMessages:
		return bytes.Contains(line, errorType)
	case dResponses:
		return bytes.Contains(line, errorType) || bytes.Contains(line, respFailed) || bytes.Contains(line, respIncompl)
	}
	return bytes.Contains(line, errorKey)
}

type oneStream struct {
	ttft  time.Duration
	gaps  []float64 // ms
	count int
	done  bool
	err   string
}

// runStream performs one streaming request; ready (if non-nil) is called once at
// the first content chunk.
func runStream(ctx context.Context, client *http.Client, sp *streamSpec, hdr http.Header, gaps []float64, ready func()) oneStream {
	var o oneStream
	o.gaps = gaps
	req, _ := http.NewRequestWithContext(ctx, "POST", sp.url, bytes.NewReader(sp.body))
	if sp.hdr != nil {
		hdr = sp.hdr
	}
	req.Header = hdr.Clone()
	req.Header.Set("Accept", "text/event-stream")
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		o.err = err.Error()
		return o
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		o.err = resp.Status + " " + string(b)
		return o
	}
	br := bufio.NewReaderSize(resp.Body, 16<<10)
	var last time.Time
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if isContent(line, sp.dialect) {
				now := time.Now()
				if o.count == 0 {
					o.ttft = now.Sub(t0)
					if ready != nil {
						ready()
					}
				} else {
					o.gaps = append(o.gaps, float64(now.Sub(last).Microseconds())/1e3)
				}
				last = now
				o.count++
			} else if bytes.HasPrefix(line, dataPfx) {
				if isDone(line, sp.dialect) {
					o.done = true
				} else if isError(line, sp.dialect) && o.err == "" {
					o.err = string(bytes.TrimSpace(line))
				}
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err != io.EOF && o.err == "" {
				o.err = err.Error()
			}
			break
		}
	}
	return o
}

func runStreams(sp *streamSpec, hdr http.Header) streamResult {
	client := &http.Client{Transport: newTransport(sp.conc + 16)}
	defer client.CloseIdleConnections()
	var (
		mu       sync.Mutex
		ttfts    []float64
		allGaps  []float64
		res      streamResult
		stallThr = 2 * float64(sp.pace.Microseconds()) / 1e3
	)
	var wg sync.WaitGroup
	for w := 0; w < sp.conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			if sp.stagger > 0 {
				time.Sleep(sp.stagger * time.Duration(w) / time.Duration(sp.conc))
			}
			gaps := make([]float64, 0, sp.chunks*sp.waves)
			var myTTFT []float64
			stalled, failed := 0, 0
			firstErr := ""
			for i := 0; i < sp.waves; i++ {
				n0 := len(gaps)
				o := runStream(context.Background(), client, sp, hdr, gaps, nil)
				gaps = o.gaps
				if o.err != "" || !o.done || o.count != sp.chunks {
					failed++
					if firstErr == "" {
						firstErr = o.err
						if firstErr == "" {
							firstErr = "short stream"
						}
					}
				}
				if o.count > 0 {
					myTTFT = append(myTTFT, float64(o.ttft.Microseconds())/1e3)
				}
				for _, g := range gaps[n0:] {
					if g > stallThr {
						stalled++
						break
					}
				}
			}
			mu.Lock()
			ttfts = append(ttfts, myTTFT...)
			allGaps = append(allGaps, gaps...)
			res.stalled += stalled
			res.failed += failed
			res.streams += sp.waves
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	sort.Float64s(ttfts)
	sort.Float64s(allGaps)
	res.ttftP50, res.ttftP99 = pct(ttfts, .5), pct(ttfts, .99)
	res.gapP50, res.gapP99 = pct(allGaps, .5), pct(allGaps, .99)
	if len(allGaps) > 0 {
		res.gapMax = allGaps[len(allGaps)-1]
	}
	return res
}

// holdSpec is E's long stream (100 chunks at 100 ms: 10 s), n of them opened over
// half a second.
func holdSpec(base string, n int) *streamSpec {
	return &streamSpec{url: base + "/v1/chat/completions", body: chatBody("fake-c100-p100", true),
		conc: n, waves: 1, chunks: 100, pace: 100 * time.Millisecond, stagger: 500 * time.Millisecond}
}

// holdStreams opens n long streams, waits until every one has its first content
// chunk (or timeout), then reports the pid's RSS and RssAnon (MB) and how many were open.
func holdStreams(sp *streamSpec, hdr http.Header, pid int, timeout time.Duration) (rss, anon float64, open int) {
	client := &http.Client{Transport: newTransport(sp.conc + 16)}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	var ready atomic.Int64
	allReady := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < sp.conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			time.Sleep(sp.stagger * time.Duration(w) / time.Duration(sp.conc))
			runStream(ctx, client, sp, hdr, nil, func() {
				if ready.Add(1) == int64(sp.conc) {
					close(allReady)
				}
			})
		}(w)
	}
	select {
	case <-allReady:
	case <-time.After(timeout):
	}
	time.Sleep(300 * time.Millisecond) // let buffers settle
	open = int(ready.Load())
	rss = rssMB(pid)
	anon = float64(statusKB(pid, "RssAnon")) / 1024
	cancel()
	wg.Wait()
	return rss, anon, open
}
