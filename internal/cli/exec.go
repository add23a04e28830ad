package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/spf13/cobra"
)

type execOptions struct {
	tapes  cassetteFlags
	budget *float64 // --budget: the agent session key's spending cap
	model  string   // --model: the model an agent is configured to ask for
	dashAt int      // where "--" was among the arguments (-1: none)
}

// newExecCmd is `runestone exec`: an ephemeral gateway around one command, for tests.
func newExecCmd(f *Factory, bi BuildInfo) *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec [--record DIR | --replay DIR] [--strict] [--budget USD] [--model NAME] (claude|codex|gemini|opencode [ARG...] | -- COMMAND [ARG...])",
		Short: "Run a command against a throw-away gateway (optionally recording or replaying cassettes)",
		Long: `Start a gateway on a free loopback port with a throw-away home (or --home), create a
client key, and run COMMAND with OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL and
ANTHROPIC_API_KEY pointing at it. Exits with COMMAND's exit code. Without --record or
--replay the gateway simply relays to the providers of the environment (or the offline
mock); with either, a summary follows on stderr ("12 replayed, 0 recorded, 1 miss").

--record DIR records every exchange as a cassette file (providers come from the
environment as for serve: OPENAI_API_KEY, ANTHROPIC_API_KEY, or --config). --replay DIR
answers from those files; with --strict (the default when $CI is set) a request no
cassette matches gets a 4xx cassette_miss naming the nearest cassette and the JSON paths
that differ; without it, a miss goes to a provider and is recorded into DIR.
SIGINT and SIGTERM are passed on to COMMAND.

A coding agent named as the command (claude, codex, gemini, opencode; not after "--")
is launched instead: through the gateway already serving this home when one runs (so
the dashboard and the log show the session; --record/--replay always start a
throw-away one), with a key of its own that is revoked when the agent exits, and with
the agent's own environment variables and flags pointing it at the gateway. Nothing
in the user's agent configuration is edited. --budget USD caps the session's key and
--model NAME is the model the agent asks for. See docs/agents.md.`,
		Example: `  runestone exec -- python agent.py                        # a fresh gateway, a fresh key
  runestone exec --record testdata/cassettes -- go test ./...
  runestone exec --replay testdata/cassettes -- go test ./...
  CI=true runestone exec --replay testdata/cassettes -- pytest -q
  runestone exec --replay testdata/cassettes --strict=false -- npm test   # record misses
  runestone exec claude                                    # Claude Code through this home's gateway
  runestone exec --budget 2 --model ollama:qwen3-coder codex
  runestone exec --record testdata/agent opencode run "fix the test"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.tapes.changed = cmd.Flags().Changed
			o.dashAt = cmd.ArgsLenAtDash()
			if name, fn, ok := agentFor(args, o.dashAt); ok {
				return launchAgent(cmd.Context(), f, bi, o, name, fn, args)
			}
			return execRun(cmd.Context(), f, bi, o, args)
		},
	}
	// Flags after COMMAND belong to it.
	cmd.Flags().SetInterspersed(false)
	o.tapes.register(cmd, true)
	cmd.Flags().Var(keysBudgetFlag{&o.budget}, "budget", "an agent session's spending cap in USD (its key's budget)")
	cmd.Flags().StringVar(&o.model, "model", "", "the model a launched agent asks for (e.g. ollama:qwen3-coder)")
	return cmd
}

// strictInCI makes --replay strict when $CI is set and --strict was not given.
func (o *execOptions) strictInCI(getenv func(string) string) {
	if !o.tapes.changed("strict") && o.tapes.replay != "" {
		if ci := getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			o.tapes.strict = true
			prev := o.tapes.changed
			o.tapes.changed = func(n string) bool { return n == "strict" || prev(n) }
		}
	}
}

func execRun(ctx context.Context, f *Factory, bi BuildInfo, o *execOptions, args []string) error {
	if o.budget != nil || o.model != "" {
		return usageError(fmt.Errorf("--budget and --model configure a launched agent (claude, codex, gemini, opencode), not %q", args[0]))
	}
	o.strictInCI(f.getenv())
	gw, err := startThrowaway(ctx, f, bi, o.tapes.apply, store.NewKey{Name: "exec"})
	if err != nil {
		return err
	}
	defer gw.cleanup()
	code, runErr := execChild(f, args, mergeEnv(os.Environ(), gw.env(), nil), false)
	gw.stop()
	if o.tapes.record != "" || o.tapes.replay != "" {
		printExecSummary(f.Err, gw.srv)
	}
	if runErr != nil {
		return runErr
	}
	if code != 0 {
		return &exitError{err: errSilent, code: code}
	}
	return nil
}

// throwaway is a gateway started for one command: on a free loopback port, with a
// throw-away home unless --home was given, and a client key of its own. exec runs a
// command against it; launchers for a named agent can start one the same way.
type throwaway struct {
	srv     *server.Server
	cfg     *config.Config
	URL     string // http://127.0.0.1:PORT
	Key     string // the run's client key
	KeyID   string
	tmpHome string
}

// startThrowaway starts a throwaway gateway; configure adjusts its configuration
// (cassette flags) before it starts. The caller stops it and then cleans up.
func startThrowaway(ctx context.Context, f *Factory, bi BuildInfo, configure func(*config.Config) error, nk store.NewKey) (*throwaway, error) {
	gw := &throwaway{}
	home := f.Home
	if home == "" {
		tmp, err := os.MkdirTemp("", "runestone-exec-")
		if err != nil {
			return nil, err
		}
		home, gw.tmpHome = tmp, tmp
	}
	fail := func(err error) (*throwaway, error) {
		gw.cleanup()
		return nil, err
	}
	cfg, err := config.Load(config.Options{Home: home, ConfigFile: f.ConfigFile, Addr: "127.0.0.1:0", Getenv: f.getenv()})
	if err != nil {
		return fail(err)
	}
	if configure != nil {
		if err := configure(cfg); err != nil {
			return fail(err)
		}
	}
	// One run owns this gateway: its limits would only make parallel tests flaky.
	cfg.Limits.RPM, cfg.Limits.RPH, cfg.Limits.TPM, cfg.Limits.Concurrent = 0, 0, 0, 0
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return fail(fmt.Errorf("create home folder: %w", err))
	}
	keyID, key, err := execKey(ctx, cfg, nk)
	if err != nil {
		return fail(err)
	}
	// Warnings only, on stderr: the command's own output is what the user reads.
	logger := slog.New(slog.NewTextHandler(f.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, cfg, server.Options{Version: resolveVersion(bi).Version, Logger: logger})
	if err != nil {
		return fail(err)
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		return fail(err)
	}
	gw.srv, gw.cfg, gw.URL, gw.Key, gw.KeyID = srv, cfg, "http://"+srv.Addr(), key, keyID
	return gw, nil
}

// env points both SDK families at the gateway with the run's key.
func (gw *throwaway) env() []string {
	return []string{"OPENAI_BASE_URL=" + gw.URL + "/v1", "OPENAI_API_KEY=" + gw.Key,
		"ANTHROPIC_BASE_URL=" + gw.URL, "ANTHROPIC_API_KEY=" + gw.Key}
}

// stop drains the gateway (every cassette take has ended once it has).
func (gw *throwaway) stop() {
	sctx, cancel := context.WithTimeout(context.Background(), gw.cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	_ = gw.srv.Shutdown(sctx)
}

// cleanup removes a throw-away home.
func (gw *throwaway) cleanup() {
	if gw.tmpHome != "" {
		_ = os.RemoveAll(gw.tmpHome)
	}
}

// execKey creates the run's client key in the store before the gateway loads keys, so
// the command's first request already authenticates.
func execKey(ctx context.Context, cfg *config.Config, nk store.NewKey) (id, secret string, err error) {
	st, err := openConfigStore(ctx, cfg)
	if err != nil {
		return "", "", err
	}
	defer st.Close()
	k, secret, err := st.CreateKey(ctx, nk)
	if err != nil {
		return "", "", fmt.Errorf("create the run's key: %w", err)
	}
	return k.ID, secret, nil
}

// openConfigStore opens the store cfg names.
func openConfigStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	return store.OpenConfig(ctx, store.Config{Driver: cfg.Store.Driver, DSN: cfg.Store.DSN,
		Path: filepath.Join(cfg.Home, store.FileName)})
}

// execChild runs the command with the environment env, passing SIGINT and SIGTERM on, and
// returns its exit code (128+signal when a signal ended it). With ttyINT, a SIGINT is
// not passed on: the terminal already sent Ctrl-C to the whole foreground group, the
// command included, and a second one would make an agent's "press Ctrl-C again to
// exit" quit at the first press.
func execChild(f *Factory, args, env []string, ttyINT bool) (int, error) {
	c := exec.Command(args[0], args[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, f.Out, f.Err
	c.Env = env
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return 0, &exitError{err: fmt.Errorf("run %s: %w", args[0], err), code: 127}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if ttyINT && s == os.Interrupt {
					continue
				}
				_ = c.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := c.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	default:
		return 1, fmt.Errorf("run %s: %w", args[0], err)
	}
}

// printExecSummary prints "12 replayed, 0 recorded, 1 miss" and each miss.
func printExecSummary(w io.Writer, srv *server.Server) {
	rp, rc := srv.Replayer.Stats(), srv.Recorder.Stats()
	misses := plural(rp.Misses, "miss", "misses")
	strict := ""
	if srv.Replayer != nil && srv.Replayer.Strict() {
		strict = " (strict)"
	}
	line := fmt.Sprintf("runestone exec: %d replayed%s, %d recorded, %s", rp.Replayed, strict, rc.Recorded, misses)
	if srv.Recorder != nil {
		line += " (recording into " + srv.Recorder.Dir() + ")"
	}
	if rp.Misses > 0 {
		line += ": see below"
	}
	fmt.Fprintln(w, line)
	for _, m := range rp.MissMessages {
		fmt.Fprintln(w, "  miss: "+m)
	}
	if rp.Misses > len(rp.MissMessages) {
		fmt.Fprintf(w, "  … and %d more\n", rp.Misses-len(rp.MissMessages))
	}
	if rc.Failed > 0 {
		fmt.Fprintf(w, "  %s could not be written: %v\n", plural(rc.Failed, "cassette", "cassettes"), rc.LastErr)
	}
	if n := rc.ByKind["mock"]; n > 0 {
		fmt.Fprintf(w, "  %s recorded from the offline mock, not a real provider (\"provider_kind\": \"mock\" in the file)\n", plural(n, "cassette", "cassettes"))
	}
	if rc.Skipped > 0 {
		fmt.Fprintf(w, "  %s not recorded: %v\n", plural(rc.Skipped, "exchange", "exchanges"), rc.LastErr)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
