package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/ui"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	addr, logFormat string
	noTUI, insecure bool
	tapes           cassetteFlags
}

func newServeCmd(f *Factory, bi BuildInfo) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (with the live dashboard on a terminal)",
		Args:  cobra.NoArgs,
		Example: `  runestone serve                         # dashboard on a terminal, plain logs otherwise
  runestone serve --no-tui --log-format json
  PORT=8080 runestone serve --no-tui
  runestone serve --record testdata/cassettes           # write every exchange as a cassette
  runestone serve --replay testdata/cassettes --strict  # answer from cassettes, never a provider`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.tapes.changed = cmd.Flags().Changed
			return serveRun(cmd.Context(), f, bi, o)
		},
	}
	cmd.Flags().StringVar(&o.addr, "addr", "", "listen address (default 127.0.0.1:4001)")
	cmd.Flags().BoolVar(&o.noTUI, "no-tui", false, "plain log lines instead of the dashboard")
	cmd.Flags().StringVar(&o.logFormat, "log-format", "", "process log format: text or json")
	cmd.Flags().BoolVar(&o.insecure, "insecure-no-auth", false, "allow a non-loopback address with auth disabled (dangerous)")
	o.tapes.register(cmd, true)
	return cmd
}

func serveRun(ctx context.Context, f *Factory, bi BuildInfo, o serveOptions) error {
	cfg, err := config.Load(config.Options{Home: f.Home, ConfigFile: f.ConfigFile, Addr: o.addr,
		LogFormat: o.logFormat, Getenv: f.getenv()})
	if err != nil {
		return err
	}
	if err := o.tapes.apply(cfg); err != nil {
		return err
	}
	if !cfg.Auth.Enabled && !config.IsLoopback(cfg.Server.Addr) {
		if !o.insecure {
			return usageError(fmt.Errorf("refusing to listen on %s with auth disabled: anyone on the network could use your provider keys (enable auth, bind to 127.0.0.1, or pass --insecure-no-auth)", cfg.Server.Addr))
		}
		fmt.Fprintf(f.Err, "WARNING: listening on %s with authentication DISABLED. Anyone who can reach it can spend your provider credits.\n", cfg.Server.Addr)
	} else if !cfg.Auth.Enabled {
		// Loopback without auth is allowed, but every program on this machine (any
		// user, any container sharing the network) can then use it: say so once.
		fmt.Fprintf(f.Err, "warning: authentication is off: every process on this machine can call %s with your provider keys and read the request log at /admin/*; set auth.enabled = true to require keys\n", cfg.Server.Addr)
	}
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return fmt.Errorf("create home folder: %w", err)
	}
	release, err := claimHome(cfg)
	if err != nil {
		return err
	}
	defer release()
	tui := !o.noTUI && f.IsTTY && f.getenv()("CI") != "true"
	var logOut io.Writer
	if !tui {
		lb := newLogBuffer(f.Err)
		defer lb.Close()
		logOut = lb
	} else {
		lf, err := os.OpenFile(filepath.Join(cfg.Home, "runestone.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer lf.Close()
		logOut = lf
	}
	logger := newLogger(logOut, cfg.LogFormat)
	if addr := f.getenv()("RUNESTONE_PPROF"); addr != "" {
		stop, err := startPprof(addr, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	v := resolveVersion(bi).Version
	srv, err := server.New(ctx, cfg, server.Options{Version: v, Logger: logger, LogRequests: !tui, TuneGC: !gogcSet()})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		return portInUse(err, cfg.Server.Addr)
	}
	removeInfo, err := writeServeInfo(cfg, srv.Addr())
	if err != nil {
		logger.Warn("write the runtime file (other commands will not find this gateway)", "err", err)
	} else {
		defer removeInfo()
	}
	if tui {
		src := ui.NewBusSource(srv.Bus, srv.Gateway.State, srv.Gateway.Detail)
		if err := ui.Run(ctx, src, ui.Options{Version: v, Addr: srv.Addr(), InProcess: true}); err != nil {
			logger.Error("dashboard", "err", err)
		}
		// The dashboard has left the screen: the drain is said on the terminal.
		if n := srv.Gateway.Totals().InFlight; n > 0 {
			fmt.Fprintf(f.Err, "Shutting down: draining %d in-flight requests…\n", n)
		} else {
			fmt.Fprintln(f.Err, "Shutting down…")
		}
	} else {
		printBanner(f.Out, cfg, srv, v, f.getenv())
		<-ctx.Done()
		fmt.Fprintln(f.Err, "Shutting down: draining in-flight requests…")
	}
	stopWatch := exitOnSignal(f.Err, exitNow)
	defer stopWatch()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown deadline passed; open streams were cut", "err", err)
	}
	fmt.Fprintln(f.Err, "Stopped.")
	return nil
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func printBanner(w io.Writer, cfg *config.Config, srv *server.Server, version string, getenv func(string) string) {
	fmt.Fprintf(w, "Runestone %s listening on http://%s/v1\n", version, srv.Addr())
	fmt.Fprintf(w, "  home:      %s\n", cfg.Home)
	if cfg.Store.Driver == config.StorePostgres {
		fmt.Fprintf(w, "  store:     postgres %s (shared with other replicas)\n", srv.Store.Path())
	}
	if cfg.Limits.Backend == config.LimitsRedis {
		fmt.Fprintf(w, "  limits:    redis %s (shared; %s while unreachable)\n", cfg.Redacted().Limits.RedisURL, cfg.Limits.OnRedisError)
	}
	for _, p := range srv.Router().Providers() {
		fmt.Fprintf(w, "  provider:  %s (%s): %s\n", p.Name(), p.Kind(), describeModels(cfg, p))
	}
	if cfg.ProvidersFromFile {
		if dropped := envProviders(getenv); dropped != "" {
			fmt.Fprintf(w, "  note:      %s has [[providers]], so only those serve: %s in the environment is not used and there is no mock (add them as [[providers]] to keep them)\n", cfg.File, dropped)
		}
	}
	if d := srv.Telemetry().Describe(); d != "" {
		fmt.Fprintf(w, "  tracing:   %s\n", d)
	}
	if srv.Replayer != nil {
		mode := "misses go to providers"
		if srv.Replayer.Strict() {
			mode = "strict: misses get cassette_miss"
		}
		fmt.Fprintf(w, "  replay:    %s (%d cassettes; %s)\n", srv.Replayer.Dir(), srv.Replayer.Len(), mode)
	}
	if srv.Recorder != nil {
		fmt.Fprintf(w, "  record:    %s\n", srv.Recorder.Dir())
	}
	flags := hintFlags(cfg)
	if cfg.Auth.Enabled {
		fmt.Fprintf(w, "  auth:      on — create a key with `runestone keys create --name dev%s`\n", flags)
	} else {
		fmt.Fprintln(w, "  auth:      OFF (RUNESTONE_AUTH_ENABLED=false)")
	}
	fmt.Fprintf(w, "  watch:     `runestone top%s`, `runestone logs -f%s`\n", flags, flags)
	fmt.Fprintln(w, "  Ctrl-C drains in-flight requests and exits.")
}

// exitNow ends the process; tests replace it.
var exitNow = os.Exit

// exitOnSignal makes a Ctrl-C (or SIGTERM) during the drain exit at once with 128+the
// signal's number (130 for Ctrl-C, as a shell reports it), skipping the rest of the
// drain and the log flush: someone pressing Ctrl-C twice wants out now, and without
// this the signal context has already fired and the second press is swallowed.
// stop ends the watch.
func exitOnSignal(w io.Writer, exit func(int)) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		exitOnFirst(ch, done, w, exit)
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		<-finished
	}
}

func exitOnFirst(sigs <-chan os.Signal, done <-chan struct{}, w io.Writer, exit func(int)) {
	select {
	case sig := <-sigs:
		code := 130
		if n, ok := sig.(syscall.Signal); ok {
			code = 128 + int(n)
		}
		fmt.Fprintln(w, "Interrupted again: exiting without finishing the drain.")
		exit(code)
	case <-done:
	}
}

// gogcSet reports a GOGC in the environment: then the collector is left as it says.
func gogcSet() bool {
	_, set := os.LookupEnv("GOGC")
	return set
}

// describeModels is a provider's banner line: its models, its family and what it
// learned from the upstream.
func describeModels(cfg *config.Config, p provider.Provider) string {
	if cfg.ZeroConfig && p.Kind() == config.KindMock {
		return "every model name (offline mock: set OPENAI_API_KEY or ANTHROPIC_API_KEY, or add [[providers]], for real ones)"
	}
	out := strings.Join(p.Models(), ", ")
	if ml, ok := p.(provider.ModelLister); ok && ml.Catalog() != nil {
		out += " and " + strings.Join(ml.Catalog().Patterns(), ", ") + " (and what its /v1/models lists)"
	}
	return out
}

// envProviders names the provider keys set in the environment, which a config file
// with [[providers]] leaves unused.
func envProviders(getenv func(string) string) string {
	var names []string
	for _, v := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY"} {
		if getenv(v) != "" {
			names = append(names, v)
		}
	}
	return strings.Join(names, " and ")
}

// portInUse makes "address already in use" say what to do.
func portInUse(err error, addr string) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	var who []string
	for _, s := range []string{portHolder(addr), portProcess(addr)} {
		if s != "" {
			who = append(who, s)
		}
	}
	holder := ""
	if len(who) > 0 {
		holder = " (" + strings.Join(who, "; ") + ")"
	}
	return &exitError{code: exitConflict, err: fmt.Errorf("%s is already in use by another process%s: stop it, or pick another address with --addr 127.0.0.1:PORT (or PORT=…)",
		addr, holder)}
}

// portHolder says who holds addr when that is knowable from here: a Runestone
// gateway answers /health with its version.
func portHolder(addr string) string {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get("http://" + addr + "/health")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var h struct {
		Version string `json:"version"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&h) != nil || h.Version == "" {
		return ""
	}
	return fmt.Sprintf("a Runestone gateway, version %s, answers there: `runestone top --url http://%s` watches it", h.Version, addr)
}
