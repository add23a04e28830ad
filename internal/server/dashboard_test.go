package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"
	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/ui"
)

// TestDashboardFollowsALiveGateway attaches the `runestone top` model to a real
// gateway's /admin/state and /admin/events and sees requests appear.
func TestDashboardFollowsALiveGateway(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	src := adminapi.New(g.URL, "", &http.Client{Transport: tr})
	tm := teatest.NewTestModel(t, ui.New(src, ui.Options{Version: "test", Addr: g.URL}), teatest.WithInitialTermSize(120, 40))
	// Keep making traffic until the dashboard shows it (it may subscribe after the first).
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				g.do("POST", "/v1/chat/completions", `{"model":"dashboard-model-x","messages":[{"role":"user","content":"hi"}]}`, nil)
			}
		}
	}()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("dashboard-model-x")) },
		teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(50*time.Millisecond))
	close(stop)
	<-done
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// TestAdminStateFeedsProviderDetail: the dashboard's provider detail shows each
// provider's base URL and models, which /admin/state carries (the URL masked, never
// the API key).
func TestAdminStateFeedsProviderDetail(t *testing.T) {
	g := startGateway(t, upstreamConfig("http://127.0.0.1:1", ""), nil)
	status, _, body := g.do("GET", "/admin/state", "", map[string]string{"Authorization": "Bearer sk-test-static-key-0123456789abcdef"})
	if status != http.StatusOK {
		t.Fatalf("/admin/state %d: %s", status, body)
	}
	var st events.State
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Providers) != 1 || st.Providers[0].BaseURL != "http://127.0.0.1:1/v1" ||
		!slices.Contains(st.Providers[0].Models, "text-embedding-3-small") {
		t.Fatalf("providers %+v: want fake's base URL and models", st.Providers)
	}
	if bytes.Contains(body, []byte("sk-upstream-secret-value")) {
		t.Fatal("/admin/state leaks the provider's API key")
	}
}
