// Package cli is the runestone command line: a cobra tree whose commands stay thin
// and call into the internal packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// BuildInfo is stamped by the linker (see .goreleaser.yaml).
type BuildInfo struct{ Version, Commit, Date string }

// Main runs the command line and returns the process exit code.
func Main(bi BuildInfo) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := NewFactory()
	return Execute(ctx, f, bi, os.Args[1:])
}

// Execute runs args against a fresh command tree (tests call it directly).
func Execute(ctx context.Context, f *Factory, bi BuildInfo, args []string) int {
	root := NewRoot(f, bi)
	root.SetArgs(args)
	root.SetOut(f.Out)
	root.SetErr(f.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if errors.Is(err, errSilent) {
		return 1
	}
	fmt.Fprintln(f.Err, "Error: "+sentence(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isUsage(err) {
		return 2
	}
	return 1
}

// isUsage recognises cobra's own argument and flag errors.
func isUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument",
		"flag needs an argument", "accepts ", "requires at least", "requires at most", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// NewRoot builds the command tree.
func NewRoot(f *Factory, bi BuildInfo) *cobra.Command {
	root := &cobra.Command{
		Use:   "runestone",
		Short: "A fast local OpenAI-compatible LLM gateway",
		Long: `Runestone is an OpenAI-compatible LLM gateway for your machine: point any OpenAI SDK at
http://127.0.0.1:4001/v1 and it authenticates, rate-limits, routes, retries, fails over,
streams and records every request in a local SQLite file.`,
		Example: `  runestone serve                       # start the gateway (offline mock when no provider key is set)
  runestone keys create --name dev      # make a client key
  runestone logs --follow               # watch requests land`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&f.Home, "home", "", "home folder (default $RUNESTONE_HOME or ~/.runestone)")
	root.PersistentFlags().StringVar(&f.ConfigFile, "config", "", "config file (default <home>/config.toml)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(
		newServeCmd(f, bi),
		newConfigCmd(f),
		newVersionCmd(f, bi),
		newTopCmd(f, bi),
		newProvidersCmd(f),
		newKeysCmd(f),
		newLogsCmd(f),
	)
	return root
}
