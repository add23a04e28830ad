package provider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFamiliesServeTodaysAgentsDefaults(t *testing.T) {
	oai, anth := NewCatalog(Families["openai"]), NewCatalog(Families["anthropic"])
	for _, m := range []string{"gpt-4o-2024-08-06", "gpt-5-codex", "o3", "o4-mini-2025-04-16", "chatgpt-4o-latest",
		"codex-mini-latest", "text-embedding-3-small"} {
		if !oai.Serves(m) || anth.Serves(m) {
			t.Errorf("%s: openai %v anthropic %v, want only openai", m, oai.Serves(m), anth.Serves(m))
		}
	}
	for _, m := range []string{"claude-opus-5-5", "claude-haiku-5-5", "claude-sonnet-4-5-20250929"} {
		if !anth.Serves(m) || oai.Serves(m) {
			t.Errorf("%s: anthropic %v openai %v, want only anthropic", m, anth.Serves(m), oai.Serves(m))
		}
	}
	for _, m := range []string{"llama3", "omega", "", "mock"} {
		if oai.Serves(m) || anth.Serves(m) {
			t.Errorf("%s is served by a family", m)
		}
	}
	var none *Catalog
	if none.Serves("gpt-4o") {
		t.Error("a nil catalog serves a name")
	}
}

func TestCatalogLearnsFromPagedList(t *testing.T) {
	var pages int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-api-key") != "k" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		pages++
		if r.URL.Query().Get("after_id") == "" {
			w.Write([]byte(`{"data":[{"id":"whisper-1"}],"has_more":true,"last_id":"whisper-1"}`))
			return
		}
		w.Write([]byte(`{"data":[{"id":"my-ft-model"}],"has_more":false}`))
	}))
	defer srv.Close()
	h := http.Header{"X-Api-Key": {"k"}}
	ids, err := ListModelIDs(context.Background(), srv.Client(), srv.URL+"/v1/models?limit=1000", h)
	if err != nil || len(ids) != 2 || pages != 2 {
		t.Fatalf("ids %v, err %v, pages %d", ids, err, pages)
	}
	c := NewCatalog(Families["anthropic"])
	c.Learn(ids, time.Unix(1, 0))
	if !c.Serves("my-ft-model") || !c.Serves("claude-x") || c.Serves("other") {
		t.Fatal("learned names or the family fallback are not served")
	}
	c.Learn(nil, time.Unix(2, 0)) // an empty answer keeps the last list
	if n, at := c.Learned(); n != 2 || at.Unix() != 1 {
		t.Fatalf("learned %d at %v after an empty list", n, at)
	}
	if _, err := ListModelIDs(context.Background(), srv.Client(), srv.URL, nil); err == nil {
		t.Fatal("a 401 list is no error")
	}
}
