package gateway

import (
	"net/http"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

// firstEvent reads a stream's first event under the same idle limit as every later
// one: an upstream that sends its headers and then nothing would otherwise hold the
// request (and its concurrency slot) until the client gives up. Closing the stream
// unblocks Next, as the relay's idle watchdog does later on.
func firstEvent(s provider.Stream, idle time.Duration, name string) ([]byte, error) {
	t := time.AfterFunc(idle, func() { _ = s.Close() })
	first, err := s.Next()
	if !t.Stop() && err != nil {
		return nil, &apierr.Error{Status: http.StatusGatewayTimeout, Type: apierr.TypeServer, Code: "stream_idle_timeout",
			Provider: name, Retryable: true,
			Message: "provider " + name + " sent its headers but no event for " + idle.String() + "; the stream was ended"}
	}
	return first, err
}
