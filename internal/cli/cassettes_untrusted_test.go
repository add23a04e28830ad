package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/store"
)

// TestLogsExportRefusesSecretsItCannotKnow (issue 31): export from a shell without the
// provider key's ${VAR}, or for a request a provider of the gateway's environment
// answered, refuses instead of writing the key unscrubbed; --patterns-only accepts.
func TestLogsExportRefusesSecretsItCannotKnow(t *testing.T) {
	const key = "upstream-key-without-a-known-shape-42"
	row := store.RequestRow{ID: "req_k", Started: time.Now(), Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", Provider: "openai", Status: 200,
		RequestBody: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"my key is ` + key + `"}]}`, ResponseBody: `{"choices":[]}`}

	// Zero config: the gateway had OPENAI_API_KEY, this shell has not.
	e := newLogsEnv(t)
	e.seed(t, row)
	dir := filepath.Join(t.TempDir(), "tapes")
	err := e.run(context.Background(), "logs", "export", "req_k", "--cassettes", dir)
	if err == nil || !strings.Contains(err.Error(), `provider "openai"`) || !strings.Contains(err.Error(), "OPENAI_API_KEY") || !strings.Contains(err.Error(), "--patterns-only") {
		t.Fatalf("export without the provider's key: %v", err)
	}
	if _, serr := os.Stat(dir); serr == nil {
		t.Error("a refused export created the folder")
	}
	// The shell has it: scrubbed.
	e = newLogsEnv(t)
	e.seed(t, row)
	e.env["OPENAI_API_KEY"] = key
	if err := e.run(context.Background(), "logs", "export", "req_k", "--cassettes", dir); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), key) {
			t.Errorf("%s holds the key", f)
		}
	}

	// A config naming ${VAR} this shell lacks.
	e2 := newLogsEnv(t)
	cfg := "[[providers]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key = \"${MY_UPSTREAM_KEY}\"\nmodels = [\"gpt-4o-mini\"]\n"
	if err := os.WriteFile(filepath.Join(e2.f.Home, config.FileName), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e2.seed(t, row)
	if err := e2.run(context.Background(), "logs", "export", "req_k", "--cassettes", t.TempDir()); err == nil || !strings.Contains(err.Error(), "${MY_UPSTREAM_KEY}") {
		t.Fatalf("export with an unset ${VAR}: %v", err)
	}
	if err := e2.run(context.Background(), "logs", "export", "req_k", "--cassettes", t.TempDir(), "--patterns-only"); err != nil {
		t.Fatalf("--patterns-only: %v", err)
	}
}

// TestExecRecordRefusesTheMockAlone (issue 33): with no provider key, `exec --record`
// would record the offline mock's answers as real ones: refused unless --record-mock,
// and then the summary says so.
func TestExecRecordRefusesTheMockAlone(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := runExec(t, nil, "", "exec", "--record", dir, "--", "true")
	if code != 2 || !strings.Contains(errOut, "no real provider is configured") || !strings.Contains(errOut, "--record-mock") {
		t.Fatalf("exit %d %q", code, errOut)
	}
	code, _, errOut = runExec(t, map[string]string{"OPENAI_API_KEY": "sk-test-0123456789abcdef0123", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}, "", "exec", "--record", dir, "--", "true")
	if code != 0 {
		t.Fatalf("with a provider key: exit %d %q", code, errOut)
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no sh")
	}
	code, _, errOut = runExec(t, nil, "", "exec", "--record", dir, "--record-mock", "--", "sh", "-c",
		`curl -s -o /dev/null -H "Authorization: Bearer $OPENAI_API_KEY" -H 'Content-Type: application/json' -d '{"model":"mock","messages":[{"role":"user","content":"hi"}]}' "$OPENAI_BASE_URL/chat/completions"`)
	if code != 0 {
		t.Fatalf("--record-mock: exit %d %q", code, errOut)
	}
	if !strings.Contains(errOut, "1 recorded") || !strings.Contains(errOut, "1 cassette recorded from the offline mock") {
		t.Errorf("summary %q", errOut)
	}
}
