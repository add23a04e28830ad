package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/provider/mock"
	"github.com/jmanhype/runestone/internal/resilience"
	"github.com/jmanhype/runestone/internal/router"
)

const modelsKey = "sk-rs-models-test-key"

// modelsServer serves a gateway with n listed models (m00, m01, …) behind one key.
func modelsServer(t *testing.T, n int) *httptest.Server {
	t.Helper()
	var names []string
	for i := range n {
		names = append(names, "m"+strconv.Itoa(i/10)+strconv.Itoa(i%10))
	}
	ps := []provider.Provider{mock.New(mock.Options{Name: "mock", Models: names})}
	a, err := auth.New(context.Background(), auth.Options{StaticKeys: []string{modelsKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	g := New(Options{Router: router.New(ps, nil), Executor: resilience.New(resilience.Options{}, ps),
		AuthEnabled: true, Auth: a})
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, h map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return resp.StatusCode, resp.Header, m
}

func TestModelsShapes(t *testing.T) {
	srv := modelsServer(t, 3)
	bearer := map[string]string{"Authorization": "Bearer " + modelsKey}
	anth := map[string]string{"Authorization": "Bearer " + modelsKey, "anthropic-version": "2023-06-01"}

	// OpenAI's shape without anthropic-version: unchanged.
	st, _, m := get(t, srv.URL+"/v1/models", bearer)
	if st != 200 || m["object"] != "list" || len(m["data"].([]any)) != 3 || m["has_more"] != nil {
		t.Fatalf("openai list %d %v", st, m)
	}
	if d := m["data"].([]any)[0].(map[string]any); d["object"] != "model" || d["owned_by"] != "mock" || d["type"] != nil {
		t.Fatalf("openai item %v", d)
	}

	// Anthropic's shape.
	st, _, m = get(t, srv.URL+"/v1/models", anth)
	data := m["data"].([]any)
	if st != 200 || m["has_more"] != false || m["first_id"] != "m00" || m["last_id"] != "m02" || len(data) != 3 || m["object"] != nil {
		t.Fatalf("anthropic list %d %v", st, m)
	}
	d := data[0].(map[string]any)
	if d["type"] != "model" || d["id"] != "m00" || d["display_name"] != "m00" || d["object"] != nil {
		t.Fatalf("anthropic item %v", d)
	}
	if _, err := time.Parse(time.RFC3339, d["created_at"].(string)); err != nil {
		t.Fatalf("created_at %v: %v", d["created_at"], err)
	}

	st, _, m = get(t, srv.URL+"/v1/models/m01", anth)
	if st != 200 || m["type"] != "model" || m["id"] != "m01" || m["created_at"] == nil {
		t.Fatalf("anthropic get %d %v", st, m)
	}
	st, _, m = get(t, srv.URL+"/v1/models/m01", bearer)
	if st != 200 || m["object"] != "model" || m["type"] != nil {
		t.Fatalf("openai get %d %v", st, m)
	}

	// 404 and 401 in each dialect's envelope.
	st, h, m := get(t, srv.URL+"/v1/models/nope", anth)
	e, _ := m["error"].(map[string]any)
	if st != 404 || m["type"] != "error" || e["type"] != "not_found_error" || !strings.Contains(e["message"].(string), "nope") ||
		m["request_id"] == "" || m["request_id"] != h.Get("X-Request-Id") {
		t.Fatalf("anthropic 404 %d %v", st, m)
	}
	st, _, m = get(t, srv.URL+"/v1/models/nope", bearer)
	if e, _ := m["error"].(map[string]any); st != 404 || m["type"] != nil || e["code"] != "model_not_found" {
		t.Fatalf("openai 404 %d %v", st, m)
	}
	st, _, m = get(t, srv.URL+"/v1/models", map[string]string{"anthropic-version": "2023-06-01", "Authorization": "Bearer wrong"})
	if e, _ := m["error"].(map[string]any); st != 401 || m["type"] != "error" || e["type"] != "authentication_error" {
		t.Fatalf("anthropic 401 %d %v", st, m)
	}
	st, _, m = get(t, srv.URL+"/v1/models?limit=0", anth)
	if e, _ := m["error"].(map[string]any); st != 400 || e["type"] != "invalid_request_error" {
		t.Fatalf("anthropic bad limit %d %v", st, m)
	}
}

func TestModelsAnthropicPaging(t *testing.T) {
	srv := modelsServer(t, 25)
	anth := map[string]string{"Authorization": "Bearer " + modelsKey, "anthropic-version": "2023-06-01"}
	ids := func(m map[string]any) string {
		var out []string
		for _, d := range m["data"].([]any) {
			out = append(out, d.(map[string]any)["id"].(string))
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		query, ids   string
		more         bool
		first, last  any
		wantDataSize int
	}{
		{"", "", true, "m00", "m19", 20}, // default limit 20
		{"?limit=3", "m00,m01,m02", true, "m00", "m02", 3},
		{"?limit=3&after_id=m02", "m03,m04,m05", true, "m03", "m05", 3},
		{"?after_id=m22", "m23,m24", false, "m23", "m24", 2},
		{"?limit=2&before_id=m05", "m03,m04", true, "m03", "m04", 2},
		{"?before_id=m02", "m00,m01", false, "m00", "m01", 2},
		{"?after_id=m24", "", false, nil, nil, 0},
		{"?after_id=zzz", "", false, nil, nil, 0},
	}
	for _, c := range cases {
		st, _, m := get(t, srv.URL+"/v1/models"+c.query, anth)
		if st != 200 || m["has_more"] != c.more || m["first_id"] != c.first || m["last_id"] != c.last ||
			len(m["data"].([]any)) != c.wantDataSize || (c.ids != "" && ids(m) != c.ids) {
			t.Errorf("%q: %d %v", c.query, st, m)
		}
	}
}

// TestModelsAnthropicSDK drives the endpoints with the official Go SDK.
func TestModelsAnthropicSDK(t *testing.T) {
	srv := modelsServer(t, 25)
	client := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey(modelsKey),
		// Until x-api-key is accepted on every path, the key also goes as a bearer token.
		option.WithHeader("Authorization", "Bearer "+modelsKey), option.WithMaxRetries(0))
	ctx := context.Background()

	page, err := client.Models.List(ctx, anthropic.ModelListParams{Limit: anthropic.Int(10)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 10 || !page.HasMore || page.FirstID != "m00" || page.LastID != "m09" ||
		page.Data[0].DisplayName != "m00" || page.Data[0].CreatedAt.IsZero() {
		t.Fatalf("page %+v", page)
	}
	var all []string
	iter := client.Models.ListAutoPaging(ctx, anthropic.ModelListParams{Limit: anthropic.Int(7)})
	for iter.Next() {
		all = append(all, iter.Current().ID)
	}
	if err := iter.Err(); err != nil || len(all) != 25 || all[24] != "m24" {
		t.Fatalf("auto paging: %v %v", err, all)
	}

	info, err := client.Models.Get(ctx, "m03", anthropic.ModelGetParams{})
	if err != nil || info.ID != "m03" || string(info.Type) != "model" || info.CreatedAt.IsZero() {
		t.Fatalf("get: %v %+v", err, info)
	}
	_, err = client.Models.Get(ctx, "claude-nope", anthropic.ModelGetParams{})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.RawJSON(), `"not_found_error"`) {
		t.Fatalf("404: %v", err)
	}
}
