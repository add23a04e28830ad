package resilience

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/jmanhype/runestone/internal/apierr"
)

// outcome is what an attempt's error means for retrying, failover and the breaker.
type outcome uint8

const (
	outcomeOK          outcome = iota
	outcomeCallerFault         // the request itself is wrong: same answer everywhere, return it
	outcomeCanceled            // the client left: stop, blame nobody
	outcomeRetryable           // may pass on a retry: retry, then fail over; breaker failure
	outcomeFatal               // this provider cannot serve (auth, quota): fail over; breaker failure
	outcomeRateLimited         // 429: the upstream pacing us; fail over, never retry, not a failure
)

// isCallerFault lists the upstream statuses that blame the request, not the provider:
// another provider would reject it too, so failing over only burns quota.
func isCallerFault(ae *apierr.Error) bool {
	if ae.Retryable {
		return false
	}
	switch ae.Status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict,
		http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// classify maps an attempt's result. The context is checked first: once the client is
// gone, whatever error the transport produced is a consequence, not a provider fault.
// Errors that are not *apierr.Error break the provider contract; they are treated as
// connection errors (retryable) rather than guessed at.
func classify(ctx context.Context, err error) (outcome, *apierr.Error) {
	if err == nil {
		return outcomeOK, nil
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return outcomeCanceled, nil
	}
	ae := apierr.As(err)
	switch {
	case isRateLimit(ae):
		return outcomeRateLimited, ae
	case ae == nil || ae.Retryable:
		return outcomeRetryable, ae
	case isCallerFault(ae):
		return outcomeCallerFault, ae
	}
	return outcomeFatal, ae
}

// classifyEnd maps how a stream ended; io.EOF is the clean end.
func classifyEnd(ctx context.Context, err error) (outcome, *apierr.Error) {
	if errors.Is(err, io.EOF) {
		return outcomeOK, nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return classify(ctx, err)
}

// describe is the short form of a failure used in logs, events and the final message.
func describe(err error, ae *apierr.Error) string {
	if ae == nil {
		return err.Error()
	}
	msg := ae.Message
	if msg == "" {
		msg = http.StatusText(ae.Status)
	}
	msg = truncate(msg, 200)
	if ae.Status == 0 {
		return msg
	}
	return strconv.Itoa(ae.Status) + " " + msg
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// failure is what happened on one target of a failed request.
type failure struct {
	provider string
	attempts int
	err      error         // last attempt's error
	apiErr   *apierr.Error // err as *apierr.Error, if it is one
	skipped  error         // gobreaker's refusal, if the breaker stopped us
	skipWhy  string        // what opened that breaker (" after …")
	// wait: the target asked to be called again later (a 429, or a Retry-After longer
	// than the gateway waits) and the gateway did not call it again.
	wait bool
}

func (f failure) String() string {
	var b strings.Builder
	b.WriteString(f.provider)
	b.WriteString(": ")
	if f.attempts > 0 {
		b.WriteString(describe(f.err, f.apiErr))
		if f.attempts > 1 || f.skipped != nil {
			b.WriteString(" (")
			b.WriteString(strconv.Itoa(f.attempts))
			if f.attempts == 1 {
				b.WriteString(" attempt")
			} else {
				b.WriteString(" attempts")
			}
			if f.skipped != nil {
				b.WriteString(", then ")
				b.WriteString(skipReason(f.skipped, ""))
			}
			b.WriteString(")")
		}
		return b.String()
	}
	b.WriteString(skipReason(f.skipped, f.skipWhy))
	return b.String()
}

// sameDialectVerdict returns the upstream's own error when the only provider called
// answered in the client's own dialect (a native relay kept its body): the client
// gets that status and body unmodified, because agents such as Claude Code match on
// the upstream's wording. x-should-retry tells the SDK whether its own retry is the
// next call (wait) or would multiply the gateway's (it already retried).
func sameDialectVerdict(fails []failure, wait bool) *apierr.Error {
	var last *apierr.Error
	called := 0
	for _, f := range fails {
		if f.attempts == 0 {
			continue
		}
		called++
		last = f.apiErr
	}
	if called != 1 || last == nil || last.Body == nil {
		return nil
	}
	e := *last
	e.Header = last.Header.Clone()
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set("X-Should-Retry", strconv.FormatBool(wait))
	if e.RetryAfter > 0 && e.Header.Get("Retry-After") == "" {
		setRetryAfter(e.Header, e.RetryAfter, wait)
	}
	return &e
}

// waitable reports whether every target that was called asked to be called again
// later (429, or a Retry-After the gateway would not wait for) and was not: then a
// retry by the client after Retry-After is the next call, not one more on top of the
// gateway's own retries. It also returns the soonest of their Retry-Afters.
func waitable(fails []failure) (bool, time.Duration) {
	called := false
	var soonest time.Duration
	for _, f := range fails {
		if f.attempts == 0 {
			continue // skipped by its breaker: it said nothing
		}
		if !f.wait {
			return false, 0
		}
		called = true
		if ra := f.apiErr.RetryAfter; ra > 0 && (soonest == 0 || ra < soonest) {
			soonest = ra
		}
	}
	return called, soonest
}

// all429 returns the last upstream error when every target that was called answered
// 429 (a rate limit, not a spent quota), nil otherwise.
func all429(fails []failure) *apierr.Error {
	var last *apierr.Error
	for _, f := range fails {
		if f.attempts == 0 {
			continue // skipped by its breaker: it said nothing
		}
		if !isRateLimit(f.apiErr) {
			return nil
		}
		last = f.apiErr
	}
	return last
}

// skipReason says why a breaker refused a target, and what opened it when known.
func skipReason(err error, why string) string {
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		return "breaker half-open, probe in flight"
	}
	return "breaker open" + why
}

// setRetryAfter writes d as Retry-After (whole seconds, rounded up) and, when the
// client is told to wait rather than give up, retry-after-ms too: the OpenAI and
// Anthropic SDKs prefer it, so a 200 ms pause is not stretched to a second.
func setRetryAfter(h http.Header, d time.Duration, precise bool) {
	secs := int((d + time.Second - 1) / time.Second)
	h.Set("Retry-After", strconv.Itoa(max(secs, 1)))
	if precise && h.Get("Retry-After-Ms") == "" {
		h.Set("Retry-After-Ms", strconv.FormatInt(max(d.Milliseconds(), 1), 10))
	}
}

// unavailable builds the final error once every target failed or was skipped: 503 when
// no upstream was even called (every breaker open), 502 when upstreams answered badly.
// The gateway has already retried, so it tells SDKs not to multiply the calls.
func (x *Executor) unavailable(fails []failure, calls int) *apierr.Error {
	wait, soonest := waitable(fails)
	if e := sameDialectVerdict(fails, wait); e != nil {
		return e
	}
	e := &apierr.Error{
		Status: http.StatusBadGateway,
		Type:   apierr.TypeServer,
		Code:   apierr.CodeProviderUnavailable,
		Header: http.Header{"X-Should-Retry": {"false"}},
	}
	var b strings.Builder
	if len(fails) == 0 {
		b.WriteString("no providers to try")
	} else {
		b.WriteString("all providers failed: ")
		for i, f := range fails {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(f.String())
		}
	}
	e.Message = b.String()

	var retryAfter time.Duration
	if calls == 0 {
		e.Status = http.StatusServiceUnavailable
		// Tell a human (or a patient client) when the first breaker will let a probe in.
		now := x.o.Now()
		for _, f := range fails {
			if p := x.reg.Load().byName[f.provider]; p != nil {
				if np := p.nextProbe.Load(); np != 0 {
					d := time.Unix(0, np).Sub(now)
					if d > 0 && (retryAfter == 0 || d < retryAfter) {
						retryAfter = d
					}
				}
			}
		}
	} else {
		// The last real failure speaks for the request.
		for i := len(fails) - 1; i >= 0; i-- {
			if fails[i].attempts > 0 {
				e.Cause = fails[i].err
				e.Provider = fails[i].provider
				if ae := fails[i].apiErr; ae != nil {
					retryAfter = ae.RetryAfter
				}
				break
			}
		}
		if last := all429(fails); last != nil {
			// Every upstream that answered said "slow down": that is what the client
			// must hear (SDKs raise their rate-limit error and wait retry-after), not
			// a 502 that reads as an outage.
			e.Status = http.StatusTooManyRequests
			e.Type, e.Code = last.Type, last.Code
			if e.Type == "" || e.Type == apierr.TypeServer {
				e.Type = apierr.TypeRateLimit
			}
			if e.Code == "" {
				e.Code = apierr.CodeRateLimitExceeded
			}
		}
		if wait {
			// Nobody was called twice: the client's retry after the soonest
			// Retry-After is the next call, and may well succeed.
			e.Header.Set("X-Should-Retry", "true")
			retryAfter = soonest
		}
	}
	if retryAfter > 0 {
		e.RetryAfter = retryAfter
		setRetryAfter(e.Header, retryAfter, wait)
	}
	return e
}
