package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/cassette"
	"github.com/jmanhype/runestone/internal/store"
)

func runExec(t *testing.T, env map[string]string, home string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb logsBuffer
	f := &Factory{Out: &out, Err: &errb, Home: home, Getenv: func(k string) string { return env[k] }}
	code = Execute(context.Background(), f, BuildInfo{}, args)
	return code, out.String(), errb.String()
}

func TestExecSetsEnvAndPassesExitCode(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	code, out, errOut := runExec(t, nil, "", "exec", "--replay", dir, "--",
		"sh", "-c", `echo "$OPENAI_BASE_URL $ANTHROPIC_BASE_URL $OPENAI_API_KEY $ANTHROPIC_API_KEY"; exit 3`)
	if code != 3 {
		t.Fatalf("exit %d, want the command's 3 (stderr %q)", code, errOut)
	}
	m := regexp.MustCompile(`^http://127\.0\.0\.1:(\d+)/v1 http://127\.0\.0\.1:(\d+) (sk-rs-\S+) (sk-rs-\S+)\n$`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[3] != m[4] || m[1] == "4001" {
		t.Fatalf("command saw %q", out)
	}
	if want := "runestone exec: 0 replayed, 0 recorded, 0 misses (recording into " + dir + ")\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	code, _, _ = runExec(t, nil, "", "exec", "--replay", dir, "--", "sh", "-c", "exit 0")
	if code != 0 {
		t.Errorf("exit %d for a passing command", code)
	}
}

func TestExecKeyWorksAgainstTheGateway(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	dir := t.TempDir()
	code, out, errOut := runExec(t, map[string]string{"CI": "true"}, t.TempDir(), "exec", "--replay", dir, "--",
		"sh", "-c", `curl -s -o /dev/null -w '%{http_code} ' -H "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/models";`+
			`curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" "$OPENAI_BASE_URL/models"`)
	if code != 0 || out != "200 401" {
		t.Fatalf("exit %d, statuses %q (stderr %q)", code, out, errOut)
	}
	// CI makes replay strict: no record-on-miss.
	if !strings.Contains(errOut, "0 replayed (strict), 0 recorded, 0 misses\n") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestExecUsage(t *testing.T) {
	// Without cassettes the command simply runs against a throw-away gateway.
	if code, _, errOut := runExec(t, nil, "", "exec", "--", "true"); code != 0 || errOut != "" {
		t.Errorf("no cassettes: exit %d %q", code, errOut)
	}
	if code, _, errOut := runExec(t, nil, "", "exec", "--record", t.TempDir(), "--record-mock", "--", "/nonexistent/cmd"); code != 127 {
		t.Errorf("missing command: exit %d %q", code, errOut)
	}
	if code, _, errOut := runExec(t, nil, "", "exec", "--replay", t.TempDir(), "--replay-speed", "-1", "--", "true"); code != 2 {
		t.Errorf("negative speed: exit %d %q", code, errOut)
	}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "x.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runExec(t, nil, "", "exec", "--replay", broken, "--", "true"); code != 1 || !strings.Contains(errOut, "x.json") {
		t.Errorf("broken cassette: exit %d %q", code, errOut)
	}
}

func recordChat(t *testing.T, dir, q, answer string) {
	t.Helper()
	r, err := cassette.NewRecorder(dir, cassette.RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tk := r.Begin("/v1/chat/completions", "POST", nil, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"`+q+`"}]}`))
	tk.Header(200, http.Header{"Content-Type": {"application/json"}})
	tk.Body([]byte(`{"choices":[{"message":{"role":"assistant","content":"` + answer + `"},"finish_reason":"stop"}]}`))
	if err := tk.End(); err != nil {
		t.Fatal(err)
	}
}

func TestCassettesCheckAndDiff(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	recordChat(t, d1, "hi", "Hello")
	recordChat(t, d2, "hi", "Bonjour")
	code, out, errOut := runExec(t, nil, "", "cassettes", "check", d1)
	if code != 0 || !strings.Contains(out, "chat-completions-gpt-4o-mini-") || !strings.Contains(out, `"Hello" stop=stop`) || errOut != "1 cassette valid.\n" {
		t.Errorf("check: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runExec(t, nil, "", "cassettes", "diff", d1, d2)
	if code != 1 || !strings.Contains(out, `text: "Hello" → "Bonjour"`) {
		t.Errorf("diff: exit %d\n%s", code, out)
	}
	if code, _, errOut := runExec(t, nil, "", "cassettes", "diff", d1, d1); code != 0 || errOut != "No differences.\n" {
		t.Errorf("diff of a folder with itself: exit %d %q", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(d1, "bad.json"), []byte(`{"version":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runExec(t, nil, "", "cassettes", "check", d1); code != 1 || !strings.Contains(errOut, "bad.json") {
		t.Errorf("check of a bad file: exit %d %q", code, errOut)
	}
}

func TestLogsExportCassettes(t *testing.T) {
	e := newLogsEnv(t)
	e.seed(t,
		store.RequestRow{ID: "req_a", Started: time.Now(), Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", Status: 200, Stream: true,
			RequestBody:  `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			ResponseBody: "Hello there"},
		store.RequestRow{ID: "req_b", Started: time.Now(), Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", Status: 200,
			RequestBody: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"key sk-proj-AAAAAAAAAAAAAAAAA"}]}`, ResponseBody: `{"choices":[]}`},
		store.RequestRow{ID: "req_c", Started: time.Now(), Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", Status: 200, RequestBody: `{"model":"x","messag…[truncated 10 bytes]`},
	)
	dir := filepath.Join(t.TempDir(), "tapes")
	if err := e.run(context.Background(), "logs", "export", "--cassettes", dir, "--since", "100000d"); err != nil {
		t.Fatal(err)
	}
	sums, err := cassette.Check(dir, cassette.ReadOptions{})
	if err != nil || len(sums) != 2 {
		t.Fatalf("check: %v %+v\nstderr %s", err, sums, e.err.String())
	}
	if !strings.Contains(e.err.String(), "req_c") || !strings.Contains(e.err.String(), "2 cassettes written") {
		t.Errorf("stderr %q", e.err.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("sk-proj-AAAA")) {
			t.Errorf("%s keeps a key", f)
		}
	}
	// By id.
	dir2 := t.TempDir()
	if err := e.run(context.Background(), "logs", "export", "req_a", "--cassettes", dir2); err != nil {
		t.Fatal(err)
	}
	if sums, _ := cassette.Check(dir2, cassette.ReadOptions{}); len(sums) != 1 || sums[0].Events != 4 || sums[0].Answer != `"Hello there" stop=stop` {
		t.Errorf("by id: %+v", sums)
	}
}

// TestExecForwardsSIGTERM signals this process, as a CI runner cancelling a job would,
// and expects the command's trap to run and its exit code to come back.
func TestExecForwardsSIGTERM(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	var out, errb logsBuffer
	f := &Factory{Out: &out, Err: &errb, Getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- Execute(context.Background(), f, BuildInfo{}, []string{"exec", "--replay", t.TempDir(), "--",
			"sh", "-c", `trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done`})
	}()
	for !strings.Contains(out.String(), "ready") {
		select {
		case code := <-done:
			t.Fatalf("exec ended early with %d: %s %s", code, out.String(), errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 42 || !strings.Contains(out.String(), "got-term") {
			t.Errorf("exit %d, output %q", code, out.String())
		}
	case <-time.After(time.Minute): // a hang guard, not a timing assertion
		t.Fatal("the command never saw SIGTERM")
	}
}
