package server

import (
	"context"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/provider"
)

// providerInfo is the admin API's view of the configured providers.
func (s *Server) providerInfo() []adminapi.ProviderInfo {
	return ProviderInfo(s.cfg, s.router.Providers())
}

// ProviderInfo describes providers built from cfg (in the same order), never their
// keys: the running gateway's view for `providers list`, and the local one when no
// gateway answers.
func ProviderInfo(cfg *config.Config, ps []provider.Provider) []adminapi.ProviderInfo {
	out := make([]adminapi.ProviderInfo, 0, len(ps))
	for i, p := range ps {
		row := adminapi.ProviderInfo{Name: p.Name(), Kind: p.Kind(), Models: p.Models()}
		if i < len(cfg.Providers) {
			pc := cfg.Providers[i]
			row.BaseURL, row.Priority, row.KeySet = config.MaskURL(pc.BaseURL), pc.Priority, pc.APIKey != ""
		}
		if cfg.ZeroConfig && p.Kind() == config.KindMock {
			row.Models = []string{"*"}
		}
		if ml, ok := p.(provider.ModelLister); ok && ml.Catalog() != nil {
			row.Patterns = ml.Catalog().Patterns()
			row.Learned, _ = ml.Catalog().Learned()
		}
		out = append(out, row)
	}
	return out
}

// testProviders probes the gateway's own providers, one after another.
func (s *Server) testProviders(ctx context.Context, name string) []adminapi.ProbeResult {
	var out []adminapi.ProbeResult
	for _, p := range s.router.Providers() {
		if name == "" || p.Name() == name {
			out = append(out, Probe(ctx, p))
		}
	}
	return out
}

// Probe sends p one minimal request straight to the upstream (a one-token chat, or an
// embedding for an embedding-only provider) and gives a verdict: ok, auth failed,
// unreachable, model missing or error. It bypasses the breaker and the log.
func Probe(ctx context.Context, p provider.Provider) adminapi.ProbeResult {
	models := p.Models()
	model := "mock"
	if len(models) > 0 {
		model = models[0]
	}
	call := &provider.Call{Endpoint: provider.Chat, Model: model, ClientModel: model,
		Body: []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)}
	for _, m := range models {
		if !strings.Contains(m, "embedding") {
			call.Model, call.ClientModel = m, m
			call.Body = []byte(`{"model":"` + m + `","messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)
			break
		}
		call = &provider.Call{Endpoint: provider.Embeddings, Model: m, ClientModel: m, Body: []byte(`{"model":"` + m + `","input":"ping"}`)}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := p.Do(ctx, call)
	if err == nil && resp != nil && resp.Stream != nil {
		_ = resp.Stream.Close()
	}
	r := adminapi.ProbeResult{Provider: p.Name(), Model: call.Model, LatencyMS: float64(time.Since(start).Microseconds()) / 1000, Verdict: "ok"}
	if err == nil {
		return r
	}
	r.Detail = err.Error()
	e := apierr.As(err)
	switch {
	case e == nil:
		r.Verdict = "error"
	case e.Code == "provider_auth_failed" || e.Status == 401 || e.Status == 403:
		r.Verdict = "auth failed"
	case e.Code == "upstream_unreachable":
		r.Verdict = "unreachable"
	case e.Status == 404:
		r.Verdict = "model missing"
	default:
		r.Verdict = "error"
	}
	return r
}
