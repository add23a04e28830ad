package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
	"github.com/spf13/cobra"
)

type keysEnv struct {
	f        *Factory
	out, err *bytes.Buffer
}

func newKeysEnv(t *testing.T, tty bool) *keysEnv {
	t.Helper()
	e := &keysEnv{out: new(bytes.Buffer), err: new(bytes.Buffer)}
	e.f = &Factory{Out: e.out, Err: e.err, IsTTY: tty, Home: t.TempDir(), Getenv: func(string) string { return "" }}
	return e
}

// run executes `runestone keys <args>` the way Execute does and returns the exit code.
func (e *keysEnv) run(args ...string) int {
	e.out.Reset()
	e.err.Reset()
	root := &cobra.Command{Use: "runestone", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(newKeysCmd(e.f))
	root.SetArgs(append([]string{"keys"}, args...))
	root.SetOut(e.out)
	root.SetErr(e.err)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	e.err.WriteString("Error: " + sentence(err.Error()) + "\n")
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isUsage(err) {
		return 2
	}
	return 1
}

func (e *keysEnv) store(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(e.f.Home, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var secretRE = regexp.MustCompile(`sk-rs-[0-9A-Za-z]{40}`)

func TestKeysCreatePipedPrintsOnlySecret(t *testing.T) {
	e := newKeysEnv(t, false)
	if code := e.run("create", "--name", "dev", "--project", "web", "--rpm", "60", "--tpm", "0",
		"--models", "gpt-4o-mini, mock", "--budget", "2.5", "--expires", "30d"); code != 0 {
		t.Fatalf("exit %d: %s", code, e.err)
	}
	secret := strings.TrimSpace(e.out.String())
	if !secretRE.MatchString(secret) || secretRE.FindString(secret) != secret {
		t.Fatalf("stdout %q, want only the secret", e.out)
	}
	if !strings.Contains(e.err.String(), "will not be shown again") {
		t.Fatalf("no warning on stderr: %q", e.err)
	}
	k, err := e.store(t).KeyByHash(context.Background(), store.HashSecret(secret))
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "dev" || k.Project != "web" || *k.RPM != 60 || k.RPH != nil || *k.TPM != 0 ||
		strings.Join(k.Models, ",") != "gpt-4o-mini,mock" || *k.BudgetUSD != 2.5 || k.ExpiresAt == nil {
		t.Fatalf("stored key %+v", k)
	}
	if d := time.Until(*k.ExpiresAt); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Fatalf("expires in %v, want 30 days", d)
	}
}

func TestKeysCreateTTYAndJSON(t *testing.T) {
	e := newKeysEnv(t, true)
	if code := e.run("create", "--name", "dev"); code != 0 {
		t.Fatalf("exit %d: %s", code, e.err)
	}
	if n := len(secretRE.FindAllString(e.out.String(), -1)); n != 1 ||
		!strings.Contains(e.out.String(), "will not be shown again") || !strings.Contains(e.out.String(), "key_") {
		t.Fatalf("tty output: %q", e.out)
	}

	if code := e.run("create", "--name", "ci", "--json"); code != 0 {
		t.Fatalf("exit %d: %s", code, e.err)
	}
	var got map[string]any
	if err := json.Unmarshal(e.out.Bytes(), &got); err != nil {
		t.Fatalf("--json is not one JSON document: %v\n%s", err, e.out)
	}
	if !secretRE.MatchString(got["secret"].(string)) || got["name"] != "ci" || got["id"] == nil || got["masked"] == nil {
		t.Fatalf("json %v", got)
	}
}

func TestKeysCreateUsageErrors(t *testing.T) {
	e := newKeysEnv(t, false)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"create"}, "needs a name"},
		{[]string{"create", "--name", " "}, "needs a name"},
		{[]string{"create", "--name", "x", "--rpm", "-1"}, `"--rpm" flag: must be 0 (unlimited) or more`},
		{[]string{"create", "--name", "x", "--concurrent", "-3"}, `"--concurrent" flag: must be 0`},
		{[]string{"create", "--name", "x", "--rpm", "many"}, `"--rpm" flag: want a whole number`},
		{[]string{"create", "--name", "x", "--budget", "-1"}, `"--budget" flag: must be 0 USD or more`},
		{[]string{"create", "--name", "x", "--budget", "lots"}, `"--budget" flag: want an amount of USD`},
		{[]string{"create", "--name", "x", "--expires", "soon"}, `invalid --expires "soon"`},
		{[]string{"create", "--name", "x", "--expires", "-5h"}, "must be positive"},
		{[]string{"create", "--name", "x", "--expires", "0d"}, "must be positive"},
		{[]string{"create", "--name", "x", "extra"}, "unknown command"},
		{[]string{"show"}, "needs exactly one key id"},
		{[]string{"revoke", "a", "b"}, "needs exactly one key id"},
	}
	for _, tt := range tests {
		code := e.run(tt.args...)
		if code != 2 || !strings.Contains(strings.ToLower(e.err.String()), strings.ToLower(tt.want)) {
			t.Errorf("keys %v: exit %d, stderr %q; want exit 2 mentioning %q", tt.args, code, e.err, tt.want)
		}
		if strings.Contains(e.err.String(), "goroutine") || strings.Contains(e.err.String(), "strconv.") {
			t.Errorf("stack trace printed: %s", e.err)
		}
	}
	if keys, _ := e.store(t).ListKeys(context.Background(), true); len(keys) != 0 {
		t.Fatalf("invalid creates stored %d keys", len(keys))
	}
}

func TestKeysListShowRevoke(t *testing.T) {
	e := newKeysEnv(t, true)
	s := e.store(t)
	ctx := context.Background()
	rpm := 60
	a, secretA, _ := s.CreateKey(ctx, store.NewKey{Name: "alpha", Project: "web", RPM: &rpm})
	b, secretB, _ := s.CreateKey(ctx, store.NewKey{Name: "beta"})

	if code := e.run("list"); code != 0 {
		t.Fatalf("list exit %d: %s", code, e.err)
	}
	out := e.out.String()
	for _, want := range []string{"ID", "LAST USED", a.ID, b.ID, "alpha", "web", a.Masked, "60", "default", "never", "active"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, secretA) || strings.Contains(out, secretB) || strings.Contains(out, secretA[10:20]) {
		t.Fatalf("list prints a secret:\n%s", out)
	}

	if code := e.run("show", a.ID[:9]); code != 0 {
		t.Fatalf("show by prefix: exit %d: %s", code, e.err)
	}
	for _, want := range []string{a.ID, "alpha", "RPM:", "60", "default (90000)", "Models:", "all", "Budget:", "none", "never"} {
		if !strings.Contains(e.out.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, e.out)
		}
	}

	if code := e.run("revoke", a.ID); code != 0 || !strings.Contains(e.out.String(), "Revoked key "+a.ID) {
		t.Fatalf("revoke: exit %d %q %q", code, e.out, e.err)
	}
	if code := e.run("revoke", a.ID); code != 0 || !strings.Contains(e.out.String(), "already revoked") {
		t.Fatalf("second revoke: exit %d %q", code, e.out)
	}
	got, _ := s.GetKey(ctx, a.ID)
	if got.RevokedAt == nil {
		t.Fatal("revoke did not reach the database")
	}

	// list hides revoked keys unless --all; --json is one document with stable names.
	if code := e.run("list", "--json"); code != 0 {
		t.Fatal(e.err)
	}
	var keys []map[string]any
	if err := json.Unmarshal(e.out.Bytes(), &keys); err != nil {
		t.Fatalf("list --json: %v\n%s", err, e.out)
	}
	if len(keys) != 1 || keys[0]["id"] != b.ID {
		t.Fatalf("active keys %v", keys)
	}
	if code := e.run("list", "--all", "--json"); code != 0 {
		t.Fatal(e.err)
	}
	if err := json.Unmarshal(e.out.Bytes(), &keys); err != nil || len(keys) != 2 || keys[0]["revoked_at"] == nil {
		t.Fatalf("list --all --json: %v %v", keys, err)
	}
	if strings.Contains(e.out.String(), secretA) || strings.Contains(e.out.String(), "hash") {
		t.Fatalf("json leaks: %s", e.out)
	}
	if code := e.run("list", "--all"); code != 0 || !strings.Contains(e.out.String(), "revoked") {
		t.Fatalf("list --all: %q", e.out)
	}

	if code := e.run("show", a.ID, "--json"); code != 0 {
		t.Fatal(e.err)
	}
	var one map[string]any
	if err := json.Unmarshal(e.out.Bytes(), &one); err != nil || one["id"] != a.ID || one["rpm"] != float64(60) || one["rph"] != nil {
		t.Fatalf("show --json: %v %v", one, err)
	}
}

func TestKeysUnknownID(t *testing.T) {
	e := newKeysEnv(t, false)
	for _, verb := range []string{"show", "revoke"} {
		code := e.run(verb, "key_nope")
		if code != 1 || !strings.Contains(e.err.String(), "No key with id key_nope") {
			t.Errorf("%s unknown: exit %d, stderr %q", verb, code, e.err)
		}
	}
	s := e.store(t)
	_, _, _ = s.CreateKey(context.Background(), store.NewKey{Name: "a"})
	_, _, _ = s.CreateKey(context.Background(), store.NewKey{Name: "b"})
	if code := e.run("revoke", "key_"); code != 1 || !strings.Contains(e.err.String(), "matches more than one key") {
		t.Errorf("ambiguous: exit %d, stderr %q", code, e.err)
	}
	if keys, _ := s.ListKeys(context.Background(), false); len(keys) != 2 {
		t.Fatal("an ambiguous revoke revoked something")
	}
}

func TestKeysListEmpty(t *testing.T) {
	e := newKeysEnv(t, false)
	if code := e.run("list", "--json"); code != 0 || strings.TrimSpace(e.out.String()) != "[]" {
		t.Fatalf("empty --json: exit %d %q", code, e.out)
	}
	if code := e.run("list"); code != 0 || e.out.Len() != 0 || !strings.Contains(e.err.String(), "keys create") {
		t.Fatalf("empty list: exit %d out %q err %q", code, e.out, e.err)
	}
}

func TestKeysParseExpiry(t *testing.T) {
	for in, want := range map[string]time.Duration{"720h": 720 * time.Hour, "30d": 30 * 24 * time.Hour, " 90m ": 90 * time.Minute} {
		if got, err := keysParseExpiry(in); err != nil || got != want {
			t.Errorf("%q = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "tomorrow", "0s", "-1h", "99999999d"} {
		if _, err := keysParseExpiry(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// The optional runF seam lets flag parsing be tested without a database.
func TestKeysCreateFlagsToOptions(t *testing.T) {
	f := &Factory{Out: new(bytes.Buffer), Err: new(bytes.Buffer), Home: t.TempDir()}
	var got *keysCreateOptions
	cmd := newKeysCreateCmd(f, func(o *keysCreateOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--name", "n", "--rph", "0", "--models", "a,,b", "--expires", "2h"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.RPM != nil || got.RPH == nil || *got.RPH != 0 || got.TPM != nil || got.BudgetUSD != nil ||
		strings.Join(got.Models, "|") != "a|b" || got.Expires != 2*time.Hour {
		t.Fatalf("options %+v", got)
	}
}

// A configuration that does not load stops the command: falling back to a local
// SQLite file would, against a Postgres deployment, create keys the gateway never sees.
func TestOpenStoreRefusesABrokenConfig(t *testing.T) {
	e := newKeysEnv(t, false)
	e.f.ConfigFile = filepath.Join(e.f.Home, "bad.toml")
	if err := os.WriteFile(e.f.ConfigFile, []byte("[store]\ndriver = \"postgres\"\ndsn = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := e.run("create", "--name", "dev"); code == 0 {
		t.Fatalf("keys create with a broken config exited 0: %s", e.out)
	}
	if !strings.Contains(e.err.String(), "bad.toml:3") {
		t.Errorf("stderr %q does not name the problem", e.err)
	}
	if _, err := os.Stat(filepath.Join(e.f.Home, store.FileName)); !os.IsNotExist(err) {
		t.Errorf("a SQLite file was created anyway (stat: %v)", err)
	}
}
