package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var docFiles = []string{"README.md", "docs/recipes.md", "docs/configuration.md", "docs/record-replay.md"}

// fencedBlocks returns the bodies of the ```lang blocks in a markdown file.
func fencedBlocks(t *testing.T, file, lang string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?ms)^```" + lang + "\n(.*?)^```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDocumentedCommandsExist checks every `runestone …` line in the sh blocks of the
// docs against the real command tree: the subcommands exist, every flag exists on that
// command, flags that take a value get one, and the positional arguments are accepted.
func TestDocumentedCommandsExist(t *testing.T) {
	n := 0
	for _, file := range docFiles {
		for _, block := range fencedBlocks(t, file, "sh") {
			for _, line := range strings.Split(block, "\n") {
				if i := strings.Index(line, " #"); i >= 0 {
					line = line[:i]
				}
				for _, cut := range []string{"|", ">", "&&", ")"} {
					if i := strings.Index(line, cut); i >= 0 {
						line = line[:i]
					}
				}
				fields := strings.Fields(line)
				start := -1
				for i, f := range fields {
					if f == "runestone" || strings.HasSuffix(f, "$(runestone") {
						start = i
						break
					}
				}
				if start < 0 || (start > 0 && !isEnvAssign(fields[:start])) {
					continue
				}
				n++
				checkCommandLine(t, file, fields[start+1:])
			}
		}
	}
	if n < 15 {
		t.Fatalf("checked only %d documented command lines; the extraction is broken", n)
	}
}

func isEnvAssign(fields []string) bool {
	for _, f := range fields {
		if f == "export" || strings.HasPrefix(f, "$(") {
			continue
		}
		if !regexp.MustCompile(`^[A-Z_]+=`).MatchString(f) {
			return false
		}
	}
	return true
}

func checkCommandLine(t *testing.T, file string, args []string) {
	t.Helper()
	root := NewRoot(&Factory{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, BuildInfo{})
	line := "runestone " + strings.Join(args, " ")
	cmd := root
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" { // the rest is exec's command, not runestone's
			positional = append(positional, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") {
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			var fl *pflag.Flag
			if strings.HasPrefix(a, "--") {
				fl = cmd.Flag(name)
			} else if len(name) == 1 {
				fl = cmd.Flags().ShorthandLookup(name)
				if fl == nil {
					fl = cmd.InheritedFlags().ShorthandLookup(name)
				}
			}
			if fl == nil {
				t.Errorf("%s: %q: %s has no flag %s", file, line, cmd.CommandPath(), a)
				continue
			}
			if fl.NoOptDefVal == "" && !hasValue {
				if i+1 >= len(args) {
					t.Errorf("%s: %q: %s needs a value", file, line, a)
				}
				i++
			}
			continue
		}
		if len(positional) == 0 {
			if sub := findSub(cmd, a); sub != nil {
				cmd = sub
				continue
			}
		}
		positional = append(positional, a)
	}
	if cmd == root {
		t.Errorf("%s: %q names no command", file, line)
		return
	}
	if cmd.HasSubCommands() && len(positional) > 0 {
		t.Errorf("%s: %q: %s has no subcommand %q", file, line, cmd.CommandPath(), positional[0])
		return
	}
	if err := cmd.ValidateArgs(positional); err != nil {
		t.Errorf("%s: %q: %v", file, line, err)
	}
}

func findSub(c *cobra.Command, name string) *cobra.Command {
	for _, s := range c.Commands() {
		if s.Name() == name || s.HasAlias(name) {
			return s
		}
	}
	return nil
}

// TestDocumentedConfigsLoad loads every toml block of the docs as a config.toml: each
// must pass the strict decoder and validation (unknown keys, bad values, bad targets).
func TestDocumentedConfigsLoad(t *testing.T) {
	n := 0
	for _, file := range docFiles {
		for i, block := range fencedBlocks(t, file, "toml") {
			if strings.HasPrefix(block, "# ~/.codex/") {
				continue // another program's config file (Codex's provider block)
			}
			n++
			dir := t.TempDir()
			path := filepath.Join(dir, "config.toml")
			if err := os.WriteFile(path, []byte(block), 0o600); err != nil {
				t.Fatal(err)
			}
			getenv := func(k string) string {
				if strings.HasSuffix(k, "_API_KEY") {
					return "sk-docs-test-0123456789"
				}
				return ""
			}
			if _, err := config.Load(config.Options{Home: dir, ConfigFile: path, Getenv: getenv}); err != nil {
				t.Errorf("%s: toml block %d does not load: %v\n%s", file, i+1, err, block)
			}
		}
	}
	if n < 5 {
		t.Fatalf("found only %d toml blocks", n)
	}
}
