package limits

import (
	"context"
	"net/http"
	"time"

	"github.com/jmanhype/runestone/internal/events"
)

// Admitter is what the gateway needs from a limiter: this package's in-process
// Limiter, or a shared one (Redis) when several replicas serve the same keys.
type Admitter interface {
	// Admit admits one request for keyID under lim, or returns why not (an
	// *apierr.Error, or the context's error when the client left while queued).
	Admit(ctx context.Context, keyID, keyName string, lim Limits) (Admission, error)
	// Snapshot returns the tracked keys' counters for the dashboard and metrics.
	Snapshot() []events.KeyLimits
	// Close stops background work; admissions still out may be released afterwards.
	Close()
}

// Admission is an admitted request's hold on its key. Release it on every path.
type Admission interface {
	SetHeaders(h http.Header)
	Waited() time.Duration
	Release(tokens int)
}

// Admit implements Admitter: Acquire, with the ticket as an Admission.
func (l *Limiter) Admit(ctx context.Context, keyID, keyName string, lim Limits) (Admission, error) {
	t, err := l.Acquire(ctx, keyID, keyName, lim)
	if err != nil {
		return nil, err
	}
	return t, nil
}

var _ Admitter = (*Limiter)(nil)
