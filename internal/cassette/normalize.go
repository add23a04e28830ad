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

// rule is a compiled NormalizeRule. needle, when set, is text the pattern cannot
// match without: strings.Contains is a hundred times cheaper than a regexp scan of a
// 60 KB system prompt.
type rule struct {
	re     *regexp.Regexp
	repl   string
	needle string
	// has, when set, is a hand-written test that s may hold a match, for patterns
	// without a literal part (Go's regexp scans those at a few MB/s).
	has func(s string) bool
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
	cwd   []finder
	home  []finder
	rules []rule
}

// finder captures a folder (group 1) in a string holding needle.
type finder struct {
	re     *regexp.Regexp
	needle string
}

func find(pattern, needle string) []finder {
	return []finder{{regexp.MustCompile(pattern), needle}}
}

// mustRules compiles (pattern, replacement, needle) triples.
func mustRules(triples ...string) []rule {
	out := make([]rule, 0, len(triples)/3)
	for i := 0; i+2 < len(triples); i += 3 {
		out = append(out, rule{regexp.MustCompile(triples[i]), triples[i+1], triples[i+2], nil})
	}
	return out
}

var (
	// No \b: ids come glued to prefixes ("msg_01a25337-…").
	uuidRule  = rule{regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`), "<uuid>", "-", mayHoldUUID}
	isoRule   = rule{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?`), "<time>", ":", mayHoldTime}
	homeRule  = rule{regexp.MustCompile(`/home/[^/\s"'<>]+`), "<home>", "/home/", nil}
	usersRule = rule{regexp.MustCompile(`/Users/[^/\s"'<>]+`), "<home>", "/Users/", nil}
	rsRule    = rule{regexp.MustCompile(`\brs-[0-9A-Za-z_-]{10,}`), "rs-<id>", "rs-", nil}
)

// commonEnv are environment lines several agents write in the same words.
var commonEnv = mustRules(
	`(Today's date(?: is|:)\s*)[^\n<]+`, "${1}<date>", "Today's date",
	`(OS Version:\s*)[^\n<]+`, "${1}<os>", "OS Version:",
	`(Platform:\s*)[^\n<]+`, "${1}<os>", "Platform:",
	`(Shell:\s*)[^\n<]+`, "${1}<shell>", "Shell:",
	`(Is directory a git repo:\s*)[^\n<]+`, "${1}<git>", "Is directory a git repo:",
)

// builtinAgents are the rules shipped for the agents `runestone exec` launches
// (documented in docs/record-replay.md, "Normalisation").
var builtinAgents = []agentRules{
	{
		name:  "claude-code",
		marks: [][]byte{[]byte("Claude Code"), []byte("cc_version="), []byte("claude-code")},
		cwd:   find(`(?m)(?:Primary working directory|Working directory):\s*(\S+)\s*$`, "orking directory:"),
		home:  find("([^\\s`'\"]+)/\\.claude/", "/.claude/"),
		rules: append(mustRules(
			`(cc_version=)[^;\s"]+`, "${1}<version>", "cc_version=",
			`(cch=)[^;\s"]+`, "${1}<hash>", "cch=",
			`(?s)(gitStatus: ).*$`, "${1}<git status>", "gitStatus: ",
			`(You are powered by the model )[^.\n]+`, "${1}<model>", "You are powered by the model ",
		), commonEnv...),
	},
	{
		name:  "codex",
		marks: [][]byte{[]byte("environment_context"), []byte("Codex")}, // no brackets: they may come escaped (\u003c)
		cwd:   find(`<cwd>([^<]+)</cwd>`, "<cwd>"),
		// The skills roots live in CODEX_HOME: "- `r0` = `/home/me/.codex/skills/.system`".
		home: find("= `([^`]+)/skills/", "/skills/"),
		rules: append(mustRules(
			`(<current_date>)[^<]*(</current_date>)`, "${1}<date>${2}", "<current_date>",
			`(<timezone>)[^<]*(</timezone>)`, "${1}<tz>${2}", "<timezone>",
			`(<shell>)[^<]*(</shell>)`, "${1}<shell>${2}", "<shell>",
			// exec_command output: "Chunk ID: 912545\nWall time: 0.0140 seconds".
			`(Chunk ID: )\w+`, "${1}<id>", "Chunk ID: ",
			`(Wall time: )[\d.]+`, "${1}<t>", "Wall time: ",
			// x-codex-turn-metadata is JSON in a string: "turn_started_at_unix_ms":1796692503487.
			`(_unix(?:_ms)?"\s*:\s*)\d+`, "${1}<time>", "_unix",
		), commonEnv...),
	},
	{
		name:  "gemini-cli",
		marks: [][]byte{[]byte("Gemini CLI")},
		cwd:   find(`I'm currently working in the directory:\s*(\S+)`, "I'm currently working in the directory:"),
		rules: append(mustRules(
			`(My operating system is:\s*)[^\n]+`, "${1}<os>", "My operating system is:",
		), commonEnv...),
	},
	{
		name:  "opencode",
		marks: [][]byte{[]byte("opencode"), []byte("OpenCode")},
		cwd:   find(`(?m)Working directory:\s*(\S+)\s*$`, "Working directory:"),
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
		n.extra = append(n.extra, rule{re: re, repl: r.Replace})
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
		collect := func(fs []finder, token string) {
			walkStrings(v, func(s string) string {
				for _, f := range fs {
					if !strings.Contains(s, f.needle) {
						continue
					}
					for _, m := range f.re.FindAllStringSubmatch(s, -1) {
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
		collect(a.cwd, "<cwd>")
		collect(a.home, "<home>")
		sort.SliceStable(dirs, func(i, j int) bool { return len(dirs[i].path) > len(dirs[j].path) })
		for _, d := range dirs {
			rules = append(rules, rule{repl: d.token, needle: d.path}) // a plain replacement
		}
		rules = append(rules, a.rules...)
		rules = append(rules, uuidRule, isoRule, rsRule, homeRule, usersRule)
	}
	rules = append(rules, extra...)
	return walkStrings(v, func(s string) string {
		for _, r := range rules {
			switch {
			case r.needle != "" && !strings.Contains(s, r.needle), r.has != nil && !r.has(s):
			case r.re == nil:
				s = strings.ReplaceAll(s, r.needle, r.repl)
			default:
				s = r.re.ReplaceAllString(s, r.repl)
			}
		}
		return s
	})
}

func isHex(c byte) bool   { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// mayHoldUUID: some "-" has four hex digits before it and "hhhh-" after it.
func mayHoldUUID(s string) bool {
	for i := 4; i+5 < len(s); i++ {
		if s[i] == '-' && s[i+5] == '-' && isHex(s[i-1]) && isHex(s[i-4]) && isHex(s[i+1]) && isHex(s[i+4]) {
			return true
		}
	}
	return false
}

// mayHoldTime: some ":" sits in "dd:dd:".
func mayHoldTime(s string) bool {
	for i := 2; i+3 < len(s); i++ {
		if s[i] == ':' && s[i+3] == ':' && isDigit(s[i-1]) && isDigit(s[i-2]) && isDigit(s[i+1]) && isDigit(s[i+2]) {
			return true
		}
	}
	return false
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
