package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	budgetpkg "github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/spf13/cobra"
)

// newKeysUpdateCmd is `runestone keys update ID`: change a key's limits, budget,
// models, project or expiry in place (the budget error tells users to raise it).
func newKeysUpdateCmd(f *Factory) *cobra.Command {
	io := newKeysIO(f)
	var (
		name, project, models, budget, period, expires string
		rpm, rph, tpm, concurrent                      string
		asJSON                                         bool
	)
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a key's limits, budget, models, project or expiry",
		Long: `Change a key in place; flags not given stay as they are. A running gateway (every
replica) applies the change within a second. Limits take a number (0 = unlimited) or
"default" (the gateway default); --budget takes USD or "none"; --budget-period takes
none (a lifetime budget), day, week (from Monday) or month, in UTC; --expires takes a
lifetime from now (720h, 30d) or "never"; --models "" allows every model.`,
		Example: `  runestone keys update key_1a2b3c4d5e6f --budget 20
  runestone keys update key_1a2b --rpm 120 --tpm default --models gpt-4o-mini,mock
  runestone keys update key_1a2b --expires never --project web
  runestone keys update key_1a2b --budget 50 --budget-period month`,
		Args: keysOneArg("update"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			var u store.KeyUpdate
			if fl.Changed("name") {
				u.Name = &name
			}
			if fl.Changed("project") {
				u.Project = &project
			}
			for _, l := range []struct {
				flag string
				v    string
				dst  **int
			}{{"rpm", rpm, &u.RPM}, {"rph", rph, &u.RPH}, {"tpm", tpm, &u.TPM}, {"concurrent", concurrent, &u.Concurrent}} {
				if !fl.Changed(l.flag) {
					continue
				}
				n := -1
				if s := strings.TrimSpace(l.v); s != "default" {
					var err error
					if n, err = strconv.Atoi(s); err != nil || n < 0 {
						return usageError(fmt.Errorf("--%s %q: want a whole number (0 = unlimited) or \"default\"", l.flag, l.v))
					}
				}
				*l.dst = &n
			}
			if fl.Changed("models") {
				m := keysSplitModels(strings.Split(models, ","))
				u.Models = &m
			}
			if fl.Changed("budget") {
				b := -1.0
				if s := strings.TrimPrefix(strings.TrimSpace(budget), "$"); s != "none" {
					var err error
					if b, err = strconv.ParseFloat(s, 64); err != nil || b < 0 || math.IsNaN(b) || math.IsInf(b, 0) {
						return usageError(fmt.Errorf("--budget %q: want an amount of USD such as 20 or \"none\"", budget))
					}
				}
				u.BudgetUSD = &b
			}
			if fl.Changed("budget-period") {
				p, err := budgetpkg.Parse(period)
				if err != nil {
					return usageError(err)
				}
				u.BudgetPeriod = &p
			}
			if fl.Changed("expires") {
				if strings.TrimSpace(expires) == "never" {
					u.ClearExpiry = true
				} else {
					d, err := keysParseExpiry(expires)
					if err != nil {
						return usageError(err)
					}
					at := io.Now().Add(d)
					u.ExpiresAt = &at
				}
			}
			id := strings.TrimSpace(args[0])
			ctx := cmd.Context()
			var k store.Key
			err := io.withStore(ctx, func(s *store.Store) error {
				cur, err := s.GetKey(ctx, id)
				if err != nil {
					return keysLookupError(id, err)
				}
				k, err = s.UpdateKey(ctx, cur.ID, u)
				if errors.Is(err, store.ErrNotFound) {
					return keysLookupError(id, err)
				}
				return err
			})
			if err != nil {
				if err.Error() == "nothing to change" {
					return usageError(errors.New("nothing to change: give at least one flag, e.g. --budget 20 (see runestone keys update --help)"))
				}
				return err
			}
			if asJSON {
				return keysShowRun(context.WithoutCancel(ctx), &keysShowOptions{keysIO: io, ID: k.ID, JSON: true})
			}
			fmt.Fprintf(io.Out, "Updated key %s (%s). A running gateway applies this within a second.\n", k.ID, k.Name)
			return keysShowRun(context.WithoutCancel(ctx), &keysShowOptions{keysIO: io, ID: k.ID})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "new name")
	fl.StringVar(&project, "project", "", "new project")
	fl.StringVar(&rpm, "rpm", "", "requests per minute, 0 = unlimited, or \"default\"")
	fl.StringVar(&rph, "rph", "", "requests per hour, 0 = unlimited, or \"default\"")
	fl.StringVar(&tpm, "tpm", "", "tokens per minute, 0 = unlimited, or \"default\"")
	fl.StringVar(&concurrent, "concurrent", "", "requests in flight at once, 0 = unlimited, or \"default\"")
	fl.StringVar(&models, "models", "", "comma-separated models this key may use (\"\" = all)")
	fl.StringVar(&budget, "budget", "", "spending cap in USD, or \"none\"")
	fl.StringVar(&period, "budget-period", "", "when the budget starts over: none (lifetime), day, week or month (UTC)")
	fl.StringVar(&expires, "expires", "", "lifetime from now (720h, 30d), or \"never\"")
	fl.BoolVar(&asJSON, "json", false, "print the updated key as JSON")
	return cmd
}
