package server

import (
	"fmt"
	"net/http"

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
		switch p.Kind {
		case config.KindOpenAI:
			models := p.Models
			if len(models) == 0 {
				models = openai.DefaultModels
			}
			out = append(out, openai.New(openai.Options{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey,
				Models: models, Timeout: p.Timeout.Duration, Headers: p.Headers, Responses: p.ServesResponses(), Transport: rt}))
		case config.KindAnthropic:
			models := p.Models
			if len(models) == 0 {
				models = anthropic.DefaultModels
			}
			out = append(out, anthropic.New(anthropic.Options{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey,
				Models: models, Timeout: p.Timeout.Duration, Headers: p.Headers, Transport: rt}))
		case config.KindMock:
			out = append(out, mock.New(mock.Options{Name: p.Name, CatchAll: cfg.ZeroConfig, Models: p.Models,
				Tokens: func(s string) int { return tokens.Text("gpt-4o", s) }}))
		default:
			return nil, fmt.Errorf("provider %q: unknown kind %q", p.Name, p.Kind)
		}
	}
	return out, nil
}
