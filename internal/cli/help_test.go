package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// pendingExamples are commands whose files another change owns; they are logged, not
// failed, until they get examples. Remove an entry once its command has one.
var pendingExamples = map[string]bool{}

// TestEveryCommandHasExample walks the whole tree, cobra's help and completion
// commands included, so --help shows an Examples section everywhere.
func TestEveryCommandHasExample(t *testing.T) {
	root := NewRoot(&Factory{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, BuildInfo{})
	var walk func(*cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden {
				continue
			}
			n++
			path := sub.CommandPath()
			if strings.TrimSpace(sub.Example) == "" {
				if pendingExamples[path] {
					t.Logf("%s has no Example yet (pending)", path)
				} else {
					t.Errorf("%s has no Example", path)
				}
			}
			if sub.Short == "" {
				t.Errorf("%s has no Short description", path)
			}
			for _, line := range strings.Split(sub.Example, "\n") {
				if line != "" && !strings.HasPrefix(line, "  ") {
					t.Errorf("%s: example line %q is not indented two spaces like the others", path, line)
				}
			}
			walk(sub)
		}
	}
	walk(root)
	if n < 25 {
		t.Fatalf("walked only %d commands; the tree is not what this test expects", n)
	}
	for _, want := range []string{"completion", "help"} {
		if c, _, err := root.Find([]string{want}); err != nil || c.Name() != want || c.Hidden {
			t.Errorf("%s is not a visible command (err %v)", want, err)
		}
	}
}

// TestListingCommandsTakeJSON: every command that lists things takes --json, so scripts
// never have to parse a table.
func TestListingCommandsTakeJSON(t *testing.T) {
	root := NewRoot(&Factory{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, BuildInfo{})
	for _, path := range [][]string{{"keys", "list"}, {"keys", "show"}, {"keys", "create"}, {"keys", "usage"},
		{"providers", "list"}, {"providers", "test"}, {"logs"}, {"logs", "show"}, {"config", "check"},
		{"config", "path"}, {"version"}} {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Flags().Lookup("json") == nil {
			t.Errorf("%s has no --json", c.CommandPath())
		}
	}
	for _, path := range [][]string{{"top"}, {"logs", "replay"}, {"providers", "list"}} {
		c, _, _ := root.Find(path)
		if c.Flags().Lookup("url") == nil {
			t.Errorf("%s has no --url", c.CommandPath())
		}
	}
}

// TestExitCodes checks cobra's own errors as well as ours: usage errors exit 2 and
// print one line on stderr; nothing goes to stdout.
func TestExitCodes(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--nope"}, 2, "Error: Unknown flag: --nope (see 'runestone --help')"},
		{[]string{"-z"}, 2, "Error: Unknown shorthand flag: 'z' in -z (see 'runestone --help')"},
		{[]string{"serv"}, 2, `Error: Unknown command "serv" for "runestone" (did you mean serve?) (see 'runestone --help')`},
		{[]string{"keys", "revok", "x"}, 2, `Error: Unknown command "revok" for "runestone keys" (did you mean revoke?) (see 'runestone keys --help')`},
		{[]string{"config", "init", "extra"}, 2, `Error: Unknown command "extra" for "runestone config init" (see 'runestone config init --help')`},
		{[]string{"logs", "show", "a", "b"}, 2, "Error: Accepts 1 arg(s), received 2 (see 'runestone logs show --help')"},
		{[]string{"providers", "test", "a", "b"}, 2, "Error: Accepts at most 1 arg(s), received 2 (see 'runestone providers test --help')"},
		{[]string{"keys", "list", "--json=maybe"}, 2, `Error: Invalid argument "maybe" for "--json" flag: strconv.ParseBool: parsing "maybe": invalid syntax (see 'runestone keys list --help')`},
		{[]string{"keys", "show", "key_none"}, 1, "Error: No key with id key_none (see `runestone keys list --all`)"},
		{[]string{"help", "nosuch"}, 2, `Error: Unknown help topic "nosuch" (see 'runestone --help')`},
		{[]string{"help", "keys", "nosuch"}, 2, `Error: Unknown help topic "keys nosuch" (see 'runestone --help')`},
		{[]string{"help", "keys", "create"}, 0, ""},
		{[]string{"version"}, 0, ""},
		{[]string{"keys"}, 0, ""},
		{[]string{"--help"}, 0, ""},
	} {
		var out, errb bytes.Buffer
		f := &Factory{Out: &out, Err: &errb, Getenv: func(string) string { return "" }}
		code := Execute(context.Background(), f, BuildInfo{}, append([]string{"--home", home}, tc.args...))
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errb.String())
		}
		if got := strings.TrimSuffix(errb.String(), "\n"); got != tc.err {
			t.Errorf("%v: stderr\n got %q\nwant %q", tc.args, got, tc.err)
		}
		if tc.code != 0 && out.Len() != 0 {
			t.Errorf("%v: wrote to stdout on failure: %q", tc.args, out.String())
		}
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"unknown command \"kyes\" for \"runestone\"\n\nDid you mean this?\n\tkeys\n": `unknown command "kyes" for "runestone" (did you mean keys?)`,
		"a\n\nDid you mean this?\n\tlogs\n\tlist\n":                                  "a (did you mean logs or list?)",
		"limits.rpm must be >= 0\nrouter.policy \"x\": want default":                 `limits.rpm must be >= 0; router.policy "x": want default`,
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
