package cli

import (
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
	cmd := &cobra.Command{
		Use:   "check DIR",
		Short: "Validate every cassette in a folder and list them",
		Long: `Read every cassette file in DIR, validate it, and list one line per cassette: file,
endpoint, seq, status, stream events and the answer (text, tool calls, stop reason).
Exits 1 when a file is invalid or two files claim the same request and seq.`,
		Example: `  runestone cassettes check testdata/cassettes
  runestone cassettes check testdata/cassettes --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			sums, err := cassette.Check(args[0])
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
				fmt.Fprintln(tw, "FILE\tENDPOINT\tSEQ\tSTATUS\tEVENTS\tANSWER")
				for _, s := range sums {
					events := "—"
					if s.Stream {
						events = strconv.Itoa(s.Events)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", s.File, s.Endpoint, s.Seq, s.Status, events, s.Answer)
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
	return cmd
}

func newCassettesDiffCmd(f *Factory) *cobra.Command {
	var asJSON bool
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
			changes, err := cassette.Diff(args[0], args[1])
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
	return cmd
}

type exportOptions struct {
	logsOptions
	dir string
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
complete captured body are skipped with the reason.`,
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
	var secrets []string
	if cfg, err := o.f.Config(); err == nil {
		secrets = cfg.Secrets()
	}
	rec, err := cassette.NewRecorder(o.dir, secrets)
	if err != nil {
		return err
	}
	skipped := 0
	for _, r := range rows {
		c, err := cassette.FromLog(cassette.LogEntry{ID: r.ID, Started: r.Started, Endpoint: r.Endpoint, Model: r.Model,
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
