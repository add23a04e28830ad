package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/spf13/cobra"
)

func newProvidersCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "providers",
		Short: "List and probe the configured providers",
		Example: `  runestone providers list
  runestone providers test openai`,
	}
	cmd.AddCommand(newProvidersListCmd(f), newProvidersTestCmd(f))
	return cmd
}

// providerInfo is one row of `providers list`; the key itself is never shown.
type providerInfo struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	BaseURL   string   `json:"base_url,omitempty"`
	Models    []string `json:"models"`
	Priority  int      `json:"priority"`
	KeySet    bool     `json:"key_set"`
	Live      bool     `json:"live"` // breaker and latency come from a running gateway
	Breaker   string   `json:"breaker,omitempty"`
	P50MS     float64  `json:"p50_ms,omitempty"`
	ErrorRate float64  `json:"error_rate,omitempty"`
	LastError string   `json:"last_error,omitempty"`
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

func newProvidersListCmd(f *Factory) *cobra.Command {
	var (
		asJSON bool
		url    string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show providers, their models, and live breaker state when a gateway runs",
		Long: `List the configured providers (never their keys). When a gateway answers on --url
(default: server.addr from the configuration), each row also shows its live breaker
state, p50 latency and last error.`,
		Example: `  runestone providers list
  runestone providers list --json | jq '.[] | {name, breaker}'
  runestone providers list --url http://127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.Config()
			if err != nil {
				return err
			}
			ps, err := server.BuildProviders(cfg)
			if err != nil {
				return err
			}
			if url == "" {
				url = "http://" + cfg.Server.Addr
			}
			url = strings.TrimRight(url, "/")
			live := fetchHealth(cmd.Context(), url, cfg.Auth.AdminKey)
			rows := make([]providerInfo, 0, len(ps))
			for i, p := range ps {
				pc := cfg.Providers[i]
				row := providerInfo{Name: p.Name(), Kind: p.Kind(), BaseURL: config.MaskURL(pc.BaseURL), Models: p.Models(),
					Priority: pc.Priority, KeySet: pc.APIKey != ""}
				if cfg.ZeroConfig && p.Kind() == config.KindMock {
					row.Models = []string{"*"}
				}
				if st, ok := live[p.Name()]; ok {
					row.Live, row.Breaker, row.P50MS, row.ErrorRate, row.LastError = true, st.Breaker, st.P50MS, st.ErrorRate, st.LastError
					row.RateLimitedUntil = st.RateLimitedUntil
				}
				rows = append(rows, row)
			}
			if asJSON {
				return printJSON(f.Out, rows)
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tBASE URL\tPRIORITY\tKEY\tBREAKER\tP50\tMODELS")
			for _, r := range rows {
				key, breaker, p50 := "unset", "—", "—"
				if r.KeySet {
					key = "set"
				}
				if r.Live {
					breaker, p50 = r.stateText(time.Now()), fmt.Sprintf("%.0fms", r.P50MS)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Kind, orDash(r.BaseURL), r.Priority, key, breaker, p50,
					strings.Join(r.Models, ", "))
			}
			if len(live) == 0 {
				fmt.Fprintln(tw, "\n(no gateway answering on "+url+": breaker state shows while `runestone serve` runs)")
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().StringVar(&url, "url", "", "gateway URL for live state (default: http:// + server.addr from the configuration)")
	return cmd
}

// fetchHealth reads each provider's live state from a running gateway, if there is one.
func fetchHealth(ctx context.Context, baseURL, adminKey string) map[string]events.ProviderState {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ps, err := adminapi.New(baseURL, adminKey, nil).Providers(ctx)
	if err != nil {
		return nil
	}
	out := make(map[string]events.ProviderState, len(ps))
	for _, p := range ps {
		out[p.Name] = p
	}
	return out
}

// probeResult is one provider's verdict.
type probeResult struct {
	Provider  string  `json:"provider"`
	Model     string  `json:"model"`
	Verdict   string  `json:"verdict"` // ok | auth failed | unreachable | model missing | error
	LatencyMS float64 `json:"latency_ms"`
	Detail    string  `json:"detail,omitempty"`
}

func newProvidersTestCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "test [NAME]",
		Short: "Send one minimal real request to each provider and report latency and a verdict",
		Long: `Send a one-token chat request (an embedding for embedding-only providers) straight to
each configured provider, not through a gateway, and print latency and a verdict: ok,
auth failed, unreachable, model missing or error. This spends a few tokens. Exits 1 when
any provider fails.`,
		Example: `  runestone providers test
  runestone providers test openai
  runestone providers test --json | jq -r '.[] | select(.verdict != "ok") | .provider'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.Config()
			if err != nil {
				return err
			}
			ps, err := server.BuildProviders(cfg)
			if err != nil {
				return err
			}
			var results []probeResult
			for _, p := range ps {
				if len(args) == 1 && p.Name() != args[0] {
					continue
				}
				results = append(results, probe(cmd.Context(), p))
			}
			if len(args) == 1 && len(results) == 0 {
				return usageError(fmt.Errorf("no provider named %q", args[0]))
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
	return cmd
}

func probe(ctx context.Context, p provider.Provider) probeResult {
	models := p.Models()
	model := "mock"
	if len(models) > 0 {
		model = models[0]
	}
	call := &provider.Call{Endpoint: provider.Chat, Model: model, ClientModel: model,
		Body: []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)}
	for _, m := range models {
		if !strings.Contains(m, "embedding") {
			model = m
			call.Model, call.ClientModel = m, m
			call.Body = []byte(`{"model":"` + m + `","messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)
			break
		}
		call = &provider.Call{Endpoint: provider.Embeddings, Model: m, ClientModel: m, Body: []byte(`{"model":"` + m + `","input":"ping"}`)}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := p.Do(ctx, call)
	r := probeResult{Provider: p.Name(), Model: call.Model, LatencyMS: float64(time.Since(start).Microseconds()) / 1000, Verdict: "ok"}
	if err == nil {
		return r
	}
	r.Detail = err.Error()
	e := apierr.As(err)
	switch {
	case e == nil:
		r.Verdict = "error"
	case e.Code == "provider_auth_failed" || e.Status == 401 || e.Status == 403:
		r.Verdict = "auth failed"
	case e.Code == "upstream_unreachable":
		r.Verdict = "unreachable"
	case e.Status == 404:
		r.Verdict = "model missing"
	default:
		r.Verdict = "error"
	}
	return r
}
