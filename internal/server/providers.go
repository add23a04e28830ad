package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/provider/anthropic"
	"github.com/jmanhype/runestone/internal/provider/mock"
	"github.com/jmanhype/runestone/internal/provider/openai"
	"github.com/jmanhype/runestone/internal/telemetry"
	"github.com/jmanhype/runestone/internal/usage"
)

// BuildProviders turns configured providers into live ones, filling default model
// lists for the built-in kinds (also used by `runestone providers test`).
func BuildProviders(cfg *config.Config) ([]provider.Provider, error) {
	return buildProviders(cfg, usage.NewEstimator(), nil)
}

// buildProviders builds the providers; with tel on, each HTTP upstream's transport
// injects the trace context when its propagate_trace allows.
func buildProviders(cfg *config.Config, tokens *usage.Estimator, tel *telemetry.Telemetry) ([]provider.Provider, error) {
	out := make([]provider.Provider, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		var rt http.RoundTripper // nil: the provider builds its default transport
		if tel != nil {
			rt = tel.Transport(p.Name, provider.NewTransport(p.Timeout.Duration))
		}
		models, catalog := modelsOf(p)
		switch p.Kind {
		case config.KindOpenAI:
			if models == nil {
				models = openai.DefaultModels
			}
			out = append(out, openai.New(openai.Options{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey,
				Models: models, Timeout: p.Timeout.Duration, Headers: p.Headers, Responses: p.ServesResponses(), Transport: rt,
				Catalog: catalog}))
		case config.KindAnthropic:
			if models == nil {
				models = anthropic.DefaultModels
			}
			out = append(out, anthropic.New(anthropic.Options{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey,
				Models: models, Timeout: p.Timeout.Duration, Headers: p.Headers, Transport: rt, Catalog: catalog}))
		case config.KindMock:
			out = append(out, mock.New(mock.Options{Name: p.Name, CatchAll: cfg.ZeroConfig, Models: p.Models,
				Tokens: func(s string) int { return tokens.Text("gpt-4o", s) }}))
		default:
			return nil, fmt.Errorf("provider %q: unknown kind %q", p.Name, p.Kind)
		}
	}
	return out, nil
}

// modelsOf splits a provider's models into exact names and patterns. A vendor kind
// configured with no models (the providers OPENAI_API_KEY and ANTHROPIC_API_KEY enable
// are such) serves its built-in list plus its whole family ("claude-*", "gpt-*", …) and
// learns the upstream's own list; globs written in models ("qwen*") are a family of
// the operator's choosing. nil models means the kind's built-in list.
func modelsOf(p config.Provider) ([]string, *provider.Catalog) {
	if len(p.Models) == 0 {
		if fam := provider.Families[p.Kind]; fam != nil {
			return nil, provider.NewCatalog(fam)
		}
		return nil, nil
	}
	var exact, globs []string
	for _, m := range p.Models {
		if strings.ContainsAny(m, "*[") {
			globs = append(globs, m)
		} else {
			exact = append(exact, m)
		}
	}
	if globs == nil {
		return p.Models, nil
	}
	if exact == nil {
		exact = []string{}
	}
	return exact, provider.NewCatalog(globs)
}
