package server_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
)

// buildBinary builds cmd/runestone into dir. TestProcess builds once and its
// subtests share the binary (a -count=N run rebuilds, from the build cache).
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "runestone")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/jmanhype/runestone/cmd/runestone").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running `runestone serve`.
type proc struct {
	cmd    *exec.Cmd
	URL    string
	stderr *syncBuffer
	waited chan error
}

var listening = regexp.MustCompile(`listening on (http://[^/\s]+)/v1`)

// startProc starts `runestone serve` on a free port; env entries given override the defaults.
func startProc(t *testing.T, bin, home string, env ...string) *proc {
	t.Helper()
	return startProcArgs(t, bin, home, nil, env...)
}

// startProcArgs is startProc with more serve flags (--record DIR --record-mock, say).
func startProcArgs(t *testing.T, bin, home string, args []string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--no-tui", "--home", home, "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "CI=true", "RUNESTONE_AUTH_ENABLED=false", "OPENAI_API_KEY=", "ANTHROPIC_API_KEY=",
		"RUNESTONE_RATE_LIMIT_RPM=0", "RUNESTONE_RATE_LIMIT_RPH=0", "RUNESTONE_MAX_CONCURRENT=0")
	cmd.Env = append(cmd.Env, env...) // the last value of a duplicated name wins
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, waited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { p.waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.waited
	})
	select {
	case p.URL = <-urls:
	case err := <-p.waited:
		p.waited <- err
		t.Fatalf("serve exited at start: %v\n%s", err, p.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not start:\n%s", p.stderr.String())
	}
	return p
}

// wait returns the process's exit code.
func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.waited:
		p.waited <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("the process did not exit within %v:\n%s", within, p.stderr.String())
		return -1
	}
}

func rowCount(t *testing.T, home string) (int, map[string]bool) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(home, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.ListRequests(context.Background(), store.RequestFilter{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range rows {
		ids[r.ID] = true
	}
	return len(rows), ids
}

func integrityCheck(t *testing.T, home string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatal(err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check: %s", res)
	}
}

// TestProcess runs the real binary: killed with SIGKILL under write-heavy load it
// leaves a sound database holding every committed row and restarts; stopped with
// SIGTERM it finishes the streams in flight, logs every answered request and exits 0.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t, t.TempDir())

	t.Run("kill -9 under load", func(t *testing.T) {
		home := t.TempDir()
		p := startProc(t, bin, home)
		stop := make(chan struct{})
		var answered atomic.Int64
		var wg sync.WaitGroup
		tr := &http.Transport{MaxIdleConnsPerHost: 16}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					body := fmt.Sprintf(`{"model":"mock","stream":%v,"messages":[{"role":"user","content":"kill %d %d %s"}]}`, i%2 == 0, w, i, strings.Repeat("x", 500))
					resp, err := client.Post(p.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
					if err != nil {
						return // the process is gone
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					answered.Add(1)
				}
			}(w)
		}
		time.Sleep(1500 * time.Millisecond)
		// Rows another connection can already see are committed: they must survive.
		committed, before := rowCount(t, home)
		time.Sleep(200 * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		if code := p.wait(t, 5*time.Second); code != -1 && code != 137 {
			t.Logf("exit code after SIGKILL: %d", code)
		}
		integrityCheck(t, home)
		n, after := rowCount(t, home)
		t.Logf("%d requests answered, %d rows committed before the kill, %d rows after", answered.Load(), committed, n)
		if committed == 0 {
			t.Fatal("no row was committed under load before the kill")
		}
		for id := range before {
			if !after[id] {
				t.Fatalf("committed row %s is gone after the kill", id)
			}
		}
		// The gateway starts again on the same home and keeps logging.
		p2 := startProc(t, bin, home)
		resp, err := http.Post(p2.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"mock","messages":[{"role":"user","content":"after the kill"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("after restart: %d", resp.StatusCode)
		}
		id := resp.Header.Get("X-Request-Id")
		if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p2.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("exit code %d after SIGTERM:\n%s", code, p2.stderr.String())
		}
		integrityCheck(t, home)
		if _, ids := rowCount(t, home); !ids[id] {
			t.Fatal("the request after the restart has no row")
		}
	})

	t.Run("SIGTERM drains streams", func(t *testing.T) {
		home := t.TempDir()
		p := startProc(t, bin, home)
		type answer struct {
			id, body string
			status   int
		}
		var mu sync.Mutex
		var answers []answer
		var wg sync.WaitGroup
		tr := &http.Transport{MaxIdleConnsPerHost: 32}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
		started := make(chan struct{}, 64)
		send := func(stream bool, i int) {
			defer wg.Done()
			body := fmt.Sprintf(`{"model":"mock","stream":%v,"messages":[{"role":"user","content":"drain %d"}]}`, stream, i)
			req, _ := http.NewRequest("POST", p.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if stream {
				req.Header.Set("x-mock-chunks", "20")
				req.Header.Set("x-mock-chunk-delay-ms", "75") // 1.5s per stream
			}
			resp, err := client.Do(req)
			if err != nil {
				return // refused after the signal: never answered
			}
			started <- struct{}{}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Errorf("stream %d cut during the drain: %v (%q)", i, err, b)
				return
			}
			mu.Lock()
			answers = append(answers, answer{resp.Header.Get("X-Request-Id"), string(b), resp.StatusCode})
			mu.Unlock()
		}
		for i := 0; i < 24; i++ {
			wg.Add(1)
			go send(true, i)
		}
		for i := 0; i < 24; i++ {
			<-started
		}
		// A few plain requests around the signal too.
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go send(false, 100+i)
		}
		time.Sleep(300 * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("exit code %d:\n%s", code, p.stderr.String())
		}
		streams := 0
		for _, a := range answers {
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			if strings.Contains(a.body, "data: ") {
				streams++
				if !strings.HasSuffix(a.body, "data: [DONE]\n\n") {
					t.Fatalf("stream %s did not finish: %q", a.id, a.body)
				}
			}
		}
		if streams != 24 {
			t.Fatalf("%d of 24 streams finished", streams)
		}
		n, ids := rowCount(t, home)
		for _, a := range answers {
			if !ids[a.id] {
				t.Fatalf("answered request %s has no row (%d rows)", a.id, n)
			}
		}
		integrityCheck(t, home)
		t.Logf("%d answered (%d streams), %d rows", len(answers), streams, n)
	})

	t.Run("a second Ctrl-C during the drain exits 130", func(t *testing.T) {
		p := startProc(t, bin, t.TempDir())
		// A 20s stream keeps the drain open.
		req, _ := http.NewRequest("POST", p.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"mock","stream":true,"messages":[{"role":"user","content":"slow"}]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-mock-chunks", "200")
		req.Header.Set("x-mock-chunk-delay-ms", "100")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("the slow stream was refused: %d %s", resp.StatusCode, b)
		}
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "Shutting down"); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no drain after the first Ctrl-C:\n%s", p.stderr.String())
			}
		}
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		// Well before the stream would have finished (20s), the process is gone.
		if code := p.wait(t, 10*time.Second); code != 130 {
			t.Fatalf("exit code %d after a second Ctrl-C, want 130:\n%s", code, p.stderr.String())
		}
		if !strings.Contains(p.stderr.String(), "Interrupted again") {
			t.Errorf("no note on stderr:\n%s", p.stderr.String())
		}
	})
}
