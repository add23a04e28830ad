package server

import (
	"context"
	"time"

	"github.com/jmanhype/runestone/internal/provider"
)

// probeLoop sends one minimal request to p every interval through the executor, so
// the result feeds the provider's breaker and health like real traffic would. It is
// off unless a provider sets health_check: probes spend tokens.
func (s *Server) probeLoop(p provider.Provider, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
			s.probe(p)
		}
	}
}

func (s *Server) probe(p provider.Provider) {
	model := "mock"
	if ms := p.Models(); len(ms) > 0 {
		model = ms[0]
	}
	call := &provider.Call{Endpoint: provider.Chat, Model: model, ClientModel: model,
		Body: []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)}
	// s.bg, so Shutdown cancels a probe in flight instead of waiting for it.
	ctx, cancel := context.WithTimeout(s.bg, 30*time.Second)
	defer cancel()
	_, err := s.exec.Execute(ctx, "health-check", []provider.Target{{Provider: p, Model: model}},
		func(ctx context.Context, t provider.Target) (*provider.Response, error) {
			return t.Provider.Do(ctx, call)
		})
	if err != nil {
		s.log.Warn("health check failed", "provider", p.Name(), "err", err)
	}
}
