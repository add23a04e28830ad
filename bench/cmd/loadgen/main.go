// Command loadgen drives the Runestone side-by-side benchmark: every scenario
// against the fake upstream directly, through a bare httputil.ReverseProxy and
// through `runestone serve`, in rotating order for several rounds, and prints one
// markdown table of medians. bench/run.sh starts the processes and calls it.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type tier struct {
	name    string
	base    string       // http://host:port, no trailing slash
	pid     int          // process whose CPU/RSS is reported (0: none)
	vclient *http.Client // vegeta's client for B
}

type cfg struct {
	key         string
	rounds      int
	latDur      time.Duration
	rates       []int
	stepDur     time.Duration
	closedDur   time.Duration
	closedConc  int
	streamConc  []int
	waves       []int
	chunks      int
	pace        time.Duration
	hold        int
	coldRS      string
	coldRSURL   string
	coldBare    string
	coldBareURL string
	coldN       int
	rsBin       string
	bareBin     string
	out         string
	raw         string
	commit      string
	notes       string
	scen        string
	profRate    int
	profDur     time.Duration
	// the dialect scenarios (AM, AR, M, R, MT, RT)
	dialectConc   int
	dialectWaves  int
	dialectLatDur time.Duration
}

func main() {
	var c cfg
	direct := flag.String("direct", "http://127.0.0.1:18080", "fake upstream base URL")
	bare := flag.String("bare", "http://127.0.0.1:18081", "bare proxy base URL ('' to skip)")
	rs := flag.String("runestone", "", "runestone base URL ('' to skip)")
	upPid := flag.Int("upstream-pid", 0, "fake upstream pid")
	barePid := flag.Int("bare-pid", 0, "bare proxy pid")
	rsPid := flag.Int("runestone-pid", 0, "runestone pid")
	flag.StringVar(&c.key, "key", "", "client key sent as Bearer to every tier")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds (tier order rotates each round)")
	flag.DurationVar(&c.latDur, "lat-dur", 3*time.Second, "A: duration of the c=1 loop per tier")
	rates := flag.String("rates", "500,1000,2000,4000", "B: open-loop rates (rps)")
	flag.DurationVar(&c.stepDur, "step-dur", 5*time.Second, "B: duration per rate step")
	flag.DurationVar(&c.closedDur, "closed-dur", 5*time.Second, "B: duration of the closed-loop max-throughput run")
	flag.IntVar(&c.closedConc, "closed-conc", 32, "B: closed-loop workers")
	sconc := flag.String("stream-conc", "64,512", "C: concurrent streams")
	waves := flag.String("waves", "3,2", "C: streams per worker for each -stream-conc entry")
	flag.IntVar(&c.chunks, "chunks", 200, "C/D: content chunks per stream")
	flag.DurationVar(&c.pace, "pace", 5*time.Millisecond, "C/D: chunk pacing")
	flag.IntVar(&c.hold, "hold", 1000, "E: open streams held while RSS is read")
	flag.StringVar(&c.coldRS, "cold-runestone", "", "E: command line that starts a second runestone (cold start)")
	flag.StringVar(&c.coldRSURL, "cold-runestone-url", "", "E: its /health URL")
	flag.StringVar(&c.coldBare, "cold-bare", "", "E: command line that starts a second bare proxy")
	flag.StringVar(&c.coldBareURL, "cold-bare-url", "", "E: its health URL")
	flag.IntVar(&c.coldN, "cold-n", 3, "E: cold starts per binary")
	flag.StringVar(&c.rsBin, "runestone-bin", "", "E: runestone binary (size)")
	flag.StringVar(&c.bareBin, "bare-bin", "", "E: bare proxy binary (size)")
	flag.StringVar(&c.out, "out", "", "write the markdown report here too")
	flag.StringVar(&c.raw, "raw", "", "write every per-round value as JSON here")
	flag.StringVar(&c.commit, "commit", "", "commit for the header")
	flag.StringVar(&c.notes, "notes", "", "extra line for the header (pinning etc.)")
	flag.StringVar(&c.scen, "scenarios", "A,AM,AR,B,C,D,M,R,MT,RT,E", "scenarios to run (T = MT,RT)")
	flag.IntVar(&c.dialectConc, "dialect-conc", 64, "M/R/MT/RT: concurrent streams")
	flag.IntVar(&c.dialectWaves, "dialect-waves", 2, "M/R/MT/RT: streams per worker")
	flag.DurationVar(&c.dialectLatDur, "dialect-lat-dur", time.Second, "AM/AR: duration of the c=1 loop per tier")
	flag.IntVar(&c.profRate, "profile-rate", 0, "only load runestone at this open-loop rate for -profile-dur (for perf), then exit")
	flag.DurationVar(&c.profDur, "profile-dur", 10*time.Second, "duration of -profile-rate")
	flag.Parse()
	c.rates = ints(*rates)
	c.streamConc = ints(*sconc)
	c.waves = ints(*waves)
	for len(c.waves) < len(c.streamConc) {
		c.waves = append(c.waves, 1)
	}

	tiers := []*tier{{name: tDirect, base: *direct, pid: 0}}
	if *bare != "" {
		tiers = append(tiers, &tier{name: tBare, base: *bare, pid: *barePid})
	}
	var rsTier *tier
	if *rs != "" {
		rsTier = &tier{name: tRS, base: *rs, pid: *rsPid}
		tiers = append(tiers, rsTier)
	}
	for _, t := range tiers {
		t.vclient = newVegetaClient()
	}
	_ = upPid

	if c.profRate > 0 {
		if rsTier == nil {
			fmt.Fprintln(os.Stderr, "-profile-rate needs -runestone")
			os.Exit(2)
		}
		r := sweep(&c, rsTier, c.profRate, c.profDur)
		fmt.Fprintf(os.Stderr, "profile load: %d rps for %s: got %.0f p50=%.2fms p99=%.2fms errs=%.0f cpu=%.0f%%\n",
			c.profRate, c.profDur, r.rate, r.p50, r.p99, r.errs, r.cpu)
		return
	}

	res := newResults()
	start := time.Now()
	busyBefore := busy()
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}

	scens := strings.ReplaceAll(","+c.scen+",", ",T,", ",MT,RT,")
	on := func(s string) bool { return strings.Contains(scens, ","+s+",") }
	// E: idle RSS before any load (added to the table after the rounds, to keep E together).
	idle, idleAnon := map[string]float64{}, map[string]float64{}
	for _, t := range tiers {
		if t.pid > 0 {
			idle[t.name] = rssMB(t.pid)
			idleAnon[t.name] = float64(statusKB(t.pid, "RssAnon")) / 1024
		}
	}

	if on("E") {
		// E rows last, in this order, though some are measured during the rounds.
		for _, m := range []string{"idle RSS before the run (MB)", "idle private RSS, RssAnon (MB)", fmt.Sprintf("RSS holding %d streams (MB)", c.hold),
			fmt.Sprintf("streams open of %d", c.hold), "RSS after the run (MB)", "peak RSS over the run, VmHWM (MB)",
			"cold start to first 200 (ms)", "binary size (MB)"} {
			res.reserve("E resources", m, "%.1f")
		}
		res.fmts[rowKey{"E resources", fmt.Sprintf("streams open of %d", c.hold)}] = "%.0f"
	}

	hdr := c.header()
	for round := 0; round < c.rounds; round++ {
		order := make([]*tier, len(tiers))
		for i := range tiers {
			order[i] = tiers[(i+round)%len(tiers)]
		}
		names := []string{}
		for _, t := range order {
			names = append(names, t.name)
		}
		logf("round %d/%d, order %s", round+1, c.rounds, strings.Join(names, " → "))

		// A
		a := map[string]seqResult{}
		for _, t := range order {
			if !on("A") {
				break
			}
			r := sequential(&c, t, c.latDur)
			a[t.name] = r
			logf("A %-9s c=1 n=%d p50=%.0fµs p99=%.0fµs errs=%d", t.name, r.n, r.p50, r.p99, r.errs)
			res.add("A c=1", "p50 latency (µs)", t.name, "%.0f", r.p50)
			res.add("A c=1", "p99 latency (µs)", t.name, "%.0f", r.p99)
			if r.errs > 0 {
				res.add("A c=1", "errors", t.name, "%.0f", float64(r.errs))
			}
			if !math.IsNaN(r.overheadP50) {
				res.add("A c=1", "x-runestone-overhead-ms p50", t.name, "%.2f", r.overheadP50)
			}
		}
		for _, t := range tiers {
			if t.name == tDirect || !on("A") {
				continue
			}
			res.add("A c=1", "added p50 vs direct (µs)", t.name, "%.0f", a[t.name].p50-a[tDirect].p50)
			res.add("A c=1", "added p99 vs direct (µs)", t.name, "%.0f", a[t.name].p99-a[tDirect].p99)
		}

		// AM, AR: the same c=1 loop on /v1/messages and /v1/responses, relayed natively by runestone.
		for _, nd := range []struct {
			flag, scen, path, model string
			d                       dialect
			body                    func(string, bool) []byte
		}{
			{"AM", "A messages c=1 (native)", "/v1/messages", "claude-fake-instant", dMessages, anthropicBody},
			{"AR", "A responses c=1 (native)", "/v1/responses", "resp-fake-instant", dResponses, responsesBody},
		} {
			if !on(nd.flag) {
				continue
			}
			an := map[string]seqResult{}
			for _, t := range order {
				r := sequentialTo(t.base+nd.path, nd.body(nd.model, false), c.dialectHeader(nd.d), c.dialectLatDur)
				an[t.name] = r
				logf("%s %-9s c=1 n=%d p50=%.0fµs p99=%.0fµs errs=%d", nd.flag, t.name, r.n, r.p50, r.p99, r.errs)
				res.add(nd.scen, "p50 latency (µs)", t.name, "%.0f", r.p50)
				res.add(nd.scen, "p99 latency (µs)", t.name, "%.0f", r.p99)
				if r.errs > 0 {
					res.add(nd.scen, "errors", t.name, "%.0f", float64(r.errs))
				}
			}
			for _, t := range tiers {
				if t.name == tDirect {
					continue
				}
				res.add(nd.scen, "added p50 vs direct (µs)", t.name, "%.0f", an[t.name].p50-an[tDirect].p50)
				res.add(nd.scen, "added p99 vs direct (µs)", t.name, "%.0f", an[t.name].p99-an[tDirect].p99)
			}
		}

		// B open loop
		for _, rate := range c.rates {
			if !on("B") {
				break
			}
			scen := fmt.Sprintf("B open %d rps", rate)
			for _, t := range order {
				r := sweep(&c, t, rate, c.stepDur)
				logf("B %-9s %5d rps: got %.0f p50=%.2fms p99=%.2fms errs=%.0f cpu=%.0f%% rss=%.1fMB runq-wait=%.0fms %s",
					t.name, rate, r.rate, r.p50, r.p99, r.errs, r.cpu, r.rss, r.waitMs, r.firstErr)
				res.add(scen, "achieved rps", t.name, "%.0f", r.rate)
				res.add(scen, "p50 (ms)", t.name, "%.2f", r.p50)
				res.add(scen, "p99 (ms)", t.name, "%.2f", r.p99)
				res.add(scen, "errors", t.name, "%.0f", r.errs)
				if t.pid > 0 {
					res.add(scen, "gateway CPU (% of 1 core)", t.name, "%.0f", r.cpu)
					res.add(scen, "gateway peak RSS (MB)", t.name, "%.1f", r.rss)
					res.add(scen, "gateway peak private RSS, RssAnon (MB)", t.name, "%.1f", r.anon)
					res.add(scen, "gateway CPU per request (µs)", t.name, "%.0f", r.cpuPerReq)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		// B closed loop
		for _, t := range order {
			if !on("B") || c.closedConc <= 0 {
				break
			}
			r := closedLoop(&c, t, c.closedConc, c.closedDur)
			logf("B %-9s closed c=%d: %.0f rps p50=%.2fms p99=%.2fms errs=%.0f", t.name, c.closedConc, r.rps, r.p50, r.p99, r.errs)
			scen := fmt.Sprintf("B closed c=%d", c.closedConc)
			res.add(scen, "max rps", t.name, "%.0f", r.rps)
			res.add(scen, "p50 (ms)", t.name, "%.2f", r.p50)
			res.add(scen, "p99 (ms)", t.name, "%.2f", r.p99)
			res.add(scen, "errors", t.name, "%.0f", r.errs)
		}

		// C
		stall := fmt.Sprintf("stalled streams (gap > %s)", 2*c.pace)
		chatModel := fmt.Sprintf("fake-c%d-p%d", c.chunks, c.pace.Milliseconds())
		var chatRef map[string]streamResult // this round's chat relay at -dialect-conc streams, for M/R/MT/RT
		for i, conc := range c.streamConc {
			if !on("C") {
				break
			}
			scen := fmt.Sprintf("C stream %d×%d@%s", conc, c.chunks, c.pace)
			sr := map[string]streamResult{}
			for _, t := range order {
				sp := &streamSpec{url: t.base + "/v1/chat/completions", body: chatBody(chatModel, true),
					conc: conc, waves: c.waves[i], chunks: c.chunks, pace: c.pace, stagger: 100 * time.Millisecond}
				r, cpu, rss := streamStep(&c, logf, "C", t, sp, hdr)
				sr[t.name] = r
				addStream(res, scen, t, r, stall, cpu, rss)
			}
			addStreamDeltas(res, scen, tiers, sr)
			if conc == c.dialectConc {
				chatRef = sr
			}
		}

		// D: Anthropic upstream, translated by runestone; direct = the fake's Anthropic endpoint.
		if rsTier != nil && on("D") {
			conc := 64
			if len(c.streamConc) > 0 && c.streamConc[0] < conc {
				conc = c.streamConc[0]
			}
			scen := fmt.Sprintf("D anthropic→openai %d×%d@%s", conc, c.chunks, c.pace)
			model := fmt.Sprintf("claude-fake-c%d-p%d", c.chunks, c.pace.Milliseconds())
			sr := map[string]streamResult{}
			for _, t := range order {
				var sp *streamSpec
				switch t.name {
				case tDirect:
					sp = &streamSpec{url: t.base + "/v1/messages", body: anthropicBody(model, true), dialect: dMessages,
						hdr: c.dialectHeader(dMessages)}
				case tRS:
					sp = &streamSpec{url: t.base + "/v1/chat/completions", body: chatBody(model, true)}
				default:
					continue
				}
				sp.conc, sp.waves, sp.chunks, sp.pace, sp.stagger = conc, c.waves[0], c.chunks, c.pace, 100*time.Millisecond
				r, cpu, rss := streamStep(&c, logf, "D", t, sp, hdr)
				sr[t.name] = r
				addStream(res, scen, t, r, stall, cpu, rss)
			}
			addStreamDeltas(res, scen, tiers, sr)
		}

		// M, R: a client's own dialect relayed natively (Messages to kind=anthropic, Responses to
		// a kind=openai provider with apis = ["chat", "responses"]); every tier reads the same
		// events. MT, RT: the same dialects translated through chat to the chat-only provider,
		// runestone only. All are set against this round's chat relay (C at -dialect-conc streams).
		natives := []struct {
			flag, scen, path, model string
			d                       dialect
			body                    func(string, bool) []byte
			translated              bool
		}{
			{"M", "M messages native", "/v1/messages", "claude-" + chatModel, dMessages, anthropicBody, false},
			{"R", "R responses native", "/v1/responses", "resp-" + chatModel, dResponses, responsesBody, false},
			{"MT", "MT messages→chat", "/v1/messages", chatModel, dMessages, anthropicBody, true},
			{"RT", "RT responses→chat", "/v1/responses", chatModel, dResponses, responsesBody, true},
		}
		for _, nd := range natives {
			if !on(nd.flag) || (nd.translated && rsTier == nil) {
				continue
			}
			if chatRef == nil && rsTier != nil {
				// C did not run at this concurrency: measure the chat relay reference here.
				chatRef = map[string]streamResult{}
				for _, t := range order {
					sp := &streamSpec{url: t.base + "/v1/chat/completions", body: chatBody(chatModel, true),
						conc: c.dialectConc, waves: c.dialectWaves, chunks: c.chunks, pace: c.pace, stagger: 100 * time.Millisecond}
					chatRef[t.name], _, _ = streamStep(&c, logf, "C-ref", t, sp, hdr)
				}
			}
			scen := fmt.Sprintf("%s %d×%d@%s", nd.scen, c.dialectConc, c.chunks, c.pace)
			sr := map[string]streamResult{}
			for _, t := range order {
				if nd.translated && t.name != tRS {
					continue
				}
				sp := &streamSpec{url: t.base + nd.path, body: nd.body(nd.model, true), dialect: nd.d, hdr: c.dialectHeader(nd.d),
					conc: c.dialectConc, waves: c.dialectWaves, chunks: c.chunks, pace: c.pace, stagger: 100 * time.Millisecond}
				r, cpu, rss := streamStep(&c, logf, nd.flag, t, sp, hdr)
				sr[t.name] = r
				addStream(res, scen, t, r, stall, cpu, rss)
			}
			if nd.translated {
				// the upstream answers chat either way: the chat stream direct is the floor.
				if d, ok := chatRef[tDirect]; ok {
					sr[tDirect] = d
				}
			}
			addStreamDeltas(res, scen, tiers, sr)
			addVsChat(res, scen, sr, chatRef)
		}

		// E: RSS holding open streams (100 chunks at 100 ms: 10 s streams).
		if c.hold > 0 && on("E") {
			for _, t := range order {
				if t.pid <= 0 {
					continue
				}
				rss, _, open := holdStreams(holdSpec(t.base, c.hold), hdr, t.pid, 8*time.Second)
				logf("E %-9s holding %d/%d streams: RSS %.1f MB", t.name, open, c.hold, rss)
				res.add("E resources", fmt.Sprintf("RSS holding %d streams (MB)", c.hold), t.name, "%.1f", rss)
				if open < c.hold {
					res.add("E resources", fmt.Sprintf("streams open of %d", c.hold), t.name, "%.0f", float64(open))
				}
				time.Sleep(300 * time.Millisecond)
			}
		}
	}

	// E: once per run.
	for _, t := range tiers {
		if v, ok := idle[t.name]; ok && on("E") {
			res.add("E resources", "idle RSS before the run (MB)", t.name, "%.1f", v)
			res.add("E resources", "idle private RSS, RssAnon (MB)", t.name, "%.1f", idleAnon[t.name])
		}
	}
	for _, t := range tiers {
		if t.pid > 0 && on("E") {
			res.add("E resources", "RSS after the run (MB)", t.name, "%.1f", rssMB(t.pid))
			res.add("E resources", "peak RSS over the run, VmHWM (MB)", t.name, "%.1f", float64(statusKB(t.pid, "VmHWM"))/1024)
		}
	}
	if !on("E") {
		c.coldBare, c.coldRS, c.bareBin, c.rsBin = "", "", "", ""
	}
	if c.coldBare != "" {
		for i := 0; i < c.coldN; i++ {
			ms, err := coldStart(c.coldBare, c.coldBareURL)
			logf("E bare cold start %.1f ms %v", ms, err)
			if err == nil {
				res.add("E resources", "cold start to first 200 (ms)", tBare, "%.1f", ms)
			}
		}
	}
	if c.coldRS != "" {
		for i := 0; i < c.coldN; i++ {
			ms, err := coldStart(c.coldRS, c.coldRSURL)
			logf("E runestone cold start %.1f ms %v", ms, err)
			if err == nil {
				res.add("E resources", "cold start to first 200 (ms)", tRS, "%.1f", ms)
			}
		}
	}
	for i := 0; i < c.coldN; i++ {
		if c.coldBare != "" {
			freshMemory(&c, res, logf, tBare, c.coldBare, c.coldBareURL)
		}
		if c.coldRS != "" {
			freshMemory(&c, res, logf, tRS, c.coldRS, c.coldRSURL)
		}
	}
	if st, err := os.Stat(c.bareBin); err == nil {
		res.add("E resources", "binary size (MB)", tBare, "%.1f", float64(st.Size())/(1<<20))
	}
	if st, err := os.Stat(c.rsBin); err == nil {
		res.add("E resources", "binary size (MB)", tRS, "%.1f", float64(st.Size())/(1<<20))
	}

	c.notes += "\n- machine load before the run: " + busyBefore + "; after: " + busy()
	report := header(&c, time.Since(start)) + res.table() + legend(&c)
	fmt.Print(report)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(report), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if c.raw != "" {
		if err := res.writeRaw(c.raw); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

func addStream(res *results, scen string, t *tier, r streamResult, stall string, cpu, rss float64) {
	res.add(scen, "TTFT p50 (ms)", t.name, "%.2f", r.ttftP50)
	res.add(scen, "TTFT p99 (ms)", t.name, "%.2f", r.ttftP99)
	res.add(scen, "inter-chunk gap p99 (ms)", t.name, "%.2f", r.gapP99)
	res.add(scen, "max gap (ms)", t.name, "%.1f", r.gapMax)
	res.add(scen, stall, t.name, "%.0f", float64(r.stalled))
	res.add(scen, "streams measured", t.name, "%.0f", float64(r.streams))
	res.add(scen, "failed streams", t.name, "%.0f", float64(r.failed))
	if t.pid > 0 {
		res.add(scen, "gateway CPU (% of 1 core)", t.name, "%.0f", cpu)
		res.add(scen, "gateway peak RSS (MB)", t.name, "%.1f", rss)
		res.add(scen, "gateway CPU per chunk (µs)", t.name, "%.1f", r.cpuPerChunk)
	}
}

// streamStep runs one streaming scenario against one tier, sampling the tier's
// process, logs it and returns the result with the gateway's CPU and peak RSS.
func streamStep(c *cfg, logf func(string, ...any), label string, t *tier, sp *streamSpec, hdr http.Header) (streamResult, float64, float64) {
	s := startSampler(t.pid)
	r := runStreams(sp, hdr)
	cpu, rss := s.finish()
	r.cpuPerChunk = s.cpuSec * 1e6 / float64(r.streams*c.chunks)
	r.waitMs = s.waitMs
	logf("%s %-9s %d streams: ttft p50=%.2f p99=%.2f gap p99=%.2f max=%.1f stalled=%d failed=%d/%d cpu=%.0f%% rss=%.1f cpu/chunk=%.1fµs runq-wait=%.0fms %s",
		label, t.name, sp.conc, r.ttftP50, r.ttftP99, r.gapP99, r.gapMax, r.stalled, r.failed, r.streams, cpu, rss, r.cpuPerChunk, r.waitMs, r.firstErr)
	time.Sleep(200 * time.Millisecond)
	return r, cpu, rss
}

// addVsChat sets runestone's figures in a dialect scenario against its chat relay
// in the same round (ref: C's direct and runestone results): the target is
// within 1.1× of the chat relay's per-chunk CPU and added TTFT.
func addVsChat(res *results, scen string, sr, ref map[string]streamResult) {
	r, ok := sr[tRS]
	cr, ok2 := ref[tRS]
	if !ok || !ok2 {
		return
	}
	if cr.cpuPerChunk > 0 {
		res.add(scen, "chat relay CPU per chunk (µs)", tRS, "%.1f", cr.cpuPerChunk)
		res.add(scen, "CPU per chunk ÷ chat relay", tRS, "%.2f×", r.cpuPerChunk/cr.cpuPerChunk)
	}
	// A Responses event is two to three times a chat chunk's size, so moving its bytes
	// costs any proxy more: the CPU above the bare proxy's on the same stream is the
	// part runestone adds, set against the same for chat.
	b, ok := sr[tBare]
	cb, ok2 := ref[tBare]
	if ok && ok2 && cr.cpuPerChunk-cb.cpuPerChunk > 0 {
		res.add(scen, "CPU per chunk above bare ÷ chat relay's", tRS, "%.2f×",
			(r.cpuPerChunk-b.cpuPerChunk)/(cr.cpuPerChunk-cb.cpuPerChunk))
	}
	d, ok := sr[tDirect]
	cd, ok2 := ref[tDirect]
	if !ok || !ok2 {
		return
	}
	chatAdded := cr.ttftP50 - cd.ttftP50
	res.add(scen, "chat relay added TTFT p50 (ms)", tRS, "%.2f", chatAdded)
	if chatAdded > 0 {
		res.add(scen, "added TTFT p50 ÷ chat relay", tRS, "%.2f×", (r.ttftP50-d.ttftP50)/chatAdded)
	}
}

func addStreamDeltas(res *results, scen string, tiers []*tier, sr map[string]streamResult) {
	d, ok := sr[tDirect]
	if !ok {
		return
	}
	for _, t := range tiers {
		r, ok := sr[t.name]
		if !ok || t.name == tDirect {
			continue
		}
		res.add(scen, "added TTFT p50 (ms)", t.name, "%.2f", r.ttftP50-d.ttftP50)
		res.add(scen, "added TTFT p99 (ms)", t.name, "%.2f", r.ttftP99-d.ttftP99)
		res.add(scen, "added gap p99 (ms)", t.name, "%.2f", r.gapP99-d.gapP99)
	}
}

// coldStart runs cmdline, polls url every 2 ms until a 200, then stops the process.
func coldStart(cmdline, url string) (float64, error) {
	_, ms, stop, err := startGateway(cmdline, url)
	if err != nil {
		return 0, err
	}
	stop()
	return ms, nil
}

// startGateway starts a gateway from its command line and waits for a 200 from url.
// It returns the process, the milliseconds to that first 200 and a func that stops
// the process (its whole group); on error the process is already stopped.
func startGateway(cmdline, url string) (*exec.Cmd, float64, func(), error) {
	f := strings.Fields(cmdline)
	cmd := exec.Command(f[0], f[1:]...)
	cmd.Env = append(os.Environ(), "CI=true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	client := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		select {
		case err := <-exited:
			exited <- err
			stop()
			return nil, 0, nil, fmt.Errorf("exited before answering: %v", err)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, float64(time.Since(t0).Microseconds()) / 1e3, stop, nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop()
	return nil, 0, nil, fmt.Errorf("no 200 from %s within 15s", url)
}

// freshMemory measures the two memory targets on gateways started for just that
// (from the cold-start command line): peak RSS under the top open-loop rate, and RSS
// holding c.hold streams. The long-lived gateways' RSS rows also carry whatever the
// scenarios before them left in the heap, so those rows depend on the order of the
// run; these do not.
func freshMemory(c *cfg, res *results, logf func(string, ...any), name, cmdline, health string) {
	base := strings.TrimSuffix(health, "/health")
	top := slices.Max(c.rates)
	if cmd, _, stop, err := startGateway(cmdline, health); err != nil {
		logf("E %-9s fresh process: %v", name, err)
	} else {
		pid := cmd.Process.Pid
		r := sweep(c, &tier{name: name, base: base, pid: pid, vclient: newVegetaClient()}, top, c.stepDur)
		hwm := float64(statusKB(pid, "VmHWM")) / 1024
		stop()
		logf("E %-9s fresh process, %d rps: got %.0f errs=%.0f peak RSS %.1f MB, RssAnon %.1f MB", name, top, r.rate, r.errs, hwm, r.anon)
		res.add("E resources", fmt.Sprintf("fresh process: peak RSS at %d rps, VmHWM (MB)", top), name, "%.1f", hwm)
		res.add("E resources", fmt.Sprintf("fresh process: peak RssAnon at %d rps (MB)", top), name, "%.1f", r.anon)
	}
	if c.hold <= 0 {
		return
	}
	if cmd, _, stop, err := startGateway(cmdline, health); err != nil {
		logf("E %-9s fresh process: %v", name, err)
	} else {
		pid := cmd.Process.Pid
		rss, anon, open := holdStreams(holdSpec(base, c.hold), c.header(), pid, 8*time.Second)
		stop()
		logf("E %-9s fresh process holding %d/%d streams: RSS %.1f MB, RssAnon %.1f MB", name, open, c.hold, rss, anon)
		res.add("E resources", fmt.Sprintf("fresh process: RSS holding %d streams (MB)", c.hold), name, "%.1f", rss)
		res.add("E resources", fmt.Sprintf("fresh process: RssAnon holding %d streams (MB)", c.hold), name, "%.1f", anon)
	}
}

func ints(s string) []int {
	var out []int
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad number %q\n", p)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

// numCPU counts the machine's CPUs (runtime.NumCPU sees only our taskset mask).
func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	n := strings.Count(string(b), "\nprocessor")
	if strings.HasPrefix(string(b), "processor") {
		n++
	}
	if n == 0 {
		n = runtime.NumCPU()
	}
	return n
}

// busy describes how loaded the machine is: load average and CPU pressure (PSI),
// since other work on the box shows up in every column.
func busy() string {
	la, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(la))
	out := "load average"
	if len(f) >= 3 {
		out += " " + strings.Join(f[:3], " ")
	}
	if p, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		line := strings.SplitN(string(p), "\n", 2)[0] // "some avg10=.. avg60=.. avg300=.. total=.."
		if g := strings.Fields(line); len(g) >= 3 {
			out += ", CPU pressure " + g[1] + " " + g[2]
		}
	}
	return out
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.IndexByte(l, ':'); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return "unknown"
}

func header(c *cfg, took time.Duration) string {
	var b strings.Builder
	b.WriteString("# Runestone benchmark results\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- commit: %s\n", c.commit)
	fmt.Fprintf(&b, "- machine: %d CPUs (%s), %s, %s/%s\n", numCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if c.notes != "" {
		fmt.Fprintf(&b, "- %s\n", c.notes)
	}
	fmt.Fprintf(&b, "- scenarios %s; rounds: %d (tier order rotates each round); A %s per tier (AM/AR %s); B %v rps × %s, closed loop c=%d × %s; C/D %d chunks @ %s, streams %v, waves %v; M/R/MT/RT %d streams × %d waves; E holds %d streams\n",
		c.scen, c.rounds, c.latDur, c.dialectLatDur, c.rates, c.stepDur, c.closedConc, c.closedDur, c.chunks, c.pace, c.streamConc, c.waves,
		c.dialectConc, c.dialectWaves, c.hold)
	fmt.Fprintf(&b, "- run took %s\n\n", took.Round(time.Second))
	b.WriteString("Every cell is the median over rounds. \"added\" rows are computed per round (tier minus direct) and then the median taken.\n\n")
	return b.String()
}

func legend(c *cfg) string {
	return `
Notes:
- direct = the load generator straight to bench/cmd/fakeupstream; bare = bench/cmd/bareproxy (httputil.ReverseProxy, tuned transport, FlushInterval -1);
  runestone = ` + "`runestone serve`" + ` with auth on (stored key), SQLite request log and body capture on, limits 0 (unlimited).
- A: closed loop of sequential requests, own timer, 200 warm-up requests. B open: vegeta constant rate (no coordinated omission);
  achieved rps = successful responses per second. B closed: N goroutines back to back.
- C/D: TTFT = request start to the first non-empty content delta; gaps between consecutive content deltas; a stream "stalls" when any gap exceeds 2× the pacing.
  D direct = the fake's Anthropic /v1/messages read as Anthropic events; runestone = the same model through kind=anthropic, read as OpenAI chunks.
- AM/AR: A's c=1 loop on /v1/messages and /v1/responses, non-stream; runestone relays both natively (kind=anthropic; kind=openai with apis = ["chat", "responses"]).
- M/R: a client's own dialect relayed natively: /v1/messages (content_block_delta text_delta) to kind=anthropic, /v1/responses
  (response.output_text.delta) to kind=openai with apis = ["chat", "responses"]; direct and bare hit the fake's same endpoint.
  MT/RT: the same two dialects translated by runestone to the chat-only kind=openai provider (runestone only; direct = the fake's chat stream,
  the upstream's side either way). Responses requests leave store at its default, so runestone keeps every answer (one SQLite write per request).
  "chat relay" rows: runestone's chat relay in the same round (C at the same concurrency); the "÷ chat relay" rows are the issue's
  target (≤ 1.10× for native relays), medians of per-round ratios. A Responses event is 2-3× a chat chunk's bytes, which costs the
  bare proxy more too: "CPU per chunk above bare ÷ chat relay's" compares only what runestone adds over the bare proxy.
- gateway CPU = utime+stime from /proc/<pid>/stat over the step, in % of one core; RSS from /proc/<pid>/status.
  CPU per request / per chunk counts only time on CPU, so it is the figure least disturbed by other work on a shared machine.
  bench/out/loadgen.log has every round's raw figures, including runq-wait: the time the gateway's threads were runnable
  but not running (/proc/<pid>/task/*/schedstat), from other work on the box and from the process's own threads sharing one core.
- The load generator and fake upstream share one core, so at high rates and 512 streams the direct column is bounded by that core, not the upstream.
`
}
