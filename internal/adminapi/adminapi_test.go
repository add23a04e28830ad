package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/events"
)

func TestReadEvents(t *testing.T) {
	in := ": hello\n\nevent: ignored\ndata: {\"seq\":1,\"kind\":\"dropped\",\n" +
		"data: \"dropped\":3}\n\ndata: not json\n\ndata:{\"seq\":2,\"kind\":\"dropped\",\"dropped\":4}"
	ch := make(chan events.Event, 4)
	readEvents(context.Background(), strings.NewReader(in), ch)
	close(ch)
	var got []uint64
	for e := range ch {
		got = append(got, e.Dropped)
	}
	if fmt.Sprint(got) != "[3 4]" {
		t.Fatalf("got %v, want multi-line data joined, bad JSON skipped, a last event without blank line kept", got)
	}
}

// The client reads the paths the gateway serves, sends the admin key, and turns a 404
// detail into events.ErrRequestNotFound and other failures into the gateway's message.
func TestClientPaths(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		switch r.URL.Path {
		case PathProviders:
			fmt.Fprint(w, `{"providers":[{"name":"openai","breaker":"open","p50_ms":12}]}`)
		case PathRequests + "a b":
			fmt.Fprint(w, `{"request":{"id":"a b","endpoint":"/v1/chat/completions"},"request_body":"{}"}`)
		case PathRequests + "nope":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"message":"no logged request with that id"}}`)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"message":"draining"}}`)
		}
	}))
	defer srv.Close()
	c := New(srv.URL+"/", "adm", srv.Client())
	ctx := context.Background()

	ps, err := c.Providers(ctx)
	if err != nil || len(ps) != 1 || ps[0].Name != "openai" || ps[0].Breaker != "open" {
		t.Fatalf("Providers = %+v, %v", ps, err)
	}
	d, err := c.Detail(ctx, "a b")
	if err != nil || d.Request.ID != "a b" || d.RequestBody != "{}" {
		t.Fatalf("Detail = %+v, %v", d, err)
	}
	if _, err := c.Detail(ctx, "nope"); !errors.Is(err, events.ErrRequestNotFound) {
		t.Fatalf("Detail(nope) err = %v, want ErrRequestNotFound", err)
	}
	if _, err := c.Snapshot(ctx); err == nil || !strings.Contains(err.Error(), "503 draining") {
		t.Fatalf("Snapshot err = %v, want the gateway's message", err)
	}
	for _, a := range auth {
		if a != "Bearer adm" {
			t.Fatalf("a request went without the admin key: %q", auth)
		}
	}
}

// TestUnauthorizedIsTheEventsSentinel: the dashboard, which cannot import this
// package, stops reconnecting on events.ErrUnauthorized; a 401 must match it.
func TestUnauthorizedIsTheEventsSentinel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"admin key required"}}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, err := New(srv.URL, "", nil).Snapshot(t.Context())
	if !errors.Is(err, events.ErrUnauthorized) || !IsUnauthorized(err) {
		t.Fatalf("a 401 should match events.ErrUnauthorized: %v", err)
	}
	if errors.Is(&StatusError{Status: http.StatusBadGateway}, events.ErrUnauthorized) {
		t.Fatal("a 502 is not an auth failure")
	}
}
