//go:build linux

package server_test

// Issue 27 §3: an agent session recorded once replays offline, strictly, anywhere. Each
// real agent runs a tool session against `serve --record DIR --record-mock`, then again
// against `serve --replay DIR --strict` from a new working directory, a new HOME and
// (with libfaketime installed) a clock a day ahead: the built-in normalisation must make
// every request of the second run match, so the agent gets the same answers and the
// gateway no miss.

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeTimeLib is Debian's libfaketime (apt-get install faketime).
const fakeTimeLib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

func TestAgentReplayAnywhere(t *testing.T) {
	nm := agentsDir(t)
	if !fileExists(filepath.Join(nm, ".bin", "opencode")) {
		if os.Getenv("RUNESTONE_REQUIRE_AGENTS") == "1" {
			t.Fatal("RUNESTONE_REQUIRE_AGENTS=1 but .bin/opencode is missing: run bash scripts/agents/install.sh")
		}
		t.Skip(".bin/opencode absent: run bash scripts/agents/install.sh")
	}
	var later []string // the replay's environment: a day ahead when libfaketime is here
	if fileExists(fakeTimeLib) {
		later = []string{"LD_PRELOAD=" + fakeTimeLib, "FAKETIME=+1d", "DONT_FAKE_MONOTONIC=1", "FAKETIME_DISABLE_SHM=1"}
	} else if os.Getenv("RUNESTONE_REQUIRE_AGENTS") == "1" {
		t.Fatal("RUNESTONE_REQUIRE_AGENTS=1 but libfaketime is missing (apt-get install faketime): the replay must run a day later")
	} else {
		t.Log("libfaketime absent (apt-get install faketime): the replay runs on today's clock, only directory and HOME change")
	}
	bin := buildBinary(t, t.TempDir())
	byName := map[string]sessionAgent{}
	for _, a := range sessionAgents() {
		byName[a.name] = a
	}
	for _, name := range []string{"claude-code", "codex", "opencode-chat"} {
		a := byName[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cas := t.TempDir()
			secret := newSecret(t)
			// Relative tool arguments: the recorded answer is replayed as it was, so an
			// absolute path in it would name the first run's directory.
			c := a.tool("")
			session := func(args []string, env ...string) (run, *agentGateway) {
				g := &agentGateway{bin: bin, home: t.TempDir(), key: "sk-runestone-unused", env: env}
				g.p = startProcArgs(t, bin, g.home, args)
				g.rec = newRecorder(t, g.p.URL)
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("The secret is "+secret+".\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return a.run(t, nm, g, dir, c), g
			}
			rec, g1 := session([]string{"--record", cas, "--record-mock"})
			checkReplayRun(t, "record", a, rec, g1, secret)
			env := later
			if a.name == "codex" {
				// Codex is a static musl binary: LD_PRELOAD does not reach it (only the
				// node wrapper and its tool commands, where libfaketime fails in the
				// sandbox). Its clock moves the other way: the recording is rewritten
				// to yesterday's date.
				env = nil
				shiftRecordedDate(t, cas)
			}
			rep, g2 := session([]string{"--replay", cas, "--strict"}, env...)
			checkReplayRun(t, "replay", a, rep, g2, secret)
			if rec.stdout != rep.stdout {
				t.Errorf("replay answered differently:\nrecorded: %s\nreplayed: %s", tail(rec.stdout), tail(rep.stdout))
			}
			out, err := exec.Command(bin, "cassettes", "check", cas).CombinedOutput()
			if err != nil {
				t.Errorf("cassettes check: %v\n%s", err, out)
			}
			t.Logf("cassettes check:\n%s", out)
		})
	}
}

// shiftRecordedDate rewrites today's date in every cassette of dir to yesterday's,
// as if the session had been recorded a day earlier.
func shiftRecordedDate(t *testing.T, dir string) {
	t.Helper()
	now := time.Now().UTC()
	today, yesterday := now.Format("2006-01-02"), now.AddDate(0, 0, -1).Format("2006-01-02")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cassettes in %s: %v", dir, err)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(b), today)
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(string(b), today, yesterday)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Fatalf("the recording holds no date %s to move", today)
	}
}

// checkReplayRun: the agent exited 0 naming the secret, and nothing on the wire failed
// (a strict replay's miss is a 4xx the agent might otherwise recover from silently).
func checkReplayRun(t *testing.T, what string, a sessionAgent, r run, g *agentGateway, secret string) {
	t.Helper()
	var bad []string
	turns := 0
	for _, s := range g.rec.since(r.start) {
		if s.method == http.MethodPost && strings.HasPrefix(s.uri, a.endpoint) {
			turns++
		}
		if s.status == 0 || (s.status >= 400 && !(s.upgrade && s.status == http.StatusUpgradeRequired)) {
			bad = append(bad, s.method+" "+s.uri+" -> "+http.StatusText(s.status))
		}
	}
	t.Logf("%s: %s exited %d in %v after %d model requests", what, a.name, r.code, r.took.Round(time.Millisecond), turns)
	if len(bad) > 0 {
		t.Errorf("%s: %d request(s) failed:\n  %s\ngateway stderr:\n%s", what, len(bad), strings.Join(bad, "\n  "), tail(g.p.stderr.String()))
	}
	if r.code != 0 || !strings.Contains(r.stdout, secret) {
		t.Errorf("%s: exit %d, want 0 and an answer naming %s\nstdout: %s\nstderr: %s", what, r.code, secret, tail(r.stdout), tail(r.stderr))
	}
	if turns < 2 {
		t.Errorf("%s: %d model requests, want the tool call's turn and the result's turn", what, turns)
	}
}
