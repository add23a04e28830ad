package cli

import (
	"strings"

	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/ui"
	"github.com/spf13/cobra"
)

func newTopCmd(f *Factory, bi BuildInfo) *cobra.Command {
	var gf gatewayFlags
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Attach the live dashboard to a running gateway",
		Long: `Attach the live dashboard to a running gateway: --url, else the gateway serving
--home (serve writes where it listens into its home), else server.addr.`,
		Args: cobra.NoArgs,
		Example: `  runestone top
  runestone top --home /srv/runestone
  runestone top --url http://10.0.0.5:4001 --admin-key $RUNESTONE_ADMIN_KEY`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := f.findGateway(gf.url, gf.adminKey)
			if err != nil {
				return err
			}
			// A refused admin key is said now, not retried for ever behind the dashboard;
			// a gateway not up yet is waited for (the dashboard reconnects).
			if err := t.ping(cmd.Context()); adminapi.IsUnauthorized(err) {
				return t.explain(err)
			}
			src := adminapi.New(t.URL, t.AdminKey, nil)
			addr := strings.TrimPrefix(strings.TrimPrefix(t.URL, "http://"), "https://")
			return ui.Run(cmd.Context(), src, ui.Options{Version: resolveVersion(bi).Version, Addr: addr})
		},
	}
	gf.register(cmd)
	return cmd
}
