package resilience

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// fullJitter is "full jitter" backoff (a uniform wait in [0, ceiling)), with the
// ceiling growing base, 2·base, 4·base, ... up to max. The growth and cap come from
// backoff.ExponentialBackOff with its own randomisation switched off, because that
// randomisation is ±factor around the interval (not full jitter), draws from the global
// rand (no test seam) and applies the cap before jitter, so waits could exceed max.
// backoff.Retry is not used either: the retry loop must consult the breaker before
// every attempt, honour Retry-After as a floor, and sleep through an injectable func.
//
// The zero value is ready once init is called; it lives on the request's stack.
type fullJitter struct {
	exp  backoff.ExponentialBackOff
	rand func() float64
}

var _ backoff.BackOff = (*fullJitter)(nil)

func (j *fullJitter) init(base, max time.Duration, rand func() float64) {
	j.exp = backoff.ExponentialBackOff{
		InitialInterval:     base,
		RandomizationFactor: 0,
		Multiplier:          2,
		MaxInterval:         max,
	}
	j.exp.Reset()
	j.rand = rand
}

// NextBackOff returns the next wait, uniform in [0, ceiling).
func (j *fullJitter) NextBackOff() time.Duration {
	ceiling := j.exp.NextBackOff()
	r := j.rand()
	if r < 0 || r >= 1 { // a misbehaving seam must not stretch the wait past the ceiling
		r = 0
	}
	return time.Duration(r * float64(ceiling))
}

// Reset starts the schedule over (used for each new target).
func (j *fullJitter) Reset() { j.exp.Reset() }

// wait is the delay before retrying on the same target: the jittered backoff, raised to
// the upstream's Retry-After, and never above BackoffMax (SPEC.md section 4: Retry-After
// is honoured but capped, so one slow hint cannot hold a request for minutes).
func (x *Executor) wait(j *fullJitter, retryAfter time.Duration) time.Duration {
	if j.rand == nil {
		j.init(x.o.BackoffBase, x.o.BackoffMax, x.o.Rand)
	}
	d := j.NextBackOff()
	d = max(d, retryAfter)
	return min(d, x.o.BackoffMax)
}
