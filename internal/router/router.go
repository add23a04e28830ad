// Package router resolves a client's model name to the targets that can serve it:
// configured routes first, then every provider listing the model, then the explicit
// "provider:model" form, then providers that accept any name (the zero-config mock).
package router

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"

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
	static    map[string][]provider.Target // routes and model lists, precomputed
	routes    map[string]bool
	dynamic   sync.Map // "provider:model" and catch-all resolutions, cached
	cached    atomic.Int32
}

// maxCached bounds the dynamic cache: clients choose those names.
const maxCached = 4096

// New builds a router over providers (in configuration order) and routes.
func New(providers []provider.Provider, routes []Route) *Router {
	r := &Router{providers: map[string]provider.Provider{}, order: providers,
		static: map[string][]provider.Target{}, routes: map[string]bool{}}
	for _, p := range providers {
		r.providers[p.Name()] = p
	}
	for _, rt := range routes {
		for _, t := range rt.Targets {
			name, model, _ := strings.Cut(t, ":")
			if p, ok := r.providers[name]; ok {
				r.static[rt.Model] = append(r.static[rt.Model], provider.Target{Provider: p, Model: model})
			}
		}
		r.routes[rt.Model] = true
	}
	for _, p := range providers {
		for _, m := range p.Models() {
			if !r.routes[m] {
				r.static[m] = append(r.static[m], provider.Target{Provider: p, Model: m})
			}
		}
	}
	return r
}

// Resolve returns the targets for model, or nil when nothing serves it.
func (r *Router) Resolve(model string) []provider.Target {
	if ts, ok := r.static[model]; ok {
		return ts
	}
	if v, ok := r.dynamic.Load(model); ok {
		return v.([]provider.Target)
	}
	var ts []provider.Target
	if name, m, ok := strings.Cut(model, ":"); ok && m != "" {
		if p, ok := r.providers[name]; ok {
			ts = []provider.Target{{Provider: p, Model: m}}
		}
	}
	if ts == nil {
		for _, p := range r.order {
			if mm, ok := p.(provider.ModelMatcher); ok && mm.ServesModel(model) {
				ts = append(ts, provider.Target{Provider: p, Model: model})
			}
		}
	}
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
