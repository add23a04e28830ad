package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/bodyio"
)

// Limits on a non-stream upstream answer: an upstream must not be able to make the
// gateway hold gigabytes or crash a recursive parser.
const (
	MaxAnswerBytes = 256 << 20
	MaxAnswerDepth = 512
)

// ReadAnswer reads a non-stream answer body within timeout (providers.timeout, the
// same limit as for the headers): an upstream that sends headers and then nothing
// ends with a retryable 504 instead of holding the request and its slot for ever.
// It closes the body.
func ReadAnswer(ctx context.Context, resp *http.Response, timeout time.Duration, name string) ([]byte, error) {
	defer resp.Body.Close()
	var timedOut atomic.Bool
	if timeout > 0 {
		t := time.AfterFunc(timeout, func() {
			timedOut.Store(true)
			_ = resp.Body.Close() // unblocks the read below
		})
		defer t.Stop()
	}
	b, err := bodyio.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1), resp.ContentLength)
	if timedOut.Load() {
		return nil, &apierr.Error{Status: http.StatusGatewayTimeout, Type: apierr.TypeServer, Code: "upstream_timeout",
			Provider: name, Retryable: true,
			Message: fmt.Sprintf("provider %s sent its headers but not its answer within %s (providers.timeout)", name, timeout)}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, apierr.Unreachable(name, fmt.Errorf("read answer: %w", err))
	}
	if len(b) > MaxAnswerBytes {
		return nil, apierr.BadUpstream(name, "the answer is larger than "+strconv.Itoa(MaxAnswerBytes)+" bytes")
	}
	return b, nil
}
