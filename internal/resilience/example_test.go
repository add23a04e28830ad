package resilience_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/resilience"
)

type upstream struct{ name string }

func (u upstream) Name() string     { return u.name }
func (u upstream) Kind() string     { return "mock" }
func (u upstream) Models() []string { return nil }
func (u upstream) Do(context.Context, *provider.Call) (*provider.Response, error) {
	return &provider.Response{Body: []byte(`{"id":"x"}`)}, nil
}

// The gateway builds one Executor at start-up and, per request, passes the route's
// targets and a func that performs one upstream attempt.
func Example() {
	primary, backup := upstream{"openai"}, upstream{"backup"}
	x := resilience.New(resilience.Options{
		Retries:     resilience.DefaultRetries,
		BackoffBase: 200 * time.Millisecond,
		BackoffMax:  5 * time.Second,
	}, []provider.Provider{primary, backup})

	call := &provider.Call{ClientModel: "gpt-4o"}
	targets := []provider.Target{{Provider: primary, Model: "gpt-4o"}, {Provider: backup, Model: "gpt-4o"}}
	res, err := x.Execute(context.Background(), "req-1", targets,
		func(ctx context.Context, t provider.Target) (*provider.Response, error) {
			c := *call // Call is read-only for providers; copy to set the upstream model
			c.Model = t.Model
			return t.Provider.Do(ctx, &c)
		})
	if err != nil {
		fmt.Println("error:", err) // *apierr.Error or the context's error
		return
	}
	// For a stream, relay it and report how it ended; for a body this is a no-op.
	defer res.Finish(io.EOF)
	fmt.Println(res.Target.Provider.Name(), res.Attempts, res.Tried, string(res.Response.Body))
	// Output: openai 1 [openai] {"id":"x"}
}
