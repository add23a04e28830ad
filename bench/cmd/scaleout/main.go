// Command scaleout measures what Redis-shared limits cost one replica: the same
// `runestone serve` (PostgreSQL store) against the fake upstream, first with
// in-process limits and then with limits in Redis, each driven by a closed loop;
// it prints both rates and their ratio, and how long a fresh replica takes to its
// first answered request. bench/scaleout.sh starts the services and calls it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type opts struct {
	bin, upstream, redis, pg, pin, dir  string
	store                               string
	conc, port, fresh, redisPID, rounds int
	upPID                               int
	dur, warm                           time.Duration
	modes                               []string
}

func main() {
	var o opts
	var modes string
	flag.StringVar(&o.bin, "bin", "runestone", "runestone binary")
	flag.StringVar(&o.upstream, "upstream", "http://127.0.0.1:18180", "fake upstream base URL")
	flag.StringVar(&o.redis, "redis", "redis://127.0.0.1:6399/3", "Redis URL for the redis mode")
	flag.StringVar(&o.pg, "pg", "", "PostgreSQL DSN, for -store postgres")
	flag.StringVar(&o.store, "store", "sqlite", "store in both modes: sqlite (one file shared by the homes) or postgres")
	flag.StringVar(&o.pin, "pin", "", "command prefix for runestone, e.g. \"taskset -c 1\"")
	flag.StringVar(&o.dir, "dir", "", "work directory (homes, logs); a temporary one when empty")
	flag.IntVar(&o.conc, "c", 32, "closed-loop workers")
	flag.IntVar(&o.port, "port", 18190, "first port for runestone replicas")
	flag.IntVar(&o.upPID, "upstream-pid", 0, "the fake upstream's pid, to report its CPU per request (0: not reported)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds, each measuring every mode")
	flag.IntVar(&o.fresh, "fresh", 5, "fresh replicas started to time the first request")
	flag.DurationVar(&o.dur, "dur", 5*time.Second, "measured closed-loop duration")
	flag.DurationVar(&o.warm, "warm", time.Second, "unmeasured closed loop before it")
	flag.IntVar(&o.redisPID, "redis-pid", 0, "redis-server's pid, to report its CPU per request (0: not reported)")
	flag.StringVar(&modes, "modes", "memory,redis", "limits backends to measure")
	flag.Parse()
	o.modes = strings.Split(modes, ",")
	if o.store == "postgres" && o.pg == "" {
		fail("-store postgres needs -pg")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "runestone-scaleout")
		if err != nil {
			fail(err.Error())
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	key := createKey(&o)
	// Rounds alternate the modes, so a neighbour's load on a shared machine hits
	// both; each round's ratio compares runs seconds apart.
	res := map[string][]result{}
	var ratios []float64
	for round := range o.rounds {
		for i, m := range o.modes {
			r := measure(&o, m, key, o.port+i*10)
			res[m] = append(res[m], r)
			fmt.Printf("round %d %-7s %s store, closed loop c=%d %s: %.0f rps (p50 %.2f ms, p99 %.2f ms, %d errors); CPU per request: runestone %.1f µs, redis-server %.1f µs, load+upstream %.1f µs\n",
				round+1, m, o.store, o.conc, o.dur, r.rps, r.p50, r.p99, r.errs, r.gwCPU, r.redisCPU, r.loadCPU)
		}
		if n := len(res["redis"]); n > 0 && len(res["memory"]) == n {
			ratios = append(ratios, res["redis"][n-1].rps/res["memory"][n-1].rps)
		}
	}
	for i, m := range o.modes {
		var rps, gw, rd []float64
		for _, r := range res[m] {
			rps, gw, rd = append(rps, r.rps), append(gw, r.gwCPU), append(rd, r.redisCPU)
		}
		fmt.Printf("%-7s median of %d: %.0f rps; CPU per request: runestone %.1f µs, redis-server %.1f µs\n",
			m, o.rounds, median(rps), median(gw), median(rd))
		if o.fresh > 0 {
			firsts, readies := freshReplicas(&o, m, key, o.port+i*10+1)
			fmt.Printf("%-7s fresh replica (median of %d): start to ready %.1f ms; first request %.2f ms; second %.2f ms (all first: %s)\n",
				m, o.fresh, median(readies), median(firsts[0]), median(firsts[1]), fmtMS(firsts[0]))
		}
	}
	if len(ratios) > 0 {
		fmt.Printf("ratio redis/memory rps: median %.2f of rounds %s\n", median(ratios), fmtF(ratios))
	}
}

func fmtF(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, ",")
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "scaleout:", msg)
	os.Exit(1)
}

// home writes a runestone home for one limits backend.
func home(o *opts, name, mode string) string {
	h := filepath.Join(o.dir, name)
	dsn := o.pg
	if o.store == "sqlite" {
		// One home (its database holds the key) rewritten per mode: replicas run one
		// at a time.
		dsn, h = "", filepath.Join(o.dir, "sqlite-home")
	}
	if err := os.MkdirAll(h, 0o700); err != nil {
		fail(err.Error())
	}
	redisLine := ""
	if mode == "redis" {
		redisLine = fmt.Sprintf("redis_url = %q\n", o.redis)
	}
	cfg := fmt.Sprintf(`# written by bench/cmd/scaleout
[auth]
enabled = true

[store]
driver = %q
dsn = %q

[limits]
backend = %q
%s
[[providers]]
name = "fakeai"
kind = "openai"
base_url = "%s/v1"
api_key = "sk-fake-upstream"
models = ["fake-instant"]

[pricing."fake-instant"]
input = 0.15
output = 0.60
`, o.store, dsn, mode, redisLine, o.upstream)
	if err := os.WriteFile(filepath.Join(h, "config.toml"), []byte(cfg), 0o600); err != nil {
		fail(err.Error())
	}
	return h
}

// createKey stores one key whose limits are high enough never to refuse but
// non-zero, so every check does its work.
func createKey(o *opts) string {
	h := home(o, "keys", "memory")
	cmd := exec.Command(o.bin, "keys", "create", "--name", "bench", "--rpm", "10000000", "--rph", "100000000", "--tpm", "1000000000",
		"--concurrent", "100000", "--json")
	cmd.Env = append(os.Environ(), "RUNESTONE_HOME="+h, "CI=true")
	out, err := cmd.Output()
	if err != nil {
		fail(fmt.Sprintf("keys create: %v: %s", err, out))
	}
	var k struct{ Secret string }
	if err := json.Unmarshal(out, &k); err != nil || k.Secret == "" {
		fail(fmt.Sprintf("keys create: no secret in %s", out))
	}
	return k.Secret
}

type replica struct {
	cmd  *exec.Cmd
	base string
}

func start(o *opts, h string, port int) *replica {
	args := append(strings.Fields(o.pin), o.bin, "serve", "--no-tui", "--home", h, "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "CI=true")
	lf, err := os.Create(filepath.Join(h, fmt.Sprintf("serve-%d.log", port)))
	if err != nil {
		fail(err.Error())
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		fail(err.Error())
	}
	return &replica{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

func (r *replica) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

// ready polls /health every millisecond and returns when it answers.
func (r *replica) ready(c *http.Client) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(r.base + "/health"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	fail("replica did not become healthy: see its serve-*.log under -dir")
}

var body = []byte(`{"model":"fake-instant","messages":[{"role":"user","content":"hi"}]}`)

func chat(c *http.Client, base, key string) (int, error) {
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func client(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}}
}

type result struct {
	rps, p50, p99   float64
	errs            int64
	gwCPU, redisCPU float64 // µs on CPU per answered request
	loadCPU         float64 // the load generator (this process) and the fake upstream
}

// cpu is a process's utime+stime from /proc/<pid>/stat (Linux), 0 when unreadable.
func cpu(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if pid == 0 || err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func measure(o *opts, mode, key string, port int) result {
	r := start(o, home(o, "serve-"+mode, mode), port)
	defer r.stop()
	c := client(o.conc)
	defer c.CloseIdleConnections()
	r.ready(c)
	if code, err := chat(c, r.base, key); err != nil || code != 200 {
		fail(fmt.Sprintf("%s: probe request: %d %v", mode, code, err))
	}
	loop(c, r.base, key, o.conc, o.warm)
	g0, r0, l0 := cpu(r.cmd.Process.Pid), cpu(o.redisPID), cpu(os.Getpid())+cpu(o.upPID)
	res := loop(c, r.base, key, o.conc, o.dur)
	n := res.rps * o.dur.Seconds()
	res.loadCPU = float64((cpu(os.Getpid()) + cpu(o.upPID) - l0).Microseconds()) / n
	res.gwCPU = float64((cpu(r.cmd.Process.Pid) - g0).Microseconds()) / n
	res.redisCPU = float64((cpu(o.redisPID) - r0).Microseconds()) / n
	return res
}

func loop(c *http.Client, base, key string, workers int, dur time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var ok, bad atomic.Int64
	lats := make([][]float64, workers)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				s := time.Now()
				code, err := chat(c, base, key)
				switch {
				case err != nil && ctx.Err() != nil:
				case err != nil || code != 200:
					bad.Add(1)
				default:
					ok.Add(1)
					lats[w] = append(lats[w], float64(time.Since(s).Microseconds())/1e3)
				}
			}
		})
	}
	wg.Wait()
	var all []float64
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Float64s(all)
	return result{rps: float64(ok.Load()) / time.Since(t0).Seconds(), p50: pct(all, .5), p99: pct(all, .99), errs: bad.Load()}
}

// freshReplicas starts replicas one at a time against the already-populated store
// and Redis: the time to a healthy /health, then the first and second request's
// latencies (ms) on a fresh client connection each.
func freshReplicas(o *opts, mode, key string, port int) (firsts [2][]float64, readies []float64) {
	for i := range o.fresh {
		h := home(o, fmt.Sprintf("fresh-%s-%d", mode, i), mode)
		t0 := time.Now()
		r := start(o, h, port)
		c := client(1)
		r.ready(c)
		readies = append(readies, float64(time.Since(t0).Microseconds())/1e3)
		for j := range 2 {
			s := time.Now()
			if code, err := chat(c, r.base, key); err != nil || code != 200 {
				fail(fmt.Sprintf("%s fresh replica: request %d: %d %v", mode, j, code, err))
			}
			firsts[j] = append(firsts[j], float64(time.Since(s).Microseconds())/1e3)
		}
		c.CloseIdleConnections()
		r.stop()
	}
	return firsts, readies
}

func pct(s []float64, p float64) float64 {
	if len(s) == 0 {
		return 0
	}
	return s[min(int(p*float64(len(s))), len(s)-1)]
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return pct(s, .5)
}

func fmtMS(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, ",") + " ms"
}
