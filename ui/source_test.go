package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/internal/events"
)

// fakeGateway serves the admin API the way the gateway does: JSON state, an SSE
// event stream, request details, and a bearer check.
type fakeGateway struct {
	t      *testing.T
	key    string
	events chan events.Event
	mu     sync.Mutex
	down   bool
	auths  []string
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.auths = append(g.auths, r.Header.Get("Authorization"))
	down, evs := g.down, g.events
	g.mu.Unlock()
	if down {
		http.Error(w, `{"error":{"message":"gateway restarting"}}`, http.StatusServiceUnavailable)
		return
	}
	if g.key != "" && r.Header.Get("Authorization") != "Bearer "+g.key {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"message":"admin key required","type":"invalid_request_error"}}`)
		return
	}
	switch {
	case r.URL.Path == "/admin/state":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(busyState())
	case r.URL.Path == "/admin/events":
		if got := r.Header.Get("Accept"); got != "text/event-stream" {
			g.t.Errorf("events Accept = %q", got)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		fmt.Fprint(w, ": connected\n\n")
		_ = rc.Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case e, ok := <-evs:
				if !ok {
					return // the gateway goes away
				}
				b, _ := json.Marshal(e)
				// Split one event across two writes to exercise reassembly.
				half := len(b) / 2
				fmt.Fprintf(w, "data: %s", b[:half])
				_ = rc.Flush()
				fmt.Fprintf(w, "%s\n\n: keep-alive\n\n", b[half:])
				_ = rc.Flush()
			}
		}
	case r.URL.Path == "/admin/requests/req_failover":
		_ = json.NewEncoder(w).Encode(failoverDetail())
	case strings.HasPrefix(r.URL.Path, "/admin/requests/"):
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"message":"request not found"}}`)
	default:
		http.NotFound(w, r)
	}
}

func TestRemoteSource(t *testing.T) {
	g := &fakeGateway{t: t, key: "adm-secret", events: make(chan events.Event, 16)}
	srv := httptest.NewServer(g)
	defer srv.Close()
	src := adminapi.New(srv.URL+"/", "adm-secret", srv.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	st, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "v0.4.0" || len(st.Providers) != 4 || len(st.Keys) != 3 || st.Totals.Requests != 1190 {
		t.Fatalf("snapshot decoded wrong: %+v", st)
	}

	ch, err := src.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	script := busyScript()
	for _, e := range script[:5] {
		g.events <- e
	}
	for i, want := range script[:5] {
		select {
		case got := <-ch:
			if got.Kind != want.Kind || got.Request == nil || got.Request.ID != want.Request.ID || !got.Request.Started.Equal(want.Request.Started) {
				t.Fatalf("event %d: got %+v, want %+v", i, got, want)
			}
		case <-ctx.Done():
			t.Fatal("timed out waiting for events")
		}
	}

	d, err := src.Detail(ctx, "req_failover")
	if err != nil || len(d.Attempts) != 3 || !strings.Contains(d.RequestBody, "Summarise") {
		t.Fatalf("detail: %v %+v", err, d)
	}
	if _, err := src.Detail(ctx, "nope"); !errors.Is(err, events.ErrRequestNotFound) {
		t.Fatalf("unknown detail: err %v, want events.ErrRequestNotFound", err)
	}

	// The gateway dropping the stream closes the channel.
	close(g.events)
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("unexpected event after the stream ended")
		}
	case <-ctx.Done():
		t.Fatal("channel not closed after the stream ended")
	}
	for _, a := range g.auths {
		if a != "Bearer adm-secret" {
			t.Fatalf("request without the admin key: %q", a)
		}
	}

	// Wrong key: a clear error quoting the gateway.
	_, err = adminapi.New(srv.URL, "wrong", srv.Client()).Snapshot(ctx)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "admin key required") {
		t.Fatalf("wrong key error = %v", err)
	}
}

func TestRemoteEventsStopOnCancel(t *testing.T) {
	g := &fakeGateway{t: t, events: make(chan events.Event)}
	srv := httptest.NewServer(g)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := adminapi.New(srv.URL, "", nil).Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("unexpected event")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.auths) != 1 || g.auths[0] != "" {
		t.Fatalf("no admin key should send no Authorization header, got %q", g.auths)
	}
}

// TestRemoteDashboardReconnects drives the real program against a gateway that
// restarts: the header shows the outage, then recovers by itself.
func TestRemoteDashboardReconnects(t *testing.T) {
	g := &fakeGateway{t: t, events: make(chan events.Event, 16)}
	srv := httptest.NewServer(g)
	defer srv.Close()
	m := newTestModel(adminapi.New(srv.URL, "", srv.Client()), Options{})
	tm := newTeatest(t, m, 120, 40)
	waitOutput(t, tm, "● live")
	g.mu.Lock()
	g.down = true
	close(g.events) // the stream ends
	g.mu.Unlock()
	waitOutput(t, tm, "disconnected — retrying")
	g.mu.Lock()
	g.down = false
	evs := make(chan events.Event, 16)
	g.events = evs
	g.mu.Unlock()
	r := req("req_after", "dev", "after-restart-model", "openai", 200, 0, 10, 5, 1, 1, nil)
	evs <- started(r)
	evs <- finished(r)
	waitOutput(t, tm, "after-restart-model")
	tm.Send(keyMsg("q"))
	if fm := finalModel(t, tm); !fm.connected {
		t.Fatal("should be connected again")
	}
}

func TestBusSource(t *testing.T) {
	bus := events.NewBus()
	st := busyState()
	src := NewBusSource(bus, func(context.Context) events.State { return st },
		func(_ context.Context, id string) (*events.RequestDetail, error) {
			if id == "req_failover" {
				return failoverDetail(), nil
			}
			return nil, events.ErrRequestNotFound
		})
	ctx, cancel := context.WithCancel(context.Background())
	got, err := src.Snapshot(ctx)
	if err != nil || got.Totals.Requests != 1190 {
		t.Fatalf("snapshot %v %+v", err, got.Totals)
	}
	ch, err := src.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bus.Publish(events.Event{Kind: events.KindDropped, Dropped: 7})
	if e := <-ch; e.Dropped != 7 || e.Seq == 0 {
		t.Fatalf("event %+v", e)
	}
	if d, err := src.Detail(ctx, "req_failover"); err != nil || d.Request.ID != "req_failover" {
		t.Fatalf("detail %v", err)
	}
	cancel()
	for range ch { // closes once ctx ends
	}
	if bus.Active() {
		t.Fatal("the subscription should be closed")
	}
	if _, err := src.Snapshot(ctx); err == nil {
		t.Fatal("snapshot after cancel should fail")
	}
}

// TestRemoteDashboardStopsOn401: once the dashboard is open, a gateway that starts
// refusing the admin key (restarted with another one) is said, with how to fix it,
// and not retried: the same key would be refused for ever.
func TestRemoteDashboardStopsOn401(t *testing.T) {
	g := &fakeGateway{t: t, key: "old", events: make(chan events.Event, 16)}
	srv := httptest.NewServer(g)
	defer srv.Close()
	m := newTestModel(adminapi.New(srv.URL, "old", srv.Client()), Options{})
	tm := newTeatest(t, m, 80, 24)
	waitOutput(t, tm, "● live")
	g.mu.Lock()
	g.key = "new"
	close(g.events) // the restart ends the stream
	g.mu.Unlock()
	waitOutput(t, tm, "pass --admin-key or set RUNESTONE_ADMIN_KEY")
	tm.Send(keyMsg("q"))
	fm := finalModel(t, tm)
	v := fm.View()
	for _, want := range []string{"401: admin key required", "admin key refused"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "retrying") {
		t.Errorf("view still promises a retry:\n%s", v)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// state+events while live, then one refused snapshot: no retry after it.
	if n := len(g.auths); n != 3 || !fm.authFailed {
		t.Fatalf("%d admin API calls (%q), want 3 and a stop", n, g.auths)
	}
}
