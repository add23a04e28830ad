package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd(f *Factory, bi BuildInfo) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Args:    cobra.NoArgs,
		Example: "  runestone version --json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := resolveVersion(bi)
			if asJSON {
				return printJSON(f.Out, map[string]string{"version": v.Version, "commit": v.Commit, "date": v.Date,
					"go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH})
			}
			fmt.Fprintf(f.Out, "runestone %s (commit %s, built %s, %s %s/%s)\n", v.Version, v.Commit, v.Date,
				runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// resolveVersion falls back to the module's build info for `go install` builds.
func resolveVersion(bi BuildInfo) BuildInfo {
	if bi.Version == "" {
		bi.Version = "dev"
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && (bi.Commit == "" || bi.Commit == "none"):
				bi.Commit = s.Value
			case s.Key == "vcs.time" && (bi.Date == "" || bi.Date == "unknown"):
				bi.Date = s.Value
			}
		}
	}
	if bi.Commit == "" {
		bi.Commit = "none"
	}
	if bi.Date == "" {
		bi.Date = "unknown"
	}
	return bi
}
