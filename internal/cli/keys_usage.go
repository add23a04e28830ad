package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/jmanhype/runestone/internal/store"
)

type keysUsageOptions struct {
	f     *Factory
	keyID string
	since string
	by    string
	json  bool
}

// usageReport is the --json document of `keys usage`.
type usageReport struct {
	Since  time.Time          `json:"since"`
	By     string             `json:"by"`
	KeyID  string             `json:"key_id,omitempty"`
	Groups []store.UsageGroup `json:"groups"`
	Total  store.UsageGroup   `json:"total"`
}

// newKeysUsageCmd is `runestone keys usage [ID]`.
func newKeysUsageCmd(f *Factory) *cobra.Command {
	o := &keysUsageOptions{f: f}
	cmd := &cobra.Command{
		Use:   "usage [ID]",
		Short: "Show requests, tokens and cost per key, project or model",
		Long: `Show requests, tokens and cost from the request log, grouped by key, project or
model, with a total. CACHED and CACHE WRITE are the prompt tokens read from and written
to a provider's prompt cache (part of PROMPT). Requests for a model that has no price
(or that used a cache whose rate is unknown) are counted as unpriced: their cost is
unknown, not $0, and is left out of the cost column.`,
		Example: `  runestone keys usage --since 7d
  runestone keys usage key_abc123 --by model`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.keyID = args[0]
			}
			switch o.by {
			case "key", "project", "model":
			default:
				return usageError(fmt.Errorf("--by %q: want key, project or model", o.by))
			}
			since, err := parseSince(o.since, time.Now())
			if err != nil {
				return usageError(err)
			}
			return keysUsageRun(cmd.Context(), o, since)
		},
	}
	cmd.Flags().StringVar(&o.since, "since", "24h", "count requests from this long ago (`DURATION`, e.g. 24h, 7d) or after an RFC 3339 time")
	cmd.Flags().StringVar(&o.by, "by", "key", "group by key, project or model")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON instead of a table")
	return cmd
}

func keysUsageRun(ctx context.Context, o *keysUsageOptions, since time.Time) error {
	st, err := o.f.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	groups, err := st.Usage(ctx, since, o.by, o.keyID)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	if groups == nil {
		groups = []store.UsageGroup{}
	}
	total := store.UsageGroup{Key: "total"}
	for _, g := range groups {
		total.Requests += g.Requests
		total.PromptTokens += g.PromptTokens
		total.CompletionTokens += g.CompletionTokens
		total.CachedTokens += g.CachedTokens
		total.CacheWriteTokens += g.CacheWriteTokens
		total.CostUSD += g.CostUSD
		total.UnpricedRequests += g.UnpricedRequests
		total.EstimatedRequests += g.EstimatedRequests
		total.EstimatedCostUSD += g.EstimatedCostUSD
	}
	if o.json {
		return printJSON(o.f.Out, usageReport{Since: since.UTC(), By: o.by, KeyID: o.keyID, Groups: groups, Total: total})
	}
	if len(groups) == 0 {
		fmt.Fprintf(o.f.Err, "No requests since %s.\n", since.Local().Format("2006-01-02 15:04"))
		return nil
	}
	// Numbers align right; the label column is padded to one width first so that it
	// reads left-aligned.
	labels := []string{strings.ToUpper(o.by), "TOTAL"}
	for _, g := range groups {
		labels = append(labels, groupLabel(o.by, g))
	}
	width := 0
	for _, l := range labels {
		width = max(width, utf8.RuneCountInString(l))
	}
	pad := func(s string) string { return s + strings.Repeat(" ", width-utf8.RuneCountInString(s)) }
	tw := tabwriter.NewWriter(o.f.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	// CACHED and CACHE WRITE are the parts of PROMPT read from and written to a cache.
	// ESTIMATED counts requests whose tokens the gateway estimated (no usage from the provider).
	fmt.Fprintf(tw, "%s\tREQUESTS\tPROMPT\tCACHED\tCACHE WRITE\tCOMPLETION\tCOST\tUNPRICED\tESTIMATED\t\n", pad(strings.ToUpper(o.by)))
	row := func(label string, g store.UsageGroup) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t\n", pad(label), g.Requests, g.PromptTokens, g.CachedTokens,
			g.CacheWriteTokens, g.CompletionTokens, usageCost(g), g.UnpricedRequests, g.EstimatedRequests)
	}
	for _, g := range groups {
		row(groupLabel(o.by, g), g)
	}
	row("TOTAL", total)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(o.f.Out, "\nTotal: %s\n", costSummary(total.CostUSD, total.UnpricedRequests, total.EstimatedCostUSD))
	if total.UnpricedRequests > 0 {
		fmt.Fprintf(o.f.Out, "%d request(s) used models with no price (or no cache price): their cost is unknown and not included above.\n"+
			"Add a [pricing.\"MODEL\"] entry (with cache_read / cache_write) to config.toml to count them.\n", total.UnpricedRequests)
	}
	return nil
}

// costSummary says a total the way it adds up: the priced sum, the unpriced
// requests beside it (never folded in as $0), and how much of the sum was priced
// from estimated token counts.
func costSummary(usd float64, unpriced int, estimated float64) string {
	s := formatUSD(usd)
	if unpriced > 0 {
		s += fmt.Sprintf(" + %d unpriced request", unpriced)
		if unpriced > 1 {
			s += "s"
		}
	}
	if estimated > 0 {
		s += " (" + formatUSD(estimated) + " of it from estimated tokens)"
	}
	return s
}

// usageCost is the priced spend, or "—" when every request in the group is unpriced
// (unknown is not $0).
func usageCost(g store.UsageGroup) string {
	if g.CostUSD == 0 && g.UnpricedRequests > 0 && g.UnpricedRequests == g.Requests {
		return unknownMark
	}
	s := formatUSD(g.CostUSD)
	if g.UnpricedRequests > 0 {
		s += "+?"
	}
	return s
}

func groupLabel(by string, g store.UsageGroup) string {
	switch {
	case by == "key" && g.Key == "":
		return "(no key)"
	case by == "key" && g.Name != "":
		return g.Name + " (" + g.Key + ")"
	case g.Key == "":
		return "(none)"
	}
	return g.Key
}
