package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jmanhype/runestone/internal/config"
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
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print the effective values, secrets masked",
		Long: `Load the configuration exactly as "runestone serve" would (defaults < config.toml <
environment < flags), report the first problems in one sentence (exit 1), or print the
effective values with every secret masked.`,
		Example: `  runestone config check
  OPENAI_API_KEY=sk-... runestone config check     # shows the built-in openai provider, key masked
  runestone config check --json | jq .limits`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.Config()
			if err != nil {
				return err
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
