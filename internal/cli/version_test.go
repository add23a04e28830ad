package cli

import (
	"runtime/debug"
	"testing"
)

func TestWithBuildInfo(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tests := []struct {
		name string
		bi   BuildInfo
		info *debug.BuildInfo
		want BuildInfo
	}{
		{
			name: "nothing known",
			bi:   BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
			want: BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
		},
		{
			name: "go install module@version",
			bi:   BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
			info: &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}},
			want: BuildInfo{Version: "v1.2.3", Commit: "none", Date: "unknown"},
		},
		{
			name: "go build in a clean clone",
			bi:   BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
			info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
				Settings: vcs("vcs.revision", "5fe38c1abc", "vcs.time", "2026-11-30T05:00:00Z", "vcs.modified", "false")},
			want: BuildInfo{Version: "dev", Commit: "5fe38c1abc", Date: "2026-11-30T05:00:00Z"},
		},
		{
			name: "go build with local changes",
			bi:   BuildInfo{},
			info: &debug.BuildInfo{Settings: vcs("vcs.revision", "5fe38c1abc", "vcs.modified", "true")},
			want: BuildInfo{Version: "dev", Commit: "5fe38c1abc-dirty", Date: "unknown"},
		},
		{
			name: "ldflags win over build info",
			bi:   BuildInfo{Version: "v2.0.0", Commit: "abc1234", Date: "2026-01-02T03:04:05Z"},
			info: &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"},
				Settings: vcs("vcs.revision", "ffff", "vcs.time", "2020-01-01T00:00:00Z", "vcs.modified", "true")},
			want: BuildInfo{Version: "v2.0.0", Commit: "abc1234", Date: "2026-01-02T03:04:05Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withBuildInfo(tt.bi, tt.info); got != tt.want {
				t.Errorf("withBuildInfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}
