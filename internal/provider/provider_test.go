package provider

import (
	"strings"
	"testing"
)

func TestEndpointPath(t *testing.T) {
	if got := Chat.Path(); got != "/v1/chat/completions" {
		t.Errorf("Chat.Path() = %q", got)
	}
	// Every endpoint, and one past the table, has the /v1/ form of its name.
	for e := Chat; e <= InputTokens+1; e++ {
		if got, want := e.Path(), "/v1/"+e.String(); got != want || !strings.HasPrefix(got, "/v1/") {
			t.Errorf("Endpoint(%d).Path() = %q, want %q", e, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Messages.Path() }); n != 0 {
		t.Errorf("Path allocates %v times", n)
	}
}
