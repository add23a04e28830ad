package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/router"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/cobra"
)

func newConfigCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Create, check and locate the configuration",
		Example: `  runestone config init     # write a commented config.toml
  runestone config check    # validate and print the effective configuration (secrets masked)
  runestone config path     # where the files are`,
	}
	var force bool
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented config.toml with every key and its default",
		Example: `  runestone config init
  runestone config init --home ./dev-home --force   # overwrite an existing file
  runestone config init --config ./runestone.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := configPath(f)
			if err != nil {
				return err
			}
			if _, err := os.Stat(path); err == nil && !force {
				return fmt.Errorf("%s already exists (use --force to overwrite)", path)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(config.Template), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(f.Out, "Wrote %s\n", path)
			return nil
		},
	}
	initCmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	var checkJSON, pathJSON bool
	var checkModel string
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print the effective values, secrets masked",
		Long: `Load the configuration exactly as "runestone serve" would (defaults < config.toml <
environment < flags), report the first problems in one sentence (exit 1), or print the
effective values with every secret masked.`,
		Example: `  runestone config check
  OPENAI_API_KEY=sk-... runestone config check     # shows the built-in openai provider, key masked
  runestone config check --json | jq .limits
  runestone config check --model claude-haiku-4-5   # which route or provider serves that name`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.Config()
			if err != nil {
				return err
			}
			if checkModel != "" {
				return explainModel(f, cfg, checkModel, checkJSON)
			}
			if checkJSON {
				return printJSON(f.Out, struct {
					Source string `json:"source"`
					Config any    `json:"config"`
				}{cfg.File, tomlTree(cfg.Redacted())})
			}
			out, err := cfg.Redacted().TOML()
			if err != nil {
				return err
			}
			src := cfg.File
			if src == "" {
				src = "(no config file: defaults and environment)"
			}
			fmt.Fprintf(f.Out, "# configuration OK — source: %s\n%s", src, out)
			return nil
		},
	}
	path := &cobra.Command{
		Use:   "path",
		Short: "Print the home folder, config file and database paths",
		Example: `  runestone config path
  runestone config path --json | jq -r .database`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := f.HomeDir()
			if err != nil {
				return err
			}
			cp, err := configPath(f)
			if err != nil {
				return err
			}
			if pathJSON {
				_, statErr := os.Stat(cp)
				return printJSON(f.Out, map[string]any{"home": home, "config": cp, "config_exists": statErr == nil,
					"database": filepath.Join(home, store.FileName)})
			}
			fmt.Fprintf(f.Out, "home:     %s\nconfig:   %s%s\ndatabase: %s\n", home, cp, existsNote(cp),
				filepath.Join(home, store.FileName))
			return nil
		},
	}
	check.Flags().BoolVar(&checkJSON, "json", false, "print the effective configuration as JSON (secrets masked)")
	check.Flags().StringVar(&checkModel, "model", "", "instead, show which rule resolves this model name and its targets")
	path.Flags().BoolVar(&pathJSON, "json", false, "print as JSON")
	cmd.AddCommand(initCmd, check, path)
	return cmd
}

func configPath(f *Factory) (string, error) {
	if f.ConfigFile != "" {
		return filepath.Abs(f.ConfigFile)
	}
	home, err := f.HomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, config.FileName), nil
}

func existsNote(path string) string {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return " (not created; run `runestone config init`)"
	}
	return ""
}

// tomlTree turns the configuration into plain maps keyed by its TOML names, so
// `config check --json` uses the same field names as config.toml.
func tomlTree(cfg *config.Config) any {
	s, err := cfg.TOML()
	if err != nil {
		return nil
	}
	var tree map[string]any
	if err := toml.Unmarshal([]byte(s), &tree); err != nil {
		return nil
	}
	return tree
}

// explainModel prints which resolution rule a model name hits under cfg and the
// targets it gets, built exactly as serve builds its router. A name nothing serves
// is exit 1, as the gateway would answer 404.
func explainModel(f *Factory, cfg *config.Config, model string, asJSON bool) error {
	providers, err := server.BuildProviders(cfg)
	if err != nil {
		return err
	}
	routes := make([]router.Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		routes[i] = router.Route{Model: r.Model, Targets: r.Targets}
	}
	m := router.New(providers, routes).Explain(model)
	targets := make([]string, len(m.Targets))
	for i, t := range m.Targets {
		targets[i] = t.Provider.Name() + ":" + t.Model
	}
	if asJSON {
		if err := printJSON(f.Out, struct {
			Model   string   `json:"model"`
			Rule    string   `json:"rule"`
			Route   string   `json:"route,omitempty"`
			Index   int      `json:"route_index,omitempty"`
			Targets []string `json:"targets"`
		}{model, m.Kind.String(), m.Pattern, m.Rule, targets}); err != nil {
			return err
		}
	} else {
		rule := m.Kind.String()
		switch m.Kind {
		case router.MatchRoute, router.MatchGlob:
			rule = fmt.Sprintf("%s %q (rule #%d in [[routes]])", rule, m.Pattern, m.Rule)
		}
		fmt.Fprintf(f.Out, "model:   %s\nrule:    %s\n", model, rule)
		if len(targets) > 0 {
			fmt.Fprintf(f.Out, "targets: %s\n", strings.Join(targets, ", "))
		}
	}
	if m.Kind == router.MatchNone {
		return fmt.Errorf("no route or provider serves model %q (requests for it get 404)", model)
	}
	return nil
}
