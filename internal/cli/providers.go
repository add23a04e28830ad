package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/spf13/cobra"
)

func newProvidersCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "providers",
		Short: "List and probe the running gateway's providers",
		Example: `  runestone providers list
  runestone providers test openai`,
	}
	cmd.AddCommand(newProvidersListCmd(f), newProvidersTestCmd(f))
	return cmd
}

// providerInfo is one row of `providers list`; the key itself is never shown.
type providerInfo struct {
	adminapi.ProviderInfo
	// Source says whose view this is: "gateway" (the running one) or "local" (this
	// shell's configuration and environment, when no gateway answers).
	Source    string  `json:"source"`
	Live      bool    `json:"live"` // breaker and latency come from a running gateway
	Breaker   string  `json:"breaker,omitempty"`
	P50MS     float64 `json:"p50_ms,omitempty"`
	ErrorRate float64 `json:"error_rate,omitempty"`
	LastError string  `json:"last_error,omitempty"`
	// RateLimitedUntil: the provider's latest 429 asked the gateway to wait until then.
	RateLimitedUntil time.Time `json:"rate_limited_until,omitzero"`
}

// stateText is the BREAKER column: a rate limit that is still running is shown instead
// of a closed breaker (a 429 never opens it), in local time.
func (r providerInfo) stateText(now time.Time) string {
	if r.Breaker == "closed" && r.RateLimitedUntil.After(now) {
		return "rate-limited until " + r.RateLimitedUntil.Local().Format(time.TimeOnly)
	}
	return r.Breaker
}

// gatewayFlags are --url and --admin-key, shared by the commands that read a
// running gateway.
type gatewayFlags struct{ url, adminKey string }

func (g *gatewayFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&g.url, "url", "", "gateway URL (default: the gateway serving --home, else http:// + server.addr)")
	cmd.Flags().StringVar(&g.adminKey, "admin-key", "", "admin key, when the gateway sets one (default $RUNESTONE_ADMIN_KEY)")
}

func newProvidersListCmd(f *Factory) *cobra.Command {
	var (
		asJSON bool
		gf     gatewayFlags
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show the running gateway's providers: models, breaker, p50 and last error",
		Long: `List the providers of the running gateway (found through --url, else the gateway
serving --home, else server.addr), never their keys: models and name families, live
breaker state, p50 latency and last error. When no gateway answers, the configuration
this shell would start one with is shown instead, and says so.`,
		Example: `  runestone providers list
  runestone providers list --json | jq '.[] | {name, breaker, last_error}'
  runestone providers list --url http://127.0.0.1:8080 --admin-key $RUNESTONE_ADMIN_KEY`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := f.findGateway(gf.url, gf.adminKey)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
			defer cancel()
			rows, gwErr := gatewayProviders(ctx, t)
			if adminapi.IsUnauthorized(gwErr) {
				return t.explain(gwErr)
			}
			if gwErr != nil {
				if rows, err = f.localProviders(); err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(f.Out, rows)
			}
			if gwErr == nil {
				fmt.Fprintf(f.Out, "Providers of the gateway at %s:\n", t.URL)
			} else {
				fmt.Fprintf(f.Out, "No gateway answering on %s: showing the configuration this shell would serve (its environment may differ from the gateway's).\n", t.URL)
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tBASE URL\tPRIORITY\tKEY\tBREAKER\tP50\tLAST ERROR\tMODELS")
			for _, r := range rows {
				key, breaker, p50, last := "unset", "—", "—", "—"
				if r.KeySet {
					key = "set"
				}
				if r.Live {
					breaker, p50 = r.stateText(time.Now()), fmt.Sprintf("%.0fms", r.P50MS)
					if r.LastError != "" {
						last = trunc(r.LastError, 40)
					}
				}
				models := strings.Join(append(append([]string{}, r.Models...), r.Patterns...), ", ")
				if r.Learned > 0 {
					models += fmt.Sprintf(" (+%d listed by the upstream)", r.Learned)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Kind, orDash(r.BaseURL), r.Priority, key, breaker, p50,
					last, models)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	gf.register(cmd)
	return cmd
}

// gatewayProviders is the running gateway's view: its configuration and live state.
func gatewayProviders(ctx context.Context, t gatewayTarget) ([]providerInfo, error) {
	c := t.client()
	infos, err := c.ProviderInfo(ctx)
	if err != nil {
		return nil, err
	}
	states, err := c.Providers(ctx)
	if err != nil {
		return nil, err
	}
	live := make(map[string]events.ProviderState, len(states))
	for _, s := range states {
		live[s.Name] = s
	}
	rows := make([]providerInfo, 0, len(infos))
	for _, in := range infos {
		row := providerInfo{ProviderInfo: in, Source: "gateway"}
		if st, ok := live[in.Name]; ok {
			row.Live, row.Breaker, row.P50MS, row.ErrorRate, row.LastError = true, st.Breaker, st.P50MS, st.ErrorRate, st.LastError
			row.RateLimitedUntil = st.RateLimitedUntil
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// localProviders is what this shell's configuration and environment would serve.
func (f *Factory) localProviders() ([]providerInfo, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	ps, err := server.BuildProviders(cfg)
	if err != nil {
		return nil, err
	}
	var rows []providerInfo
	for _, in := range server.ProviderInfo(cfg, ps) {
		rows = append(rows, providerInfo{ProviderInfo: in, Source: "local"})
	}
	return rows, nil
}

// probeResult is one provider's verdict.
type probeResult = adminapi.ProbeResult

func newProvidersTestCmd(f *Factory) *cobra.Command {
	var (
		asJSON, local bool
		gf            gatewayFlags
	)
	cmd := &cobra.Command{
		Use:   "test [NAME]",
		Short: "Have the gateway send one minimal real request to each provider and report latency and a verdict",
		Long: `Ask the running gateway to send a one-token chat request (an embedding for
embedding-only providers) to each of its providers, with its own keys, and print latency
and a verdict: ok, auth failed, unreachable, model missing or error. This spends a few
tokens. When no gateway answers (or with --local), the providers of this shell's
configuration and environment are tested from here instead, and the output says so.
Exits 1 when any provider fails.`,
		Example: `  runestone providers test
  runestone providers test openai
  runestone providers test --json | jq -r '.[] | select(.verdict != "ok") | .provider'`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeProviders(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			var results []probeResult
			from := ""
			if !local {
				t, err := f.findGateway(gf.url, gf.adminKey)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
				defer cancel()
				if err := t.ping(ctx); err == nil {
					res, err := t.client().TestProviders(ctx, name)
					if err != nil {
						return t.explain(err)
					}
					results, from = res, "the gateway at "+t.URL
				} else if adminapi.IsUnauthorized(err) {
					return t.explain(err)
				} else {
					fmt.Fprintf(f.Err, "No gateway answering on %s: testing this shell's configuration from here (the gateway's environment may differ).\n", t.URL)
				}
			}
			if from == "" {
				cfg, err := f.Config()
				if err != nil {
					return err
				}
				ps, err := server.BuildProviders(cfg)
				if err != nil {
					return err
				}
				for _, p := range ps {
					if name == "" || p.Name() == name {
						results = append(results, server.Probe(cmd.Context(), p))
					}
				}
				from = "this shell"
			}
			if name != "" && len(results) == 0 {
				return usageError(fmt.Errorf("no provider named %q in %s", name, from))
			}
			failed := 0
			for _, r := range results {
				if r.Verdict != "ok" {
					failed++
				}
			}
			if asJSON {
				if err := printJSON(f.Out, results); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(f.Out, "Tested by %s:\n", from)
				tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PROVIDER\tMODEL\tVERDICT\tLATENCY\tDETAIL")
				for _, r := range results {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%.0fms\t%s\n", r.Provider, r.Model, r.Verdict, r.LatencyMS, r.Detail)
				}
				_ = tw.Flush()
			}
			if failed > 0 {
				return errSilent
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&local, "local", false, "test this shell's configuration from here, not the running gateway's")
	gf.register(cmd)
	return cmd
}
