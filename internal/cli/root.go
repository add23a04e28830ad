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
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.Is(err, errSilent) {
		// Silent, with a code of its own when one was given (exec passes its command's on).
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	code := 1
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case isUsage(err):
		code = 2
	}
	msg := oneLine(err.Error())
	if code == 2 && cmd != nil && isUsage(err) {
		// cobra's own complaints name no remedy: point at the help of the command that failed.
		msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	fmt.Fprintln(f.Err, "Error: "+sentence(msg))
	return code
}

// oneLine folds multi-line errors (cobra's "Did you mean this?" suggestions, joined
// validation errors) into one line, so every error is one line on stderr.
func oneLine(msg string) string {
	head, sugg, ok := strings.Cut(msg, "\n\nDid you mean this?\n")
	if !ok {
		// errors.Join (config validation) puts one problem per line: keep them on one.
		var parts []string
		for _, l := range strings.Split(msg, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				parts = append(parts, l)
			}
		}
		return strings.Join(parts, "; ")
	}
	var names []string
	for _, l := range strings.Split(sugg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return fmt.Sprintf("%s (did you mean %s?)", strings.TrimSpace(head), strings.Join(names, " or "))
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
		newSessionsCmd(f),
		newExecCmd(f, bi),
		newCassettesCmd(f),
		newPricesCmd(f),
	)
	// --version prints what `runestone version` does.
	v := resolveVersion(bi)
	root.Version = fmt.Sprintf("%s (commit %s, built %s)", v.Version, v.Commit, v.Date)
	root.SetVersionTemplate("runestone {{.Version}}\n")
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	polishTree(root, f)
	return root
}

// polishTree gives cobra's built-in commands examples and makes every command group
// (keys, config, …) reject an unknown subcommand with exit 2 instead of printing help
// and exiting 0, which is cobra's default for a group without a Run.
func polishTree(root *cobra.Command, f *Factory) {
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = "  runestone help keys create"
			// cobra's help prints usage and exits 0 for an unknown topic.
			c.Run = nil
			c.RunE = func(cmd *cobra.Command, args []string) error {
				target, rest, err := cmd.Root().Find(args)
				if err != nil || len(rest) > 0 {
					return usageError(fmt.Errorf("unknown help topic %q (see 'runestone --help')", strings.Join(args, " ")))
				}
				target.InitDefaultHelpFlag()
				return target.Help()
			}
		case "completion":
			c.Long += completionLong
			c.Example = completionExample
			for _, sh := range c.Commands() {
				sh.Example = fmt.Sprintf("  runestone completion %s > %s", sh.Name(), completionFile[sh.Name()])
			}
		}
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		registerCompletions(c, f)
		for _, sub := range c.Commands() {
			if sub.HasSubCommands() && sub.Run == nil && sub.RunE == nil {
				sub.Args = unknownSubcommand
				sub.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
			}
			walk(sub)
		}
	}
	walk(root)
}

func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return usageError(errors.New(msg))
}

const completionLong = `
Shells load completions from these places:

  bash        source <(runestone completion bash)          # current shell
              runestone completion bash > /etc/bash_completion.d/runestone
  zsh         runestone completion zsh > "${fpath[1]}/_runestone"
  fish        runestone completion fish > ~/.config/fish/completions/runestone.fish
  powershell  runestone completion powershell | Out-String | Invoke-Expression
`

const completionExample = `  source <(runestone completion bash)
  runestone completion zsh > "${fpath[1]}/_runestone"
  runestone completion fish > ~/.config/fish/completions/runestone.fish
  runestone completion powershell | Out-String | Invoke-Expression`

var completionFile = map[string]string{
	"bash":       "/etc/bash_completion.d/runestone",
	"zsh":        `"${fpath[1]}/_runestone"`,
	"fish":       "~/.config/fish/completions/runestone.fish",
	"powershell": "runestone.ps1",
}
