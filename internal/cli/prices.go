package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/usage"
)

// newPricesCmd is `runestone prices`: the price table the gateway bills with.
func newPricesCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "prices",
		Short: "List the price table, explain a model's price, or find unpriced models",
		Long: `List the price table the gateway prices requests with: the built-in rows (USD per
million tokens, the day each was checked and the page it came from) and config.toml's
[pricing] overrides. A row marked unverified has a rate from a secondary source or
derived from the provider's published multiplier; its note says which.`,
		Example: `  runestone prices
  runestone prices show claude-opus-5-5-20260922
  runestone prices check`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := pricer(f)
			if err != nil {
				return err
			}
			rows := p.Rows()
			if asJSON {
				return printJSON(f.Out, rows)
			}
			tw := tabwriter.NewWriter(f.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tINPUT\tOUTPUT\tCACHE READ\tWRITE 5M\tWRITE 1H\tLONG\tTIERS\tCHECKED\tSOURCE")
			for _, r := range rows {
				name := r.Name
				if len(r.Aliases) > 0 {
					name += " (+" + strconv.Itoa(len(r.Aliases)) + ")"
				}
				checked := r.Checked
				if !r.Verified {
					checked += " unverified"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, rate(r.Input), rate(r.Output),
					rate(r.CachedInput), rate(r.CacheWrite), rate(r.CacheWrite1h), longTier(r.Price), tiers(r.Price),
					orDash(checked), r.Source)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(f.Out, "\nUSD per million tokens; "+unknownMark+" = unknown (a request that needs it gets an unknown cost, never $0).")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.AddCommand(newPricesShowCmd(f), newPricesCheckCmd(f))
	return cmd
}

func newPricesShowCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "show NAME",
		Short:   "Say which price row a model name resolves to, and why",
		Example: "  runestone prices show anthropic:claude-sonnet-4-5-20250929",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := pricer(f)
			if err != nil {
				return err
			}
			res, ok := p.Resolve(args[0])
			if !ok {
				return fmt.Errorf("no price for %q: its requests are logged with an unknown cost; add [pricing.%q] to config.toml", args[0], args[0])
			}
			r := res.Row
			tw := tabwriter.NewWriter(f.Out, 0, 0, 2, ' ', 0)
			line := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
			line("Model", args[0])
			line("Row", r.Name)
			why := "exact name"
			if len(res.Steps) > 0 {
				why = strings.Join(res.Steps, ", then ")
				if res.Name != r.Name {
					why += " (" + res.Name + ")"
				}
			}
			line("Why", why)
			line("Input", rate(r.Input))
			line("Output", rate(r.Output)+"  (reasoning tokens included)")
			line("Cache read", rate(r.CachedInput))
			line("Cache write 5m", rate(r.CacheWrite))
			line("Cache write 1h", rate(r.CacheWrite1h))
			line("Long context", longTier(r.Price))
			line("Service tiers", tiers(r.Price))
			if r.WebSearch > 0 {
				line("Web search", fmt.Sprintf("$%g per call", r.WebSearch))
			}
			if len(r.Aliases) > 0 {
				line("Aliases", strings.Join(r.Aliases, ", "))
			}
			src := r.Source
			if r.Checked != "" {
				src += "  (checked " + r.Checked + ")"
			}
			line("Source", src)
			if r.Override {
				line("Override", "config.toml replaces the built-in row whole")
			} else if !r.Verified {
				line("Verified", "no")
			}
			if r.Note != "" {
				line("Note", r.Note)
			}
			return tw.Flush()
		},
	}
}

func newPricesCheckCmd(f *Factory) *cobra.Command {
	var since string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "List the models in the request log that have no price",
		Long: `List every model the request log saw (asked for, sent upstream or named by the
answer) that the price table cannot price, with how many requests used it. Exits 1
when there is one, so a script can check its table. The offline mock and replayed
answers cost nothing by design and are not listed.`,
		Example: "  runestone prices check --since 7d",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := parseSince(since, time.Now())
			if err != nil {
				return usageError(err)
			}
			return pricesCheck(cmd.Context(), f, from)
		},
	}
	cmd.Flags().StringVar(&since, "since", "30d", "look at requests from this long ago (`DURATION`) or after an RFC 3339 time")
	return cmd
}

func pricesCheck(ctx context.Context, f *Factory, since time.Time) error {
	p, err := pricer(f)
	if err != nil {
		return err
	}
	cfg, _ := f.Config()
	st, err := f.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	seen, err := st.ModelsSince(ctx, since)
	if err != nil {
		return err
	}
	type miss struct{ requests, unpriced int }
	missing := map[string]*miss{}
	var order []string
	for _, m := range seen {
		if m.Provider == "replay" || m.Provider == "" || isMock(cfg, m.Provider) {
			continue // nothing was billed, or nothing answered
		}
		name := p.PricedName(m.AnsweredModel, m.UpstreamModel)
		if name == "" {
			name = m.Model
		}
		if _, ok := p.Lookup(name); ok {
			continue
		}
		if missing[name] == nil {
			missing[name] = &miss{}
			order = append(order, name)
		}
		missing[name].requests += m.Requests
		missing[name].unpriced += m.Unpriced
	}
	if len(order) == 0 {
		fmt.Fprintf(f.Out, "Every model logged since %s has a price.\n", since.Local().Format("2006-01-02"))
		return nil
	}
	tw := tabwriter.NewWriter(f.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tREQUESTS\tUNPRICED")
	for _, n := range order {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", n, missing[n].requests, missing[n].unpriced)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return &exitError{code: 1, err: fmt.Errorf("%d model(s) without a price: add [pricing.\"MODEL\"] with input and output to config.toml", len(order))}
}

// pricer is the gateway's pricer for this configuration.
func pricer(f *Factory) (*usage.Pricer, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	return usage.NewPricer(server.Prices(cfg), nil), nil
}

func isMock(cfg *config.Config, provider string) bool {
	if provider == "mock" {
		return true
	}
	if cfg == nil {
		return false
	}
	for _, p := range cfg.Providers {
		if p.Name == provider {
			return p.Kind == config.KindMock
		}
	}
	return false
}

// rate prints a USD-per-million rate; 0 is unknown.
func rate(v float64) string {
	if v == 0 {
		return unknownMark
	}
	return "$" + strconv.FormatFloat(v, 'f', -1, 64)
}

func longTier(p usage.Price) string {
	if p.LongAbove == 0 {
		return "none"
	}
	return fmt.Sprintf(">%dk: %s in, %s out, %s read", p.LongAbove/1000, rate(p.LongInput), rate(p.LongOutput), rate(p.LongCachedInput))
}

func tiers(p usage.Price) string {
	var s []string
	if p.Priority > 0 {
		s = append(s, fmt.Sprintf("priority x%g", p.Priority))
	}
	if p.Flex > 0 {
		s = append(s, fmt.Sprintf("flex x%g", p.Flex))
	}
	if len(s) == 0 {
		return "standard only"
	}
	return strings.Join(s, ", ")
}
