package resilience

import "time"

// fullJitter is "full jitter" backoff: a uniform wait in [0, ceiling), with the
// ceiling doubling from base up to max. It is a few lines rather than
// cenkalti/backoff's ExponentialBackOff, whose randomisation is ±factor around the
// interval (not full jitter), draws from the global rand (no test seam) and caps before
// jittering; with all that switched off only the doubling was left to borrow. The
// retry loop itself is the executor's own: it consults the breaker before every
// attempt, honours Retry-After as a floor, and sleeps through an injectable func.
//
// The zero value is ready once init is called; it lives on the request's stack.
type fullJitter struct {
	ceiling, max time.Duration
	rand         func() float64
}

func (j *fullJitter) init(base, max time.Duration, rand func() float64) {
	j.ceiling, j.max, j.rand = base, max, rand
}

// next returns the next wait, uniform in [0, ceiling), and doubles the ceiling.
func (j *fullJitter) next() time.Duration {
	ceiling := j.ceiling
	if j.ceiling > j.max/2 { // doubling would pass max (or overflow)
		j.ceiling = j.max
	} else {
		j.ceiling *= 2
	}
	r := j.rand()
	if r < 0 || r >= 1 { // a misbehaving seam must not stretch the wait past the ceiling
		r = 0
	}
	return time.Duration(r * float64(ceiling))
}

// wait is the delay before retrying on the same target: the jittered backoff, raised to
// the upstream's Retry-After, and never above BackoffMax (Retry-After is honoured but
// capped, so one slow hint cannot hold a request for minutes).
func (x *Executor) wait(j *fullJitter, retryAfter time.Duration) time.Duration {
	if j.rand == nil {
		j.init(x.o.BackoffBase, x.o.BackoffMax, x.o.Rand)
	}
	d := j.next()
	d = max(d, retryAfter)
	return min(d, x.o.BackoffMax)
}
