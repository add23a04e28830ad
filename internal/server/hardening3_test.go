package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

const (
	keyA = "sk-test-key-a-0123456789abcdef"
	keyB = "sk-test-key-b-0123456789abcdef"
)

// statefulUpstream is a Responses provider that keeps state as OpenAI does: every
// answer gets a fresh id, and DELETE /v1/responses/{id} is recorded.
type statefulUpstream struct {
	*testutil.Upstream
	n       atomic.Int32
	mu      sync.Mutex
	posts   []string // previous_response_id of each POST ("" for none)
	deletes []string
	failDel atomic.Bool
}

func newStatefulUpstream(t *testing.T) *statefulUpstream {
	s := &statefulUpstream{}
	s.Upstream = testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Method == http.MethodDelete {
			if s.failDel.Load() {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"error":{"message":"try later","type":"server_error"}}`))
				return
			}
			id := strings.TrimPrefix(r.URL.Path, "/v1/responses/")
			s.deletes = append(s.deletes, id)
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"id":%q,"object":"response","deleted":true}`, id)
			return
		}
		s.posts = append(s.posts, gjson.GetBytes(body, "previous_response_id").Str)
		id := fmt.Sprintf("resp_up%04d", s.n.Add(1))
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":%q,"object":"response","status":"completed","model":"gpt-4o-mini","output":[{"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"ok","annotations":[]}]}],"usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2}}`, id)
	})
	return s
}

func (s *statefulUpstream) counts() (posts, deletes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.posts), len(s.deletes)
}

// TestConversationsBelongToTheirKey: key B continuing key A's natively relayed
// response used to get 200, answered from A's conversation (the provider keeps every
// key's state under the gateway's one upstream key). Now an id this gateway did not
// issue for the caller's key is refused before any upstream call, with the same
// answer as an id nobody ever made.
func TestConversationsBelongToTheirKey(t *testing.T) {
	up := newStatefulUpstream(t)
	g := startGateway(t, `
[auth]
keys = ["`+keyA+`", "`+keyB+`"]

[[providers]]
name = "openai"
kind = "openai"
base_url = "`+up.URL+`/v1"
api_key = "sk-upstream-secret-value"
models = ["gpt-4o-mini"]
apis = ["chat", "responses"]
`, nil)
	as := func(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }
	status, _, body := g.do("POST", "/v1/responses", `{"model":"gpt-4o-mini","input":"secret of A"}`, as(keyA))
	id := gjson.GetBytes(body, "id").Str
	if status != 200 || id == "" {
		t.Fatalf("A's first turn: %d %s", status, body)
	}
	// At once (the gateway's copy still queued with the log row): A continues, B cannot.
	next := func(prev string) string {
		return `{"model":"gpt-4o-mini","input":"and then?","previous_response_id":"` + prev + `"}`
	}
	if status, _, body := g.do("POST", "/v1/responses", next(id), as(keyA)); status != 200 {
		t.Fatalf("A continues its own response: %d %s", status, body)
	}
	posts, _ := up.counts()
	bStatus, _, bBody := g.do("POST", "/v1/responses", next(id), as(keyB))
	uStatus, _, uBody := g.do("POST", "/v1/responses", next("resp_up9999"), as(keyB))
	if bStatus == 200 || gjson.GetBytes(bBody, "error.code").Str != "previous_response_not_found" {
		t.Fatalf("B continues A's response: %d %s", bStatus, bBody)
	}
	if bStatus != uStatus || strings.ReplaceAll(string(bBody), id, "ID") != strings.ReplaceAll(string(uBody), "resp_up9999", "ID") {
		t.Fatalf("another key's id and an unknown id are told apart:\n%d %s\n%d %s", bStatus, bBody, uStatus, uBody)
	}
	if p, _ := up.counts(); p != posts {
		t.Fatalf("a refused continuation reached the provider (%d calls, want %d)", p, posts)
	}
	// B cannot read or delete it either, and nothing reaches the provider.
	for _, m := range []string{"GET", "DELETE"} {
		if status, _, body := g.do(m, "/v1/responses/"+id, "", as(keyB)); status != 404 {
			t.Fatalf("B %s A's response: %d %s", m, status, body)
		}
	}
	if _, d := up.counts(); d != 0 {
		t.Fatalf("B's DELETE reached the provider")
	}

	// Deleted means deleted: the provider's copy first (a failure there changes
	// nothing), then ours, and a continuation is refused from then on.
	up.failDel.Store(true)
	if status, _, body := g.do("DELETE", "/v1/responses/"+id, "", as(keyA)); status < 500 {
		t.Fatalf("DELETE with the provider failing: %d %s", status, body)
	}
	if status, _, body := g.do("POST", "/v1/responses", next(id), as(keyA)); status != 200 {
		t.Fatalf("continuation after a failed DELETE: %d %s", status, body)
	}
	up.failDel.Store(false)
	status, _, body = g.do("DELETE", "/v1/responses/"+id, "", as(keyA))
	if status != 200 || !gjson.GetBytes(body, "deleted").Bool() {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	up.mu.Lock()
	deletes := append([]string(nil), up.deletes...)
	up.mu.Unlock()
	if len(deletes) != 1 || deletes[0] != id {
		t.Fatalf("upstream deletes %v, want [%s]", deletes, id)
	}
	posts, _ = up.counts()
	status, _, body = g.do("POST", "/v1/responses", next(id), as(keyA))
	if status == 200 || gjson.GetBytes(body, "error.code").Str != "previous_response_not_found" {
		t.Fatalf("continuing a deleted native response: %d %s", status, body)
	}
	if p, _ := up.counts(); p != posts {
		t.Fatalf("a continuation of a deleted response reached the provider")
	}
	for _, m := range []string{"GET", "DELETE"} {
		if status, _, _ := g.do(m, "/v1/responses/"+id, "", as(keyA)); status != 404 {
			t.Fatalf("%s after DELETE: %d", m, status)
		}
	}
	// Once the log rows are in (the late copy of the deleted answer among them), it
	// stays deleted.
	g.rows(t, 6)
	if status, _, _ := g.do("POST", "/v1/responses", next(id), as(keyA)); status == 200 {
		t.Fatalf("the deleted response came back with its log row")
	}
}

// TestDeletedTranslatedResponseStaysDeleted: the same for a response the gateway
// translated (the mock), which it keeps itself.
func TestDeletedTranslatedResponseStaysDeleted(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	status, _, body := g.do("POST", "/v1/responses", `{"model":"mock","input":"hi"}`, nil)
	id := gjson.GetBytes(body, "id").Str
	if status != 200 || id == "" {
		t.Fatalf("%d %s", status, body)
	}
	next := `{"model":"mock","input":"more","previous_response_id":"` + id + `"}`
	if status, _, body := g.do("POST", "/v1/responses", next, nil); status != 200 {
		t.Fatalf("continue: %d %s", status, body)
	}
	if status, _, body := g.do("DELETE", "/v1/responses/"+id, "", nil); status != 200 {
		t.Fatalf("delete: %d %s", status, body)
	}
	status, _, body = g.do("POST", "/v1/responses", next, nil)
	if status == 200 || gjson.GetBytes(body, "error.code").Str != "previous_response_not_found" {
		t.Fatalf("continuing a deleted response: %d %s", status, body)
	}
}

// TestCountTokensObeysTheKey: a key limited to rpm 2, concurrent 1 used to get every
// parallel count_tokens answered. Counting now takes a slot like every /v1 request.
func TestCountTokensObeysTheKey(t *testing.T) {
	release := make(chan struct{})
	var counting atomic.Int32
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if counting.Add(1) == 1 {
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"input_tokens":5}`))
	})
	g := startGateway(t, fmt.Sprintf(claudeProvider, u.URL)+"[limits]\nrpm = 2\nconcurrent = 1\nqueue = 0\n", nil)
	g.Key = "sk-test-static-key-0123456789abcdef"
	count := `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`
	first := make(chan int, 1)
	go func() {
		status, _, _ := g.do("POST", "/v1/messages/count_tokens", count, nil)
		first <- status
	}()
	waitFor(t, func() bool { return counting.Load() == 1 })
	status, _, body := g.do("POST", "/v1/messages/count_tokens", count, nil)
	close(release)
	if status != 429 || gjson.GetBytes(body, "type").Str != "error" {
		t.Fatalf("a second count while one is in flight (concurrent 1): %d %s", status, body)
	}
	if s := <-first; s != 200 {
		t.Fatalf("first count: %d", s)
	}
	if status, _, body := g.do("POST", "/v1/responses/input_tokens", `{"model":"claude-sonnet-4-5","input":"hi"}`, nil); status != 200 {
		t.Fatalf("second admitted count: %d %s", status, body)
	}
	if status, _, body := g.do("POST", "/v1/messages/count_tokens", count, nil); status != 429 {
		t.Fatalf("third count within the minute (rpm 2): %d %s", status, body)
	}
	if n := counting.Load(); n != 1 {
		t.Fatalf("the provider counted %d times, want 1 (the estimate answered the other)", n)
	}
}

// TestWebSocketRefusalLeavesARow: the 426 for a WebSocket upgrade used to leave no
// trace, unlike every other early refusal.
func TestWebSocketRefusalLeavesARow(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	status, hdr, body := send(t, g, "GET", "/v1/responses", "", "", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
	if status != http.StatusUpgradeRequired {
		t.Fatalf("%d %s", status, body)
	}
	if row := waitRow(t, g, hdr.Get("X-Request-Id")); row.Status != http.StatusUpgradeRequired || row.Endpoint != "/v1/responses" {
		t.Fatalf("row %+v", row)
	}
}

// TestHostPortIsValidated: Host: localhost:PORT.evil.example used to pass as localhost.
func TestHostPortIsValidated(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	port := g.URL[strings.LastIndex(g.URL, ":")+1:]
	for host, want := range map[string]int{
		"localhost:" + port + ".evil.example": 403, "127.0.0.1:" + port + "evil": 403, "localhost:99999": 403,
		"localhost:" + port: 200, "127.0.0.1:" + port: 200,
	} {
		if status, _, body := send(t, g, "GET", "/v1/models", host, "", nil); status != want {
			t.Errorf("Host %q: %d, want %d: %.200s", host, status, want, body)
		}
	}
}

// TestBudgetOvershootIsBoundedByWhatIsInFlight measures what the docs say: a budget
// is checked at admission and spend is booked when an answer finishes, so requests
// already in flight when the budget runs out all complete. Eight parallel requests of
// $6 each against a $10 budget spend $48; the next request is refused. The overshoot
// is bounded by the key's concurrency (limit it to bound the overshoot).
func TestBudgetOvershootIsBoundedByWhatIsInFlight(t *testing.T) {
	const parallel = 8
	var arrived atomic.Int32
	all := make(chan struct{})
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if arrived.Add(1) == parallel {
			close(all)
		}
		select { // every request is in flight before any answer is booked
		case <-all:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000000,"completion_tokens":0,"total_tokens":1000000}}`))
	})
	g := startGateway(t, `
[pricing."m"]
input = 6.0
output = 0.0
[[providers]]
name = "fake"
kind = "openai"
base_url = "`+u.URL+`/v1"
api_key = "sk-upstream"
models = ["m"]
`, nil)
	budget := 10.0
	_, secret, err := openStore(t, g.Home).CreateKey(t.Context(), store.NewKey{Name: "ten", BudgetUSD: &budget})
	if err != nil {
		t.Fatal(err)
	}
	g.Key = secret
	waitFor(t, func() bool {
		s, _, _ := g.do("GET", "/v1/models", "", nil)
		return s == 200
	})
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, _, _ := g.do("POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil); s == 200 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	spent := 0.0
	for _, r := range g.rows(t, parallel) {
		if r.CostUSD != nil {
			spent += *r.CostUSD
		}
	}
	t.Logf("%d parallel requests of $6 against a $10 budget: %d answered, $%.0f spent (overshoot $%.0f)", parallel, ok.Load(), spent, spent-budget)
	if spent > parallel*6 {
		t.Fatalf("spent $%.2f, more than the requests in flight could cost", spent)
	}
	if s, _, body := g.do("POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil); s != 429 {
		t.Fatalf("after the budget ran out: %d %s", s, body)
	}
}
