// Package router resolves a client's model name to the targets that can serve it:
// configured routes first (exact names, then glob patterns such as "claude-*" in
// configuration order), then every provider listing the model, then the explicit
// "provider:model" form, then providers whose family ("claude-*") or learned model
// list covers the name, and providers that accept any name (the zero-config mock).
//
// Glob routes do not apply to an explicit "provider:model" name whose provider is
// configured: that form stays the way to reach a model a glob diverts elsewhere.
package router

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

// Route is a client-facing model name served by "provider:model" targets.
type Route struct {
	Model   string
	Targets []string
}

// Router resolves model names. Resolved slices are shared and must not be modified.
type Router struct {
	providers map[string]provider.Provider
	order     []provider.Provider
	static    map[string][]provider.Target // exact routes and model lists (globs applied), precomputed
	routes    map[string]int               // exact route name -> index in configuration
	globs     []globRoute                  // in configuration order
	dynamic   sync.Map                     // globs, "provider:model" and catch-all resolutions, cached
	cached    atomic.Int32
}

// globRoute is a route whose name is a pattern.
type globRoute struct {
	pattern string
	index   int // position among all routes, as written in the configuration
	g       glob
	targets []provider.Target
}

// maxCached bounds the dynamic cache: clients choose those names.
const maxCached = 4096

// New builds a router over providers (in configuration order) and routes.
func New(providers []provider.Provider, routes []Route) *Router {
	r := &Router{providers: map[string]provider.Provider{}, order: providers,
		static: map[string][]provider.Target{}, routes: map[string]int{}}
	for _, p := range providers {
		r.providers[p.Name()] = p
	}
	for i, rt := range routes {
		var ts []provider.Target
		for _, t := range rt.Targets {
			name, model, _ := strings.Cut(t, ":")
			if p, ok := r.providers[name]; ok {
				ts = append(ts, provider.Target{Provider: p, Model: model})
			}
		}
		if isGlob(rt.Model) {
			// A glob with no usable target matches nothing rather than hiding the
			// names after it.
			if len(ts) > 0 {
				r.globs = append(r.globs, globRoute{pattern: rt.Model, index: i, g: compileGlob(rt.Model), targets: ts})
			}
			continue
		}
		if _, dup := r.routes[rt.Model]; dup {
			continue // the first route of a name wins, like the first matching glob
		}
		r.routes[rt.Model] = i
		if len(ts) > 0 {
			r.static[rt.Model] = ts
		}
	}
	// Listed model names are known now, so a glob that covers one is applied here
	// and exact-name resolution stays a single map lookup.
	listed := map[string]bool{}
	for _, p := range providers {
		for _, m := range p.Models() {
			if _, ok := r.routes[m]; ok {
				continue
			}
			if gr := r.glob(m); gr != nil {
				r.static[m] = gr.targets
				continue
			}
			if !listed[m] {
				listed[m] = true
				r.static[m] = nil // a fresh slice per name: never share a glob's
			}
			r.static[m] = append(r.static[m], provider.Target{Provider: p, Model: m})
		}
	}
	return r
}

// glob returns the first glob route matching model, or nil. Explicit
// "provider:model" names are not matched (see the package comment).
func (r *Router) glob(model string) *globRoute {
	if len(r.globs) == 0 || r.explicit(model) {
		return nil
	}
	for i := range r.globs {
		if r.globs[i].g.match(model) {
			return &r.globs[i]
		}
	}
	return nil
}

// explicit reports whether model is "provider:model" naming a configured provider.
func (r *Router) explicit(model string) bool {
	name, m, ok := strings.Cut(model, ":")
	if !ok || m == "" {
		return false
	}
	_, known := r.providers[name]
	return known
}

// Resolve returns the targets for model, or nil when nothing serves it.
func (r *Router) Resolve(model string) []provider.Target {
	if ts, ok := r.static[model]; ok {
		return ts
	}
	if v, ok := r.dynamic.Load(model); ok {
		return v.([]provider.Target)
	}
	ts, _ := r.resolveDynamic(model)
	if ts == nil {
		return nil
	}
	// Bound the cache: client-chosen names must not grow memory without limit.
	if r.cached.Load() < maxCached {
		if _, loaded := r.dynamic.LoadOrStore(model, ts); !loaded {
			r.cached.Add(1)
		}
	}
	return ts
}

// resolveDynamic resolves a name that is neither an exact route nor a listed model.
func (r *Router) resolveDynamic(model string) ([]provider.Target, Match) {
	if gr := r.glob(model); gr != nil {
		return gr.targets, Match{Kind: MatchGlob, Rule: gr.index + 1, Pattern: gr.pattern, Targets: gr.targets}
	}
	if r.explicit(model) {
		name, m, _ := strings.Cut(model, ":")
		ts := []provider.Target{{Provider: r.providers[name], Model: m}}
		return ts, Match{Kind: MatchProvider, Targets: ts}
	}
	var ts []provider.Target
	for _, p := range r.order {
		if mm, ok := p.(provider.ModelMatcher); ok && mm.ServesModel(model) {
			ts = append(ts, provider.Target{Provider: p, Model: model})
		}
	}
	if ts == nil {
		return nil, Match{Kind: MatchNone}
	}
	if ts[0].Provider.Kind() != "mock" {
		return ts, Match{Kind: MatchFamily, Targets: ts}
	}
	return ts, Match{Kind: MatchAny, Targets: ts}
}

// MatchKind says which resolution rule a model name hit.
type MatchKind int

// The rules, in the order Resolve tries them.
const (
	MatchNone     MatchKind = iota // nothing serves the name
	MatchRoute                     // an exact [[routes]] name
	MatchGlob                      // a [[routes]] pattern such as "claude-*"
	MatchModel                     // listed in providers' models
	MatchProvider                  // the explicit "provider:model" form
	MatchAny                       // a provider that accepts any name (the mock)
	MatchFamily                    // a provider's family ("claude-*") or its learned model list
)

// String names the rule as `runestone config check --model` prints it.
func (k MatchKind) String() string {
	return [...]string{"no match", "exact route", "glob route", "provider model", "provider:model", "mock fallback", "provider family"}[k]
}

// Match explains a resolution.
type Match struct {
	Kind    MatchKind
	Rule    int    // 1-based position of the route in the configuration (routes only)
	Pattern string // the route's name or pattern (routes only)
	Targets []provider.Target
}

// Explain says which rule resolves model and to which targets; Resolve returns the
// same targets. It is for tools (`config check --model`), not the request path.
func (r *Router) Explain(model string) Match {
	if i, ok := r.routes[model]; ok {
		if ts, ok := r.static[model]; ok {
			return Match{Kind: MatchRoute, Rule: i + 1, Pattern: model, Targets: ts}
		}
	}
	if ts, ok := r.static[model]; ok {
		if gr := r.glob(model); gr != nil {
			return Match{Kind: MatchGlob, Rule: gr.index + 1, Pattern: gr.pattern, Targets: ts}
		}
		return Match{Kind: MatchModel, Targets: ts}
	}
	_, m := r.resolveDynamic(model)
	return m
}

// Model is one client-visible model name and the provider that owns it.
type Model struct {
	ID      string
	OwnedBy string
}

// Models lists every client-visible name, sorted.
func (r *Router) Models() []Model {
	out := make([]Model, 0, len(r.static))
	for name, ts := range r.static {
		out = append(out, Model{ID: name, OwnedBy: ts[0].Provider.Name()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Providers returns the providers in configuration order.
func (r *Router) Providers() []provider.Provider { return r.order }

// NotFound is the 404 for a model nothing serves. It names the providers that were
// asked and the two ways to reach the model anyway, so the first failed request of
// a new agent says what to change.
func (r *Router) NotFound(model string) *apierr.Error {
	e := apierr.ModelNotFound(model)
	names := make([]string, 0, len(r.order))
	example := ""
	for _, p := range r.order {
		names = append(names, p.Name())
		if example == "" && p.Kind() != "mock" {
			example = p.Name()
		}
	}
	if len(names) == 0 {
		return e
	}
	if example == "" {
		example = names[0]
	}
	e.Message = fmt.Sprintf("The model `%s` is not served by this gateway: no route names it and no provider "+
		"(tried: %s) lists it or serves its family. Send `%s:%s` to give it to a provider as is, or add a route "+
		"in config.toml: [[routes]] model = \"%s\" (a glob such as \"claude-*\" works) with targets = [\"%s:MODEL\"]. "+
		"`runestone config check --model %s` shows how a name resolves.",
		model, strings.Join(names, ", "), example, model, model, example, model)
	return e
}
