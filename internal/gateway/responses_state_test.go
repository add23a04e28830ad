package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/tidwall/gjson"
)

// stateServer serves the stored-response routes of a gateway with auth on (two
// static keys) and a real store holding one response of key A.
func stateServer(t *testing.T, withStore bool) (srv *httptest.Server, keyA string) {
	t.Helper()
	a, err := auth.New(context.Background(), auth.Options{StaticKeys: []string{"sk-a", "sk-b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	o := Options{AuthEnabled: true, Auth: a}
	if withStore {
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		o.Store = st
	}
	g := New(o)
	pa, aerr := a.Authenticate("Bearer sk-a")
	if aerr != nil {
		t.Fatal(aerr)
	}
	if withStore {
		err := o.Store.PutResponse(context.Background(), store.Response{ID: "resp_1", KeyID: pa.KeyID,
			CreatedAt: time.Now(), Model: "m", Provider: "mock",
			Input:  []byte(`[{"id":"msg_a","type":"message"},{"id":"fc_b","type":"function_call"},{"id":"fco_c","type":"function_call_output"}]`),
			Output: []byte(`{"id":"resp_1","object":"response","status":"completed"}`)})
		if err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/responses/{id}", g.getResponse)
	mux.HandleFunc("DELETE /v1/responses/{id}", g.deleteResponse)
	mux.HandleFunc("GET /v1/responses/{id}/input_items", g.listInputItems)
	mux.HandleFunc("POST /v1/responses/{id}/cancel", g.cancelResponse)
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, pa.KeyID
}

func call(t *testing.T, srv *httptest.Server, method, path, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestResponsesStateGetDelete(t *testing.T) {
	srv, _ := stateServer(t, true)
	if st, body := call(t, srv, "GET", "/v1/responses/resp_1", "sk-a"); st != 200 ||
		body != `{"id":"resp_1","object":"response","status":"completed"}` {
		t.Fatalf("get: %d %s", st, body)
	}
	// Key B never sees key A's response; no key at all is a 401.
	for _, key := range []string{"sk-b"} {
		for _, m := range []string{"GET /v1/responses/resp_1", "DELETE /v1/responses/resp_1",
			"GET /v1/responses/resp_1/input_items", "POST /v1/responses/resp_1/cancel"} {
			method, path, _ := strings.Cut(m, " ")
			st, body := call(t, srv, method, path, key)
			if st != 404 || !strings.Contains(body, `"message":"Response with id 'resp_1' not found."`) ||
				!strings.Contains(body, `"type":"invalid_request_error"`) {
				t.Fatalf("%s as other key: %d %s", m, st, body)
			}
		}
	}
	if st, _ := call(t, srv, "GET", "/v1/responses/resp_1", ""); st != 401 {
		t.Fatalf("no key: %d", st)
	}
	if st, body := call(t, srv, "POST", "/v1/responses/resp_1/cancel", "sk-a"); st != 400 ||
		!strings.Contains(body, "Only background responses can be cancelled") {
		t.Fatalf("cancel: %d %s", st, body)
	}
	if st, body := call(t, srv, "DELETE", "/v1/responses/resp_1", "sk-a"); st != 200 ||
		strings.TrimSpace(body) != `{"id":"resp_1","object":"response","deleted":true}` {
		t.Fatalf("delete: %d %s", st, body)
	}
	if st, _ := call(t, srv, "GET", "/v1/responses/resp_1", "sk-a"); st != 404 {
		t.Fatalf("get after delete: %d", st)
	}
	if st, _ := call(t, srv, "DELETE", "/v1/responses/resp_1", "sk-a"); st != 404 {
		t.Fatalf("second delete: %d", st)
	}
}

func TestResponsesStateInputItems(t *testing.T) {
	srv, _ := stateServer(t, true)
	type list struct {
		Object  string `json:"object"`
		Data    []struct{ ID string }
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
		HasMore bool    `json:"has_more"`
	}
	get := func(query string) (int, list) {
		st, body := call(t, srv, "GET", "/v1/responses/resp_1/input_items"+query, "sk-a")
		var l list
		if st == 200 {
			if err := json.Unmarshal([]byte(body), &l); err != nil {
				t.Fatalf("%s: %v in %s", query, err, body)
			}
		}
		return st, l
	}
	ids := func(l list) string {
		var s []string
		for _, d := range l.Data {
			s = append(s, d.ID)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		query, want string
		more        bool
	}{
		{"", "fco_c,fc_b,msg_a", false},
		{"?order=asc", "msg_a,fc_b,fco_c", false},
		{"?order=asc&limit=2", "msg_a,fc_b", true},
		{"?order=asc&limit=2&after=fc_b", "fco_c", false},
		{"?limit=1&after=fco_c", "fc_b", true},
		{"?after=msg_a", "", false},
	}
	for _, tt := range tests {
		st, l := get(tt.query)
		if st != 200 || l.Object != "list" || ids(l) != tt.want || l.HasMore != tt.more {
			t.Fatalf("%q: %d %+v, want %s more=%v", tt.query, st, l, tt.want, tt.more)
		}
		if len(l.Data) > 0 && (*l.FirstID != l.Data[0].ID || *l.LastID != l.Data[len(l.Data)-1].ID) {
			t.Fatalf("%q: first/last %v %v", tt.query, *l.FirstID, *l.LastID)
		}
		if len(l.Data) == 0 && (l.FirstID != nil || l.LastID != nil) {
			t.Fatalf("%q: empty page with ids", tt.query)
		}
	}
	for _, bad := range []string{"?limit=0", "?limit=101", "?limit=x", "?order=up", "?after=nope"} {
		if st, _ := get(bad); st != 400 {
			t.Fatalf("%q: %d, want 400", bad, st)
		}
	}
}

func TestResponsesStateNoStore(t *testing.T) {
	srv, _ := stateServer(t, false)
	st, body := call(t, srv, "GET", "/v1/responses/resp_1", "sk-a")
	if st != 404 || !strings.Contains(body, "keeps no responses") {
		t.Fatalf("%d %s", st, body)
	}
}

// TestContinueAndSave follows two turns through the helpers the /v1/responses
// handler uses: save the first answer, continue from it, save the second.
func TestContinueAndSave(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := New(Options{Store: st})
	ctx := context.Background()
	first := []byte(`{"model":"m","input":"hi"}`)
	answer := []byte(`{"id":"resp_one","object":"response","output":[{"id":"msg_1","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"hello","annotations":[]}]}]}`)
	if err := g.saveResponse(ctx, "k1", "m", "mock", false, first, first, answer); err != nil {
		t.Fatal(err)
	}
	second := []byte(`{"model":"m","input":"again","previous_response_id":"resp_one"}`)
	full, local, _, aerr := g.continueResponse(ctx, "k1", second)
	if aerr != nil || !local {
		t.Fatalf("continue: %v local=%v", aerr, local)
	}
	if n := gjson.GetBytes(full, "input.#").Int(); n != 3 || gjson.GetBytes(full, "input.1.id").Str != "msg_1" {
		t.Fatalf("continued body %s", full)
	}
	// Another key's id and an unknown id are refused alike; no id is no continuation.
	var refusals []string
	for _, tc := range []struct{ key, body string }{
		{"k2", string(second)},
		{"k1", `{"model":"m","input":"x","previous_response_id":"resp_one_"}`},
	} {
		_, _, _, aerr := g.continueResponse(ctx, tc.key, []byte(tc.body))
		if aerr == nil || aerr.Code != "previous_response_not_found" {
			t.Fatalf("%s %s: %v", tc.key, tc.body, aerr)
		}
		refusals = append(refusals, strings.ReplaceAll(aerr.Message, "resp_one_", "resp_one"))
	}
	if refusals[0] != refusals[1] {
		t.Fatalf("another key's id and an unknown id are told apart:\n%s\n%s", refusals[0], refusals[1])
	}
	if out, local, _, aerr := g.continueResponse(ctx, "k1", []byte(`{"model":"m","input":"x"}`)); aerr != nil || local || string(out) != `{"model":"m","input":"x"}` {
		t.Fatalf("no previous_response_id: local=%v %v", local, aerr)
	}
	if err := g.saveResponse(ctx, "k1", "m", "openai", true, first, first, []byte(`{"id":"resp_native","output":[]}`)); err != nil {
		t.Fatal(err)
	}
	if _, local, holder, _ := g.continueResponse(ctx, "k1", []byte(`{"model":"m","previous_response_id":"resp_native"}`)); local || holder != "openai" {
		t.Fatalf("a natively held response: local=%v holder=%q", local, holder)
	}
	// store:false keeps nothing; the saved second turn holds the whole conversation.
	noStore := []byte(`{"model":"m","input":"x","store":false}`)
	if err := g.saveResponse(ctx, "k1", "m", "mock", false, noStore, noStore, []byte(`{"id":"resp_skip"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetResponse(ctx, "k1", "resp_skip"); err == nil {
		t.Fatal("store:false response was kept")
	}
	if err := g.saveResponse(ctx, "k1", "m", "mock", false, second, full, []byte(`{"id":"resp_two","output":[]}`)); err != nil {
		t.Fatal(err)
	}
	row, err := st.GetResponse(ctx, "k1", "resp_two")
	if err != nil || gjson.GetBytes(row.Input, "#").Int() != 3 {
		t.Fatalf("second turn stored %s, %v", row.Input, err)
	}
	if err := g.saveResponse(ctx, "k1", "m", "mock", false, first, first, []byte(`{}`)); err == nil {
		t.Fatal("saved a response without an id")
	}
}
