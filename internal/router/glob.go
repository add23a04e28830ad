package router

import "strings"

// glob is a compiled route pattern where '*' matches any run of bytes (including
// none) and every other byte matches itself. Model names are not paths, so unlike
// path.Match a '*' also crosses '/' (Hugging Face style "org/model" names), and
// '?' and '[' are literal: model names contain them far more often than anyone
// wants a character class.
type glob struct {
	prefix, suffix string
	middle         []string // fixed pieces between the first and last '*', in order
	minLen         int
	exact          bool
}

// isGlob reports whether a route name is a pattern rather than an exact name.
func isGlob(s string) bool { return strings.IndexByte(s, '*') >= 0 }

func compileGlob(pattern string) glob {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 { // no '*': the pattern is the whole name
		return glob{prefix: pattern, minLen: len(pattern), exact: true}
	}
	g := glob{prefix: parts[0], suffix: parts[len(parts)-1]}
	for _, p := range parts[1 : len(parts)-1] {
		if p != "" {
			g.middle = append(g.middle, p)
		}
	}
	g.minLen = len(g.prefix) + len(g.suffix)
	for _, p := range g.middle {
		g.minLen += len(p)
	}
	return g
}

// match reports whether name matches. Taking each middle piece at its leftmost
// occurrence is optimal for '*'-only patterns, so there is no backtracking and it
// does not allocate.
func (g *glob) match(name string) bool {
	if g.exact {
		return name == g.prefix
	}
	if len(name) < g.minLen || !strings.HasPrefix(name, g.prefix) || !strings.HasSuffix(name, g.suffix) {
		return false
	}
	rest := name[len(g.prefix) : len(name)-len(g.suffix)]
	for _, p := range g.middle {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}
