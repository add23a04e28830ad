package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/spf13/cobra"
)

func newKeysCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list, show, update and revoke client API keys",
		Long: `Client API keys authenticate requests to the gateway (Authorization: Bearer sk-rs-…).
Only a hash of each key is stored: the secret is printed once, by "keys create".
A running gateway picks up created and revoked keys within a second.`,
		Example: `  runestone keys create --name dev --rpm 60 --models gpt-4o-mini,mock
  runestone keys list
  runestone keys show key_1a2b3c4d5e6f
  runestone keys update key_1a2b3c4d5e6f --budget 20
  runestone keys revoke key_1a2b3c4d5e6f`,
	}
	cmd.AddCommand(
		newKeysCreateCmd(f, nil),
		newKeysListCmd(f, nil),
		newKeysShowCmd(f, nil),
		newKeysRevokeCmd(f, nil),
		newKeysUpdateCmd(f), // internal/cli/keys_update.go
		newKeysUsageCmd(f),  // internal/cli/keys_usage.go
	)
	return cmd
}

// keysIO is what every keys verb needs from the Factory.
type keysIO struct {
	Out, Err  io.Writer
	IsTTY     bool
	OpenStore func(context.Context) (*store.Store, error)
	// Defaults returns the gateway's default limits for display; ok=false when the
	// configuration cannot be read (the keys commands still work then).
	Defaults func() (rpm, rph, tpm, concurrent int, ok bool)
	Now      func() time.Time
}

func newKeysIO(f *Factory) keysIO {
	return keysIO{
		Out: f.Out, Err: f.Err, IsTTY: f.IsTTY, OpenStore: f.OpenStore, Now: time.Now,
		Defaults: func() (int, int, int, int, bool) {
			cfg, err := f.Config()
			if err != nil {
				return 0, 0, 0, 0, false
			}
			l := cfg.Limits
			return l.RPM, l.RPH, l.TPM, l.Concurrent, true
		},
	}
}

// withStore opens the database for one command and closes it after.
func (o keysIO) withStore(ctx context.Context, fn func(*store.Store) error) error {
	s, err := o.OpenStore(ctx)
	if err != nil {
		return err
	}
	err = fn(s)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close database: %w", cerr)
	}
	return err
}

// keysLookupError turns a store lookup failure into one sentence for the user.
func keysLookupError(id string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no key with id %s (see `runestone keys list --all`)", id)
	case errors.Is(err, store.ErrAmbiguous):
		return fmt.Errorf("%s matches more than one key; use the full id from `runestone keys list`", id)
	}
	return err
}

func keysOneArg(verb string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
			return usageError(fmt.Errorf("keys %s needs exactly one key id, e.g. runestone keys %s key_1a2b3c4d5e6f", verb, verb))
		}
		return nil
	}
}

// ---- create ----

type keysCreateOptions struct {
	keysIO
	Name, Project string
	RPM, RPH      *int
	TPM           *int
	Concurrent    *int
	Models        []string
	BudgetUSD     *float64
	BudgetPeriod  budget.Period
	Expires       time.Duration // 0 = never
	JSON          bool
}

func newKeysCreateCmd(f *Factory, runF func(*keysCreateOptions) error) *cobra.Command {
	opts := &keysCreateOptions{keysIO: newKeysIO(f)}
	var expires, period string
	cmd := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create a key and print its secret (shown only once)",
		Long: `Create a client API key. The secret is printed once and cannot be shown again:
only its SHA-256 hash is stored. Limits not given follow the gateway defaults
([limits] in config.toml); 0 means unlimited for this key.`,
		Example: `  runestone keys create --name dev
  runestone keys create --name ci --project web --rpm 60 --tpm 100000 --concurrent 2
  runestone keys create --name demo --models gpt-4o-mini,mock --budget 5 --expires 720h
  runestone keys create --name team --budget 50 --budget-period month   # resets on the 1st (UTC)
  export OPENAI_API_KEY=$(runestone keys create --name script)   # stdout is just the secret when piped`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Name = strings.TrimSpace(opts.Name)
			if opts.Name == "" {
				return usageError(errors.New("a key needs a name: runestone keys create --name dev"))
			}
			fl := cmd.Flags()
			if fl.Changed("expires") {
				d, err := keysParseExpiry(expires)
				if err != nil {
					return usageError(err)
				}
				opts.Expires = d
			}
			if fl.Changed("budget-period") {
				p, err := budget.Parse(period)
				if err != nil {
					return usageError(err)
				}
				opts.BudgetPeriod = p
			}
			opts.Models = keysSplitModels(opts.Models)
			if runF != nil {
				return runF(opts)
			}
			return keysCreateRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Name, "name", "", "name shown in logs and the dashboard (required)")
	fl.StringVar(&opts.Project, "project", "", "project, for grouping usage")
	fl.Var(keysIntFlag{&opts.RPM}, "rpm", "requests per minute (default: the gateway default; 0 = unlimited)")
	fl.Var(keysIntFlag{&opts.RPH}, "rph", "requests per hour (default: the gateway default; 0 = unlimited)")
	fl.Var(keysIntFlag{&opts.TPM}, "tpm", "tokens per minute (default: the gateway default; 0 = unlimited)")
	fl.Var(keysIntFlag{&opts.Concurrent}, "concurrent", "requests in flight at once (default: the gateway default; 0 = unlimited)")
	fl.StringSliceVar(&opts.Models, "models", nil, "comma-separated models this key may use (default: all; \"gpt-4o*\" matches a prefix)")
	fl.Var(keysBudgetFlag{&opts.BudgetUSD}, "budget", "spending cap in USD (default: none)")
	fl.StringVar(&period, "budget-period", "none", "when the budget starts over: none (lifetime), day, week (from Monday) or month; UTC")
	fl.StringVar(&expires, "expires", "", "lifetime, e.g. 720h or 30d (default: never)")
	fl.BoolVar(&opts.JSON, "json", false, "print the key and its secret as JSON")
	return cmd
}

func keysCreateRun(ctx context.Context, opts *keysCreateOptions) error {
	nk := store.NewKey{
		Name: opts.Name, Project: opts.Project,
		RPM: opts.RPM, RPH: opts.RPH, TPM: opts.TPM, Concurrent: opts.Concurrent,
		Models: opts.Models, BudgetUSD: opts.BudgetUSD, BudgetPeriod: opts.BudgetPeriod,
	}
	if opts.Expires > 0 {
		nk.ExpiresAt = opts.Now().Add(opts.Expires)
	}
	var (
		k      store.Key
		secret string
	)
	err := opts.withStore(ctx, func(s *store.Store) error {
		var err error
		k, secret, err = s.CreateKey(ctx, nk)
		return err
	})
	if err != nil {
		return err
	}
	const warning = "Copy the secret now: it will not be shown again."
	if opts.JSON {
		fmt.Fprintln(opts.Err, warning)
		return printJSON(opts.Out, struct {
			store.Key
			Secret string `json:"secret"`
		}{k, secret})
	}
	if !opts.IsTTY {
		// Piped: stdout is only the secret, so $(runestone keys create …) works.
		fmt.Fprintln(opts.Out, secret)
		fmt.Fprintf(opts.Err, "Created key %s (%s). %s\n", k.ID, k.Name, warning)
		return nil
	}
	fmt.Fprintf(opts.Out, "Created key %s (%s).\n\n    %s\n\n%s\n", k.ID, k.Name, secret, warning)
	return nil
}

// keysIntFlag is an optional limit: unset stays nil (the gateway default).
type keysIntFlag struct{ p **int }

func (v keysIntFlag) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a whole number, 0 (unlimited) or more")
	}
	if n < 0 {
		return errors.New("must be 0 (unlimited) or more")
	}
	*v.p = &n
	return nil
}

func (v keysIntFlag) String() string {
	if v.p == nil || *v.p == nil {
		return ""
	}
	return strconv.Itoa(**v.p)
}

func (keysIntFlag) Type() string { return "N" }

// keysBudgetFlag is an optional USD amount.
type keysBudgetFlag struct{ p **float64 }

func (v keysBudgetFlag) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimPrefix(strings.TrimSpace(s), "$"), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("want an amount of USD such as 5 or 12.50")
	}
	if f < 0 {
		return errors.New("must be 0 USD or more")
	}
	*v.p = &f
	return nil
}

func (v keysBudgetFlag) String() string {
	if v.p == nil || *v.p == nil {
		return ""
	}
	return strconv.FormatFloat(**v.p, 'f', -1, 64)
}

func (keysBudgetFlag) Type() string { return "USD" }

// keysParseExpiry accepts a Go duration ("720h", "90m") or whole days ("30d").
func keysParseExpiry(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("invalid --expires %q: use a duration such as 720h or 30d", s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100*365 {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("invalid --expires %q: the lifetime must be positive", s)
	}
	return d, nil
}

func keysSplitModels(in []string) []string {
	var out []string
	for _, m := range in {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// ---- list ----

type keysListOptions struct {
	keysIO
	All  bool
	JSON bool
}

func newKeysListCmd(f *Factory, runF func(*keysListOptions) error) *cobra.Command {
	opts := &keysListOptions{keysIO: newKeysIO(f)}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List keys (never their secrets)",
		Example: `  runestone keys list
  runestone keys list --all --json | jq '.[] | select(.revoked_at == null) | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return keysListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "include revoked keys")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as a JSON array")
	return cmd
}

func keysListRun(ctx context.Context, opts *keysListOptions) error {
	var (
		keys  []store.Key
		views []keyView
	)
	err := opts.withStore(ctx, func(s *store.Store) error {
		var err error
		if keys, err = s.ListKeys(ctx, opts.All); err != nil || !opts.JSON {
			return err
		}
		views, err = keyViews(ctx, s, keys, opts.Now())
		return err
	})
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.Out, views)
	}
	if len(keys) == 0 {
		fmt.Fprintln(opts.Err, "No keys yet. Create one with: runestone keys create --name dev")
		return nil
	}
	now := opts.Now()
	tw := tabwriter.NewWriter(opts.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPROJECT\tKEY\tRPM\tRPH\tTPM\tCONCURRENT\tCREATED\tLAST USED\tSTATUS")
	for i := range keys {
		k := &keys[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			k.ID, k.Name, keysOrDash(k.Project), k.Masked,
			keysLimitCell(k.RPM), keysLimitCell(k.RPH), keysLimitCell(k.TPM), keysLimitCell(k.Concurrent),
			keysFmtTime(&k.CreatedAt), keysOrNever(k.LastUsedAt), keysStatus(k, now))
	}
	return tw.Flush()
}

func keysLimitCell(p *int) string {
	switch {
	case p == nil:
		return "default"
	case *p == 0:
		return "unlimited"
	}
	return strconv.Itoa(*p)
}

func keysOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func keysFmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// keysHumanDuration is "30 days", "5h0m" or "12m": enough to judge an expiry.
func keysHumanDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

func keysOrNever(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return keysFmtTime(t)
}

func keysStatus(k *store.Key, now time.Time) string {
	switch {
	case k.Revoked():
		return "revoked"
	case k.Expired(now):
		return "expired"
	}
	return "active"
}

// ---- show ----

type keysShowOptions struct {
	keysIO
	ID   string
	JSON bool
}

func newKeysShowCmd(f *Factory, runF func(*keysShowOptions) error) *cobra.Command {
	opts := &keysShowOptions{keysIO: newKeysIO(f)}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one key: limits, models, budget, expiry, last use",
		Long: `Show one key. ID is the key id (key_…), a unique prefix of it, or the key's
masked form (sk-rs-abcd…wxyz) as "keys list" prints it.`,
		Example: `  runestone keys show key_1a2b3c4d5e6f
  runestone keys show key_1a2b --json`,
		Args: keysOneArg("show"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = strings.TrimSpace(args[0])
			if runF != nil {
				return runF(opts)
			}
			return keysShowRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func keysShowRun(ctx context.Context, opts *keysShowOptions) error {
	var v keyView
	now := opts.Now()
	err := opts.withStore(ctx, func(s *store.Store) error {
		k, err := s.GetKey(ctx, opts.ID)
		if err != nil {
			return keysLookupError(opts.ID, err)
		}
		vs, err := keyViews(ctx, s, []store.Key{k}, now)
		if err == nil {
			v = vs[0]
		}
		return err
	})
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.Out, v)
	}
	k := v.Key
	dRPM, dRPH, dTPM, dConc, haveDefaults := opts.Defaults()
	limit := func(p *int, def int) string {
		s := keysLimitCell(p)
		if p == nil && haveDefaults {
			if def == 0 {
				return "default (unlimited)"
			}
			return fmt.Sprintf("default (%d)", def)
		}
		return s
	}
	models := "all"
	if len(k.Models) > 0 {
		models = strings.Join(k.Models, ", ")
	}
	expires := "never"
	if k.ExpiresAt != nil {
		expires = keysFmtTime(k.ExpiresAt)
		if d := k.ExpiresAt.Sub(now); d > 0 {
			expires += " (in " + keysHumanDuration(d) + ")"
		} else {
			expires += " (expired)"
		}
	}
	tw := tabwriter.NewWriter(opts.Out, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"ID", k.ID}, {"Name", k.Name}, {"Project", keysOrDash(k.Project)}, {"Key", k.Masked},
		{"Status", keysStatus(&k, now)},
		{"RPM", limit(k.RPM, dRPM)}, {"RPH", limit(k.RPH, dRPH)}, {"TPM", limit(k.TPM, dTPM)},
		{"Concurrent", limit(k.Concurrent, dConc)},
		{"Models", models}, {"Budget", keysBudgetLine(v)}, {"Expires", expires},
		{"Created", keysFmtTime(&k.CreatedAt)}, {"Last used", keysOrNever(k.LastUsedAt)},
	}
	if k.RevokedAt != nil {
		rows = append(rows, [2]string{"Revoked", keysFmtTime(k.RevokedAt)})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// ---- revoke ----

type keysRevokeOptions struct {
	keysIO
	ID string
}

func newKeysRevokeCmd(f *Factory, runF func(*keysRevokeOptions) error) *cobra.Command {
	opts := &keysRevokeOptions{keysIO: newKeysIO(f)}
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key (a running gateway rejects it within a second)",
		Long: `Revoke a key: requests with it get 401 invalid_api_key from then on, including on a
gateway that is already running. ID is the key id or a unique prefix of it.`,
		Example: `  runestone keys revoke key_1a2b3c4d5e6f`,
		Args:    keysOneArg("revoke"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = strings.TrimSpace(args[0])
			if runF != nil {
				return runF(opts)
			}
			return keysRevokeRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func keysRevokeRun(ctx context.Context, opts *keysRevokeOptions) error {
	return opts.withStore(ctx, func(s *store.Store) error {
		k, err := s.GetKey(ctx, opts.ID)
		if err != nil {
			return keysLookupError(opts.ID, err)
		}
		if k.RevokedAt != nil {
			fmt.Fprintf(opts.Out, "Key %s (%s) was already revoked on %s.\n", k.ID, k.Name, keysFmtTime(k.RevokedAt))
			return nil
		}
		if err := s.RevokeKey(ctx, k.ID); err != nil {
			return keysLookupError(k.ID, err)
		}
		fmt.Fprintf(opts.Out, "Revoked key %s (%s). Requests with it now get 401; a running gateway applies this within a second.\n",
			k.ID, k.Name)
		return nil
	})
}
