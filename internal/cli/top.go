package cli

import (
	"strings"

	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/ui"
	"github.com/spf13/cobra"
)

func newTopCmd(f *Factory, bi BuildInfo) *cobra.Command {
	var url, adminKey string
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Attach the live dashboard to a running gateway",
		Args:  cobra.NoArgs,
		Example: `  runestone top
  runestone top --url http://10.0.0.5:4001 --admin-key $RUNESTONE_ADMIN_KEY`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				cfg, err := f.Config()
				if err != nil {
					return err
				}
				url = "http://" + cfg.Server.Addr
			}
			if adminKey == "" {
				adminKey = f.getenv()("RUNESTONE_ADMIN_KEY")
			}
			src := adminapi.New(url, adminKey, nil)
			return ui.Run(cmd.Context(), src, ui.Options{Version: resolveVersion(bi).Version, Addr: strings.TrimPrefix(url, "http://")})
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "gateway URL (default from the configuration)")
	cmd.Flags().StringVar(&adminKey, "admin-key", "", "admin key for a non-loopback gateway (default $RUNESTONE_ADMIN_KEY)")
	return cmd
}
