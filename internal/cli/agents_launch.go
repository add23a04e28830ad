package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/charmbracelet/x/term"
	"github.com/jmanhype/runestone/internal/store"
)

// launchAgent is `runestone exec AGENT [ARG...]`: the agent runs through the gateway
// serving this home (a throw-away one when none runs, or when cassettes are asked
// for), with a session key revoked when it exits and its configuration injected
// through its own environment and flags.
func launchAgent(ctx context.Context, f *Factory, bi BuildInfo, o *execOptions, name string,
	configure func(agentRun) (agentConfig, error), args []string) error {
	getenv := f.getenv()
	o.strictInCI(getenv)
	session := newSessionID()
	nk := store.NewKey{Name: "exec-" + name + "-" + session, BudgetUSD: o.budget}
	run := agentRun{Session: session, Model: o.model, getenv: getenv}

	var (
		gw       *throwaway
		keyID    string
		revokeIn func(context.Context) (*store.Store, error)
	)
	si, running := (*serveInfo)(nil), false
	if o.tapes.record == "" && o.tapes.replay == "" {
		if home, err := f.HomeDir(); err == nil {
			si, running = readServeInfo(home)
		}
	}
	if running {
		st, err := f.OpenStore(ctx)
		if err != nil {
			return err
		}
		k, secret, err := st.CreateKey(ctx, nk)
		st.Close()
		if err != nil {
			return fmt.Errorf("create the session's key: %w", err)
		}
		keyID, run.URL, run.Key, revokeIn = k.ID, si.URL, secret, f.OpenStore
		if err := waitKeyLive(ctx, run.URL, run.Key); err != nil {
			_ = revokeKey(context.Background(), revokeIn, keyID)
			return &exitError{code: exitUnavailable, err: err}
		}
	} else {
		var err error
		gw, err = startThrowaway(ctx, f, bi, o.tapes.apply, nk)
		if err != nil {
			return err
		}
		defer gw.cleanup()
		cfg := gw.cfg
		keyID, run.URL, run.Key = gw.KeyID, gw.URL, gw.Key
		revokeIn = func(ctx context.Context) (*store.Store, error) { return openConfigStore(ctx, cfg) }
	}

	dir, err := os.MkdirTemp("", "runestone-agent-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	run.Dir = dir
	ac, err := configure(run)
	if err != nil {
		return err
	}
	set := append([]string{"RUNESTONE_KEY=" + run.Key, "RUNESTONE_SESSION=" + session, "RUNESTONE_URL=" + run.URL}, ac.set...)
	argv := append(append([]string{args[0]}, ac.args...), args[1:]...)
	code, runErr := execChild(f, argv, mergeEnv(os.Environ(), set, ac.unset), term.IsTerminal(os.Stdin.Fd()))

	if gw != nil {
		gw.stop()
	}
	revokeErr := revokeKey(context.Background(), revokeIn, keyID)
	where, see := run.URL, "See: runestone sessions"
	if gw != nil {
		where = "a throw-away gateway"
		if gw.tmpHome != "" {
			see = "Its log went with it: start `runestone serve` first to keep sessions"
		}
	}
	fmt.Fprintf(f.Err, "runestone: %s session %s ended through %s; its key %s is revoked. %s\n",
		name, session, where, keyID, see)
	if revokeErr != nil {
		fmt.Fprintf(f.Err, "runestone: could not revoke key %s: %v (revoke it with: runestone keys revoke %s)\n", keyID, revokeErr, keyID)
	}
	if gw != nil && (o.tapes.record != "" || o.tapes.replay != "") {
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
