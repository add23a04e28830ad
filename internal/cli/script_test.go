package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The scripts in testdata/script at the repository root drive the real command tree
// as a real process: "runestone" in a script is this test binary under that name, set
// up on $PATH by testscript.Main (see main_test.go).
func TestScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("the CLI scripts start processes")
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("..", "..", "testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("RUNESTONE_HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("CI", "true")
			// Under -race every process sleeps 1s at exit by default; the scripts start dozens.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			// Nothing on the default 127.0.0.1:4001 (a developer's own gateway) may leak
			// into a script: every script gets its own free address.
			port, err := freePort()
			if err != nil {
				return err
			}
			env.Setenv("RUNESTONE_ADDR", "127.0.0.1:"+port)
			env.Setenv("ADDR", "127.0.0.1:"+port)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":        cmdExits,
			"waitfor":      cmdWaitFor,
			"httpreq":      cmdHTTPReq,
			"fakeupstream": cmdFakeUpstream,
			"stdoutenv":    cmdStdoutEnv,
			"fakevendors":  cmdFakeVendors,
		},
	})
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// exits CODE PROGRAM [ARGS...] runs PROGRAM like exec and asserts its exact exit code.
// stdout and stderr are kept for the following stdout/stderr checks.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// waitfor URL polls URL until it answers 200 (10 s at most).
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfor URL")
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer 200 within 10s (last error: %v)", args[0], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpreq [-H 'Name: value']... METHOD URL [BODY] makes one request and prints
// "status NNN", the response headers that matter here, then the body.
func cmdHTTPReq(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! httpreq (assert on the printed status instead)")
	}
	var headers [][2]string
	for len(args) >= 2 && args[0] == "-H" {
		k, v, ok := strings.Cut(args[1], ":")
		if !ok {
			ts.Fatalf("httpreq: header %q is not 'Name: value'", args[1])
		}
		headers = append(headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		args = args[2:]
	}
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: httpreq [-H 'Name: value']... METHOD URL [BODY]")
	}
	var body io.Reader
	if len(args) == 3 {
		body = strings.NewReader(args[2])
	}
	req, err := http.NewRequest(args[0], args[1], body)
	ts.Check(err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "status %d\n", resp.StatusCode)
	for _, h := range []string{"X-Request-Id", "X-Runestone-Provider"} {
		if v := resp.Header.Get(h); v != "" {
			fmt.Fprintf(ts.Stdout(), "%s: %s\n", strings.ToLower(h), v)
		}
	}
	fmt.Fprintf(ts.Stdout(), "%s\n", data)
}

// fakeupstream VAR starts an OpenAI-compatible upstream for this script and sets VAR
// to its base URL. It answers chat completions with 200 when the bearer key is
// "sk-upstream-good-0123456789abcdef" and with OpenAI's 401 otherwise.
func cmdFakeUpstream(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fakeupstream VAR")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer sk-upstream-good-0123456789abcdef" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
			return
		}
		if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}`)
			return
		}
		io.WriteString(w, `{"id":"chatcmpl-fake","object":"chat.completion","created":1,"model":"fake-model",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL+"/v1")
}

// stdoutenv VAR [FIELD] sets VAR to the last command's stdout (trimmed), or to the
// string FIELD of the JSON object it printed.
func cmdStdoutEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: stdoutenv VAR [FIELD]")
	}
	out := ts.ReadFile("stdout")
	if len(args) == 1 {
		ts.Setenv(args[0], strings.TrimSpace(out))
		return
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		ts.Fatalf("stdoutenv: stdout is not a JSON object: %v", err)
	}
	v, ok := obj[args[1]].(string)
	if !ok {
		ts.Fatalf("stdoutenv: stdout has no string field %q", args[1])
	}
	ts.Setenv(args[0], v)
}

// fakevendors OPENAI_VAR ANTHROPIC_VAR starts a fake OpenAI (base URL with /v1, as
// OPENAI_BASE_URL takes it) and a fake Anthropic (bare, as ANTHROPIC_BASE_URL takes
// it). Both accept any key and answer with the model they were asked for, so a
// script sees which names reached the vendor; both list one model of their own.
func cmdFakeVendors(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: fakevendors OPENAI_VAR ANTHROPIC_VAR")
	}
	model := func(r *http.Request) string {
		var body struct {
			Model string `json:"model"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		return body.Model
	}
	oai := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/models":
			io.WriteString(w, `{"object":"list","data":[{"id":"my-finetune","object":"model"}]}`)
		case "/v1/chat/completions":
			m := model(r)
			fmt.Fprintf(w, `{"id":"chatcmpl-fake","object":"chat.completion","created":1,"model":%q,`+
				`"choices":[{"index":0,"message":{"role":"assistant","content":"openai saw %s"},"finish_reason":"stop"}],`+
				`"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}`, m, m)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"message":"not here","type":"invalid_request_error"}}`)
		}
	}))
	anth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/models":
			io.WriteString(w, `{"data":[{"type":"model","id":"claude-sonnet-4-5-20250929"}],"has_more":false}`)
		case "/v1/messages":
			m := model(r)
			fmt.Fprintf(w, `{"id":"msg_fake","type":"message","role":"assistant","model":%q,`+
				`"content":[{"type":"text","text":"anthropic saw %s"}],"stop_reason":"end_turn","stop_sequence":null,`+
				`"usage":{"input_tokens":3,"output_tokens":3}}`, m, m)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"type":"error","error":{"type":"not_found_error","message":"not here"}}`)
		}
	}))
	ts.Defer(oai.Close)
	ts.Defer(anth.Close)
	ts.Setenv(args[0], oai.URL+"/v1")
	ts.Setenv(args[1], anth.URL)
}
