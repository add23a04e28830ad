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

// resolveVersion is bi completed from this binary's build info.
func resolveVersion(bi BuildInfo) BuildInfo {
	info, _ := debug.ReadBuildInfo()
	return withBuildInfo(bi, info)
}

// withBuildInfo fills what the linker did not stamp from the binary's own build
// info: `go install …@vX` records the module version, and `go build` in a clone
// records the commit, its time and whether the tree had local changes. A release
// build (ldflags set) prints exactly what was stamped.
func withBuildInfo(bi BuildInfo, info *debug.BuildInfo) BuildInfo {
	unset := func(s, placeholder string) bool { return s == "" || s == placeholder }
	if info != nil {
		if unset(bi.Version, "dev") && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		var rev, at string
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if unset(bi.Commit, "none") && rev != "" {
			bi.Commit = rev
			if modified {
				// The binary is not that commit: say so, as `git describe --dirty` does.
				bi.Commit += "-dirty"
			}
		}
		if unset(bi.Date, "unknown") && at != "" {
			bi.Date = at
		}
	}
	if bi.Version == "" {
		bi.Version = "dev"
	}
	if bi.Commit == "" {
		bi.Commit = "none"
	}
	if bi.Date == "" {
		bi.Date = "unknown"
	}
	return bi
}
