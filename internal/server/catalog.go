package server

import (
	"context"
	"time"

	"github.com/jmanhype/runestone/internal/provider"
)

// How often a provider's model list is read again, and how soon after a failure.
const (
	modelsRefresh = time.Hour
	modelsRetry   = 5 * time.Minute
	modelsTimeout = 15 * time.Second
)

// learnModels keeps one provider's catalog filled from the upstream's own model list:
// once at start, then hourly (every five minutes while it fails). It runs beside the
// gateway, never on a request's path; until the first answer, and whenever the
// upstream has none, the provider's family patterns decide alone.
func (s *Server) learnModels(p provider.ModelLister, name string) {
	for {
		ctx, cancel := context.WithTimeout(s.bg, modelsTimeout)
		ids, err := p.ListModels(ctx)
		cancel()
		wait := modelsRefresh
		if err != nil {
			if s.bg.Err() != nil {
				return
			}
			s.log.Debug("read the provider's model list (its name patterns still apply)", "provider", name, "err", err)
			wait = modelsRetry
		} else {
			p.Catalog().Learn(ids, time.Now())
		}
		t := time.NewTimer(wait)
		select {
		case <-s.bg.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
