package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jmanhype/runestone/internal/cassette"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/spf13/cobra"
)

// newCassettesCmd is `runestone cassettes`: check and compare recordings.
func newCassettesCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cassettes",
		Short: "Check and compare recorded cassettes (see runestone exec)",
		Example: `  runestone cassettes check testdata/cassettes
  runestone cassettes diff old/ testdata/cassettes`,
	}
	cmd.AddCommand(newCassettesCheckCmd(f), newCassettesDiffCmd(f))
	return cmd
}

func newCassettesCheckCmd(f *Factory) *cobra.Command {
	var asJSON bool
	var ro cassette.ReadOptions
	cmd := &cobra.Command{
		Use:   "check DIR",
		Short: "Validate every cassette in a folder and list them",
		Long: `Read every cassette file in DIR, validate it, and list one line per cassette: file,
endpoint, seq, status, the provider that answered, stream events and the answer (text,
tool calls, stop reason). Cassettes recorded with a session id (the agent's session
header) come grouped by session, turns in the order they were recorded: TURN reads
"<session>#<n>". A cassette folder is untrusted input: only regular files of at
most --max-file-bytes are read, symlinks that leave DIR are refused, and headers replay
would not send (Set-Cookie, Access-Control-*, Location, …) are reported.
Exits 1 when a file is invalid or unsafe, or two files claim the same request and seq.`,
		Example: `  runestone cassettes check testdata/cassettes
  runestone cassettes check testdata/cassettes --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			sums, err := cassette.Check(args[0], ro)
			if sums == nil && err != nil {
				return err
			}
			if asJSON {
				if sums == nil {
					sums = []cassette.Summary{}
				}
				if perr := printJSON(f.Out, sums); perr != nil {
					return perr
				}
			} else {
				tw := tabwriter.NewWriter(f.Out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "TURN\tFILE\tENDPOINT\tSEQ\tSTATUS\tPROVIDER\tEVENTS\tANSWER")
				turn := map[string]int{}
				for _, s := range sums {
					events := "—"
					if s.Stream {
						events = strconv.Itoa(s.Events)
					}
					// Check lists a session's turns together and in order: "abcd1234#2" is
					// the session's second request.
					t := "—"
					if s.Session != "" {
						turn[s.Session]++
						t = fmt.Sprintf("%.8s#%d", s.Session, turn[s.Session])
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", t, s.File, s.Endpoint, s.Seq, s.Status, cmp.Or(s.Provider, "—"), events, s.Answer)
				}
				_ = tw.Flush()
			}
			if err != nil {
				return fmt.Errorf("%d cassette problem(s): %w", len(strings.Split(err.Error(), "\n")), err)
			}
			fmt.Fprintf(f.Err, "%s valid.\n", plural(len(sums), "cassette", "cassettes"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the cassettes")
	cmd.Flags().Int64Var(&ro.MaxFileBytes, "max-file-bytes", cassette.DefaultMaxFileBytes, "refuse a cassette file bigger than this")
	return cmd
}

func newCassettesDiffCmd(f *Factory) *cobra.Command {
	var asJSON bool
	var ro cassette.ReadOptions
	cmd := &cobra.Command{
		Use:   "diff DIR1 DIR2",
		Short: "Compare two recordings: requests added or removed, answers changed",
		Long: `Pair the cassettes of two folders by request and print what changed: requests only
in one folder (+ added, - removed) and, for the same request, changes in status, text,
tool calls (names and arguments) and stop reason. Ids, timings and usage are ignored.
Exits 1 when there is a difference, like diff(1).`,
		Example: `  git stash && cp -r testdata/cassettes /tmp/old && git stash pop
  runestone cassettes diff /tmp/old testdata/cassettes`,
		Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			changes, err := cassette.Diff(args[0], args[1], ro)
			if err != nil {
				return err
			}
			if asJSON {
				if changes == nil {
					changes = []cassette.Change{}
				}
				if err := printJSON(f.Out, changes); err != nil {
					return err
				}
			} else {
				for _, c := range changes {
					fmt.Fprintln(f.Out, c.String())
				}
			}
			if len(changes) > 0 {
				fmt.Fprintf(f.Err, "%s.\n", plural(len(changes), "difference", "differences"))
				return errSilent
			}
			fmt.Fprintln(f.Err, "No differences.")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the changes")
	cmd.Flags().Int64Var(&ro.MaxFileBytes, "max-file-bytes", cassette.DefaultMaxFileBytes, "refuse a cassette file bigger than this")
	return cmd
}

type exportOptions struct {
	logsOptions
	dir          string
	patternsOnly bool
}

// newLogsExportCmd is `runestone logs export`: logged requests into cassettes.
func newLogsExportCmd(f *Factory) *cobra.Command {
	o := &exportOptions{logsOptions: logsOptions{f: f}}
	cmd := &cobra.Command{
		Use:   "export [REQUEST_ID...] --cassettes DIR",
		Short: "Turn logged requests with captured bodies into cassettes",
		Long: `Write logged requests as cassette files into DIR: the ones named by id, or every
request the filters select (oldest first). A non-stream answer is the captured body; the
log keeps only the text of a stream, so a chat, completions or Anthropic Messages stream
is rebuilt from it as one text event (timings and usage are lost). Requests without a
complete captured body are skipped with the reason.

Every provider key, client key and password the configuration names is scrubbed, and
anything shaped like a key. Export refuses when it cannot know a secret the gateway
had: a ${VAR} of the configuration unset in this shell, or a request answered by a
provider this configuration lacks (its key came from the gateway's environment). Run
it where the gateway's environment is set, or pass --patterns-only to accept
scrubbing key-shaped strings only.`,
		Example: `  runestone logs export req_3f9a1c2b0d4e5f61 --cassettes testdata/cassettes
  runestone logs export --since 1h --model gpt-4o-mini --status 2xx --cassettes testdata/cassettes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := o.filter(time.Now())
			if err != nil {
				return usageError(err)
			}
			return exportRun(cmd.Context(), o, filter, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.dir, "cassettes", "", "write the cassettes into `DIR`")
	fl.BoolVar(&o.patternsOnly, "patterns-only", false, "scrub only key-shaped strings when the configuration's secrets are not all known here")
	o.filterFlags(fl)
	fl.IntVarP(&o.limit, "limit", "n", 0, "export at most this many requests, the newest (0 = all)")
	_ = cmd.MarkFlagRequired("cassettes")
	return cmd
}

func exportRun(ctx context.Context, o *exportOptions, filter store.RequestFilter, ids []string) error {
	st, err := o.f.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var rows []store.RequestRow
	if len(ids) > 0 {
		for _, id := range ids {
			rs, err := st.RequestsByID(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no request with id %q in the request log", id)
			}
			if err != nil {
				return fmt.Errorf("read the request log: %w", err)
			}
			rows = append(rows, rs...)
		}
	} else {
		list, err := st.ListRequests(ctx, filter)
		if err != nil {
			return fmt.Errorf("read the request log: %w", err)
		}
		slices.Reverse(list) // oldest first: identical requests get seq in the order they ran
		seen := map[string]bool{}
		for _, r := range list {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			// The list has no bodies; a reused id brings every row that used it.
			rs, err := st.RequestsByID(ctx, r.ID)
			if err != nil {
				return fmt.Errorf("read the request log: %w", err)
			}
			rows = append(rows, rs...)
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.f.Err, "No requests logged match.")
		return nil
	}
	secrets, err := exportSecrets(o, rows)
	if err != nil {
		return err
	}
	rec, err := cassette.NewRecorder(o.dir, cassette.RecordOptions{Secrets: secrets})
	if err != nil {
		return err
	}
	skipped := 0
	for _, r := range rows {
		c, err := cassette.FromLog(cassette.LogEntry{ID: r.ID, Started: r.Started, Endpoint: r.Endpoint, Model: r.Model, Provider: r.Provider,
			UpstreamModel: r.UpstreamModel, Status: r.Status, Stream: r.Stream, RequestBody: r.RequestBody, ResponseBody: r.ResponseBody})
		if err != nil {
			skipped++
			fmt.Fprintf(o.f.Err, "skipped: %v\n", err)
			continue
		}
		path, err := rec.Add(c)
		if err != nil {
			return err
		}
		fmt.Fprintln(o.f.Out, path)
	}
	fmt.Fprintf(o.f.Err, "%s written to %s", plural(rec.Stats().Recorded, "cassette", "cassettes"), o.dir)
	if skipped > 0 {
		fmt.Fprintf(o.f.Err, ", %d skipped", skipped)
	}
	fmt.Fprintln(o.f.Err, ".")
	return nil
}

// exportSecrets is what export scrubs besides the key patterns: the configuration's
// secrets as this shell resolves them. Scrubbing must not depend on the shell, so a
// secret this shell cannot know (an unset ${VAR}, a provider of the gateway's
// environment that this configuration lacks) is an error unless --patterns-only.
func exportSecrets(o *exportOptions, rows []store.RequestRow) ([]string, error) {
	cfg, err := o.f.Config()
	if err != nil {
		if o.patternsOnly {
			return nil, nil
		}
		return nil, fmt.Errorf("read the configuration to learn which values are secrets: %w (or pass --patterns-only)", err)
	}
	if o.patternsOnly {
		return cfg.Secrets(), nil
	}
	var unknown []string
	for _, v := range cfg.UnsetSecretVars {
		unknown = append(unknown, "${"+v+"} (named in "+cmp.Or(cfg.File, "the configuration")+", unset in this shell)")
	}
	known := map[string]bool{"replay": true}
	for _, p := range cfg.Providers {
		known[p.Name] = true
	}
	for _, r := range rows {
		if r.Provider != "" && !known[r.Provider] {
			known[r.Provider] = true
			unknown = append(unknown, fmt.Sprintf("the key of provider %q, which answered %s but is not in this shell's configuration (the gateway had it from its environment, e.g. %s)",
				r.Provider, r.ID, providerEnvHint(r.Provider)))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("logs export cannot scrub secrets it does not know: %s. Run it with the gateway's environment, or pass --patterns-only to scrub only key-shaped strings (sk-…, Bearer …, AKIA…)",
			strings.Join(unknown, "; "))
	}
	return cfg.Secrets(), nil
}

func providerEnvHint(name string) string {
	switch name {
	case "openai":
		return "OPENAI_API_KEY"
	case "anthropic":
		return "ANTHROPIC_API_KEY"
	}
	return "its ${VAR}"
}
