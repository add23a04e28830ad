package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"
)

// completeProviders offers the provider names of the running gateway, else of the
// local configuration.
func completeProviders(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return providerNames(cmd.Context(), f), cobra.ShellCompDirectiveNoFileComp
	}
}

func providerNames(ctx context.Context, f *Factory) []string {
	var names []string
	if t, err := f.findGateway("", ""); err == nil {
		ctx, cancel := context.WithTimeout(cmdCtx(ctx), time.Second)
		defer cancel()
		if infos, err := t.client().ProviderInfo(ctx); err == nil {
			for _, in := range infos {
				names = append(names, in.Name)
			}
			return names
		}
	}
	if cfg, err := f.Config(); err == nil {
		for _, p := range cfg.Providers {
			names = append(names, p.Name)
		}
	}
	return names
}

// completeKeys offers key ids, described by their names.
func completeKeys(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return keyCompletions(cmd.Context(), f), cobra.ShellCompDirectiveNoFileComp
	}
}

func keyCompletions(ctx context.Context, f *Factory) []string {
	ctx = cmdCtx(ctx)
	st, err := f.OpenStore(ctx)
	if err != nil {
		return nil
	}
	defer st.Close()
	keys, err := st.ListKeys(ctx, false)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.ID+"\t"+k.Name)
	}
	return out
}

// statusCompletions are the values --status takes.
var statusCompletions = []string{"2xx\tsuccess", "4xx\tclient errors", "5xx\tserver errors", "200", "400", "401",
	"403", "404", "429\trate limited", "500", "502", "503"}

// registerCompletions wires the dynamic completions of flags shared across commands.
func registerCompletions(cmd *cobra.Command, f *Factory) {
	switch cmd.CommandPath() {
	case "runestone keys show", "runestone keys revoke", "runestone keys update", "runestone keys usage":
		cmd.ValidArgsFunction = completeKeys(f)
	}
	if fl := cmd.Flags().Lookup("key"); fl != nil && cmd.Parent() != nil && cmd.Parent().Name() != "replay" &&
		cmd.Name() != "replay" {
		_ = cmd.RegisterFlagCompletionFunc("key", completeKeys(f))
	}
	if fl := cmd.Flags().Lookup("status"); fl != nil {
		_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(statusCompletions, cobra.ShellCompDirectiveNoFileComp))
	}
	if fl := cmd.Flags().Lookup("provider"); fl != nil {
		_ = cmd.RegisterFlagCompletionFunc("provider", func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
			return providerNames(c.Context(), f), cobra.ShellCompDirectiveNoFileComp
		})
	}
}

func cmdCtx(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// trunc cuts s to n runes, marking the cut.
func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
