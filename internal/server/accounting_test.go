package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/tidwall/gjson"
)

// openStore opens the gateway's database from the test (as the CLI would).
func openStore(t *testing.T, home string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(home, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestEveryRequestGetsExactlyOneLogRow(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n[limits]\nrpm = 0\nrph = 0\nconcurrent = 0\n[router]\nretries = 0\n"+
		"[breaker]\nfailure_threshold = 100000\n", nil)
	const workers, perWorker = 32, 63 // 2,016 requests
	var mu sync.Mutex
	ids := map[string]int{}
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				stream := (w+i)%2 == 0
				body := fmt.Sprintf(`{"model":"mock","stream":%v,"messages":[{"role":"user","content":"req %d %d"}]}`, stream, w, i)
				req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				switch i % 10 {
				case 3:
					req.Header.Set("x-mock-status", "500")
				case 7:
					req.Header.Set("x-mock-cut-after", "1")
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				ids[resp.Header.Get("X-Request-Id")]++
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Srv.Shutdown(ctx); err != nil { // flushes the log
		t.Fatal(err)
	}
	st := openStore(t, g.Home)
	rows, err := st.ListRequests(context.Background(), store.RequestFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != workers*perWorker || len(ids) != workers*perWorker {
		t.Fatalf("%d rows, %d distinct ids, want %d", len(rows), len(ids), workers*perWorker)
	}
	statuses := map[int]int{}
	for _, r := range rows {
		if ids[r.ID] != 1 {
			t.Fatalf("row %s does not match exactly one request", r.ID)
		}
		statuses[r.Status]++
		if r.Status == 200 && r.Stream && r.TTFTMS == nil {
			t.Fatalf("stream row without ttft: %+v", r)
		}
	}
	if statuses[200] == 0 || statuses[502] == 0 {
		t.Fatalf("expected successes and upstream failures, got %v", statuses)
	}
}

func TestBudgetSecretsAndMetrics(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.Header.Get("X-Fail") == "" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000000,"completion_tokens":0,"total_tokens":1000000}}`)
		}
	})
	const providerKey = "sk-test-PLANTEDPROVIDERKEY0123456789abcdefXYZ"
	cfg := `
[auth]
admin_key = "admin-PLANTEDADMINKEY-0123456789"
[pricing."m"]
input = 1.0
output = 2.0
[[providers]]
name = "fake"
kind = "openai"
base_url = "` + u.URL + `/v1"
api_key = "${PLANTED}"
models = ["m"]
`
	g := startGateway(t, cfg, map[string]string{"PLANTED": providerKey})
	st := openStore(t, g.Home)
	budget := 1.5
	_, secret, err := st.CreateKey(context.Background(), store.NewKey{Name: "budgeted", BudgetUSD: &budget})
	if err != nil {
		t.Fatal(err)
	}
	g.Key = secret
	time.Sleep(1100 * time.Millisecond) // the gateway picks up new keys within a second
	// Each answer costs $1.00: the first two get through (spend 0 then 1 < 1.5), the third is refused.
	for i, want := range []int{200, 200, 429} {
		status, _, body := g.do("POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil)
		if status != want {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
		if status == 429 && gjson.GetBytes(body, "error.code").String() != "insufficient_quota" {
			t.Fatalf("want insufficient_quota: %s", body)
		}
	}
	// Metrics parse and count what happened.
	status, _, body := g.do("GET", "/metrics", "", map[string]string{"Authorization": "Bearer admin-PLANTEDADMINKEY-0123456789"})
	if status != 200 {
		t.Fatalf("metrics %d", status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	var ok2xx float64
	for _, m := range fams["runestone_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "status_class" && l.GetValue() == "2xx" {
				ok2xx += m.GetCounter().GetValue()
			}
		}
	}
	if ok2xx != 2 {
		t.Fatalf("runestone_requests_total{2xx} = %v, want 2", ok2xx)
	}
	// No planted secret anywhere we write or serve.
	_, _, state := g.do("GET", "/admin/state", "", nil)
	_, _, cfgOut := g.do("GET", "/health/metrics", "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Srv.Shutdown(ctx)
	var files bytes.Buffer
	filepath.Walk(g.Home, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Name() != "config.toml" { // the user's own file
			b, _ := os.ReadFile(p)
			files.Write(b)
		}
		return nil
	})
	for _, secret := range []string{providerKey, secret, "PLANTEDADMINKEY"} {
		for name, hay := range map[string][]byte{"database files": files.Bytes(), "/metrics": body, "/admin/state": state, "/health/metrics": cfgOut} {
			if bytes.Contains(hay, []byte(secret)) {
				t.Errorf("%s contains a planted secret %q", name, secret[:12])
			}
		}
	}
}
