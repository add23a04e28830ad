package cassette

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// NormalizeRule rewrites what a regular expression matches in every string of a
// request body before matching and diffing: Replace may name groups as ${1}.
type NormalizeRule struct {
	Pattern string
	Replace string
}

// rule is a compiled NormalizeRule.
type rule struct {
	re   *regexp.Regexp
	repl string
}

// agentRules are the rules one agent's requests get: an agent writes its environment
// (date, working directory, OS, shell, git status, ids, its own version) into its
// prompt, and that text changes between runs and machines while the answer does not.
// The rules target those environment lines, never free text, so the test's prompt
// still decides the match.
type agentRules struct {
	name string
	// marks: the agent is recognised when the raw body holds any of them (the recorded
	// request keeps no User-Agent, so recognition goes by body shape).
	marks [][]byte
	// cwd captures the working directory (group 1) the agent announces; every
	// occurrence of it anywhere in the body becomes <cwd> (tool arguments, results),
	// also in the form Claude Code names project folders by (every other character
	// a "-"). home captures the agent's home folder (HOME, CODEX_HOME) the same way.
	cwd   []*regexp.Regexp
	home  []*regexp.Regexp
	rules []rule
}

func mustRules(pairs ...string) []rule {
	out := make([]rule, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, rule{regexp.MustCompile(pairs[i]), pairs[i+1]})
	}
	return out
}

var (
	// No \b: ids come glued to prefixes ("msg_01a25337-…").
	uuidRule = rule{regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`), "<uuid>"}
	isoRule  = rule{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?`), "<time>"}
	homeRule = rule{regexp.MustCompile(`(?:/home|/Users)/[^/\s"'<>]+`), "<home>"}
	rsRule   = rule{regexp.MustCompile(`\brs-[0-9A-Za-z_-]{10,}`), "rs-<id>"}
)

// commonEnv are environment lines several agents write in the same words.
var commonEnv = mustRules(
	`(Today's date(?: is|:)\s*)[^\n<]+`, "${1}<date>",
	`(OS Version:\s*)[^\n<]+`, "${1}<os>",
	`(Platform:\s*)[^\n<]+`, "${1}<os>",
	`(Shell:\s*)[^\n<]+`, "${1}<shell>",
	`(Is directory a git repo:\s*)[^\n<]+`, "${1}<git>",
)

// builtinAgents are the rules shipped for the agents `runestone exec` launches
// (documented in docs/record-replay.md, "Normalisation").
var builtinAgents = []agentRules{
	{
		name:  "claude-code",
		marks: [][]byte{[]byte("Claude Code"), []byte("cc_version="), []byte("claude-code")},
		cwd:   []*regexp.Regexp{regexp.MustCompile(`(?m)(?:Primary working directory|Working directory):\s*(\S+)\s*$`)},
		home:  []*regexp.Regexp{regexp.MustCompile("([^\\s`'\"]+)/\\.claude/")},
		rules: append(mustRules(
			`(cc_version=)[^;\s"]+`, "${1}<version>",
			`(cch=)[^;\s"]+`, "${1}<hash>",
			`(?s)(gitStatus: ).*$`, "${1}<git status>",
			`(You are powered by the model )[^.\n]+`, "${1}<model>",
		), commonEnv...),
	},
	{
		name:  "codex",
		marks: [][]byte{[]byte("environment_context"), []byte("Codex")}, // no brackets: they may come escaped (\u003c)
		cwd:   []*regexp.Regexp{regexp.MustCompile(`<cwd>([^<]+)</cwd>`)},
		// The skills roots live in CODEX_HOME: "- `r0` = `/home/me/.codex/skills/.system`".
		home: []*regexp.Regexp{regexp.MustCompile("= `([^`]+)/skills/")},
		rules: append(mustRules(
			`(<current_date>)[^<]*(</current_date>)`, "${1}<date>${2}",
			`(<timezone>)[^<]*(</timezone>)`, "${1}<tz>${2}",
			`(<shell>)[^<]*(</shell>)`, "${1}<shell>${2}",
			// exec_command output: "Chunk ID: 912545\nWall time: 0.0140 seconds".
			`(Chunk ID: )\w+`, "${1}<id>",
			`(Wall time: )[\d.]+`, "${1}<t>",
			// x-codex-turn-metadata is JSON in a string: "turn_started_at_unix_ms":1796692503487.
			`(_unix(?:_ms)?"\s*:\s*)\d+`, "${1}<time>",
		), commonEnv...),
	},
	{
		name:  "gemini-cli",
		marks: [][]byte{[]byte("Gemini CLI")},
		cwd:   []*regexp.Regexp{regexp.MustCompile(`I'm currently working in the directory:\s*(\S+)`)},
		rules: append(mustRules(
			`(My operating system is:\s*)[^\n]+`, "${1}<os>",
		), commonEnv...),
	},
	{
		name:  "opencode",
		marks: [][]byte{[]byte("opencode"), []byte("OpenCode")},
		cwd:   []*regexp.Regexp{regexp.MustCompile(`(?m)Working directory:\s*(\S+)\s*$`)},
		rules: commonEnv,
	},
}

// normalizer rewrites the volatile parts of a canonical body; nil rewrites nothing
// but the built-in agent rules.
type normalizer struct {
	extra []rule
}

func newNormalizer(rules []NormalizeRule) (*normalizer, error) {
	n := &normalizer{}
	for _, r := range rules {
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("normalize pattern %q: %w", r.Pattern, err)
		}
		n.extra = append(n.extra, rule{re, r.Replace})
	}
	return n, nil
}

// agentOf recognises the agent that sent raw ("" when none).
func agentOf(raw []byte) *agentRules {
	for i := range builtinAgents {
		for _, m := range builtinAgents[i].marks {
			if bytes.Contains(raw, m) {
				return &builtinAgents[i]
			}
		}
	}
	return nil
}

// apply rewrites every string of the canonical body v in place (v comes from canon,
// so it is the caller's own copy) and returns it.
func (n *normalizer) apply(raw []byte, v any) any {
	a := agentOf(raw)
	var extra []rule
	if n != nil {
		extra = n.extra
	}
	if a == nil && len(extra) == 0 {
		return v
	}
	var rules []rule
	if a != nil {
		// The working directory and home first, longest first, then the agent's rules.
		type dir struct{ path, token string }
		var dirs []dir
		seen := map[string]bool{}
		find := func(res []*regexp.Regexp, token string) {
			walkStrings(v, func(s string) string {
				for _, re := range res {
					for _, m := range re.FindAllStringSubmatch(s, -1) {
						d := strings.TrimRight(m[1], "/")
						if len(d) > 1 && !seen[d] {
							seen[d] = true
							dirs = append(dirs, dir{d, token})
							if token == "<cwd>" {
								dirs = append(dirs, dir{mangle(d), "<cwd>"})
							}
						}
					}
				}
				return s
			})
		}
		find(a.cwd, "<cwd>")
		find(a.home, "<home>")
		sort.SliceStable(dirs, func(i, j int) bool { return len(dirs[i].path) > len(dirs[j].path) })
		for _, d := range dirs {
			rules = append(rules, rule{regexp.MustCompile(regexp.QuoteMeta(d.path)), d.token})
		}
		rules = append(rules, a.rules...)
		rules = append(rules, uuidRule, isoRule, rsRule, homeRule)
	}
	rules = append(rules, extra...)
	return walkStrings(v, func(s string) string {
		for _, r := range rules {
			s = r.re.ReplaceAllString(s, r.repl)
		}
		return s
	})
}

// mangle is a folder as Claude Code names its project folder: "/tmp/a.b" → "-tmp-a-b".
func mangle(d string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, d)
}

// walkStrings replaces every string value of v (not object keys) by f's result.
func walkStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case map[string]any:
		for k, e := range x {
			x[k] = walkStrings(e, f)
		}
	case []any:
		for i, e := range x {
			x[i] = walkStrings(e, f)
		}
	}
	return v
}
