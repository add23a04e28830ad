package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/tidwall/sjson"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newProvider(u *testutil.Upstream) *Provider {
	return New(Options{Name: "up", BaseURL: u.URL + "/v1", APIKey: "sk-upstream-secret", Timeout: 5 * time.Second,
		Transport: &http.Transport{}})
}

func drain(t *testing.T, s provider.Stream) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		b, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("stream error after %d chunks: %v", len(out), err)
		}
		out = append(out, bytes.Clone(b))
	}
}

func TestNonStreamPassesBodiesThroughExceptModel(t *testing.T) {
	ex := testutil.ReadHTTPRR(t, "openai", "chat-nonstream-text.httprr")[0]
	u := testutil.NewUpstream(t, testutil.Replay(ex, 0))
	p := newProvider(u)
	body := []byte(`{"model":"smart","messages":[{"role":"user","content":"hi"}],"x_vendor_field":{"keep":[1,2,3]}}`)
	resp, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "gpt-4o-mini", ClientModel: "smart", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	got := u.Last(t)
	if got.Path != "/v1/chat/completions" || got.Header.Get("Authorization") != "Bearer sk-upstream-secret" {
		t.Fatalf("path %q auth %q", got.Path, got.Header.Get("Authorization"))
	}
	if gjson.GetBytes(got.Body, "model").String() != "gpt-4o-mini" {
		t.Fatalf("upstream model not rewritten: %s", got.Body)
	}
	if gjson.GetBytes(got.Body, "x_vendor_field").Raw != `{"keep":[1,2,3]}` {
		t.Fatalf("unknown field did not pass through byte for byte: %s", got.Body)
	}
	if gjson.GetBytes(resp.Body, "model").String() != "smart" {
		t.Fatalf("client should see its own alias: %s", resp.Body)
	}
	// Everything but model is the upstream's bytes.
	want, _ := setModel(ex.Body, "smart")
	if !bytes.Equal(resp.Body, want) {
		t.Fatalf("body changed beyond model:\n%s\nwant\n%s", resp.Body, want)
	}
	if !resp.Usage.Reported || resp.Usage.PromptTokens == 0 {
		t.Fatalf("usage = %+v", resp.Usage)
	}
	if resp.Header.Get("X-Upstream-Request-Id") == "" || resp.Header.Get("X-Request-Id") != "" {
		t.Fatalf("forwarded headers = %v", resp.Header)
	}
}

func TestSameModelNameLeavesBodyUntouched(t *testing.T) {
	ex := testutil.ReadHTTPRR(t, "openai", "chat-nonstream-tool-call.httprr")[0]
	u := testutil.NewUpstream(t, testutil.Replay(ex, 0))
	body := []byte(`{"model":"gpt-4o", "messages":[{"role":"user","content":"hi"}]}`)
	resp, err := newProvider(u).Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "gpt-4o", ClientModel: "gpt-4o", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(u.Last(t).Body, body) || !bytes.Equal(resp.Body, ex.Body) {
		t.Fatal("bodies must pass through byte for byte when no rewrite is needed")
	}
}

func TestStreamForcesUsageAndStripsItWhenNotAsked(t *testing.T) {
	ex := testutil.ReadHTTPRR(t, "openai", "chat-stream-text-include-usage.httprr")[0]
	for _, asked := range []bool{false, true} {
		u := testutil.NewUpstream(t, testutil.Replay(ex, 0))
		body := []byte(`{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Count"}],"stream":true}`)
		if asked {
			body = []byte(`{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Count"}],"stream":true,"stream_options":{"include_usage":true}}`)
		}
		resp, err := newProvider(u).Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "gpt-3.5-turbo",
			ClientModel: "gpt-3.5-turbo", Body: body, Stream: true, IncludeUsage: asked})
		if err != nil {
			t.Fatal(err)
		}
		if !gjson.GetBytes(u.Last(t).Body, "stream_options.include_usage").Bool() {
			t.Fatalf("upstream did not see include_usage: %s", u.Last(t).Body)
		}
		chunks := drain(t, resp.Stream)
		resp.Stream.Close()
		var text strings.Builder
		usageChunks := 0
		for _, c := range chunks {
			if !gjson.ValidBytes(c) {
				t.Fatalf("invalid chunk %s", c)
			}
			text.WriteString(gjson.GetBytes(c, "choices.0.delta.content").String())
			if gjson.GetBytes(c, "usage").IsObject() {
				usageChunks++
			}
			if !asked && gjson.GetBytes(c, "usage").Exists() {
				t.Fatalf("usage key leaked to a client that did not ask: %s", c)
			}
			if !gjson.GetBytes(c, "obfuscation").Exists() {
				t.Fatalf("unknown field obfuscation was dropped: %s", c)
			}
		}
		if (usageChunks == 1) != asked {
			t.Fatalf("asked=%v usage chunks=%d", asked, usageChunks)
		}
		if !strings.Contains(text.String(), "1") || !resp.Stream.Usage().Reported || resp.Stream.Usage().CompletionTokens == 0 {
			t.Fatalf("text %q usage %+v", text.String(), resp.Stream.Usage())
		}
	}
}

func TestUpstreamErrorsAreClassified(t *testing.T) {
	tests := []struct {
		file       string
		status     int
		retryable  bool
		wantInMsg  string
		hideSecret bool
	}{
		{"error-404-model-not-found.yaml", 404, false, "", false},
		{"error-401-invalid-api-key.yml", 502, false, "credentials", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			status := 404
			body := `{"error":{"message":"The model ` + "`gpt-5.2-proo`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`
			if tt.status == 502 {
				status = 401
				body = `{"error":{"message":"Incorrect API key provided: sk-upstream-secret.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
			}
			u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, body)
			})
			_, err := newProvider(u).Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Model: "m", ClientModel: "m", Body: []byte(`{}`)})
			e := apierr.As(err)
			if e == nil || e.Status != tt.status || e.Retryable != tt.retryable {
				t.Fatalf("err = %#v", err)
			}
			if tt.status == 404 && (e.Code != "model_not_found" || !strings.Contains(e.Message, "gpt-5.2-proo")) {
				t.Fatalf("404 not passed through: %+v", e)
			}
			if tt.hideSecret && strings.Contains(e.Message, "sk-upstream-secret") {
				t.Fatal("upstream 401 body quoting the gateway's key reached the client")
			}
		})
	}
}

func TestRetryableStatusesAndConnectionErrors(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(529)
	})
	_, err := newProvider(u).Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Body: []byte(`{}`)})
	if e := apierr.As(err); e == nil || !e.Retryable || e.RetryAfter != 2*time.Second {
		t.Fatalf("529: %#v", err)
	}
	dead := New(Options{Name: "dead", BaseURL: "http://127.0.0.1:1/v1", Transport: &http.Transport{}})
	_, err = dead.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Body: []byte(`{}`)})
	if e := apierr.As(err); e == nil || !e.Retryable || e.Status != 502 {
		t.Fatalf("refused: %#v", err)
	}
}

func TestHTMLWith200IsABadUpstream(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		io.WriteString(w, "<html>maintenance</html>")
	})
	_, err := newProvider(u).Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Body: []byte(`{}`)})
	if e := apierr.As(err); e == nil || !e.Retryable || e.Code != "bad_upstream_response" {
		t.Fatalf("err = %#v", err)
	}
}

func TestTruncatedStreamAndMidStreamError(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n")
		if strings.Contains(r.URL.RawQuery, "") && r.Header.Get("X-Kind") == "error" {
			io.WriteString(w, "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n")
		}
	})
	p := newProvider(u)
	for _, kind := range []string{"cut", "error"} {
		p.header.Set("X-Kind", kind)
		resp, err := p.Do(context.Background(), &provider.Call{Endpoint: provider.Chat, Body: []byte(`{}`), Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := resp.Stream.Next(); err != nil {
			t.Fatal(err)
		}
		_, err = resp.Stream.Next()
		e := apierr.As(err)
		if e == nil || (kind == "error" && e.Message != "boom") || (kind == "cut" && !strings.Contains(e.Message, "[DONE]")) {
			t.Fatalf("%s: err = %v", kind, err)
		}
		resp.Stream.Close()
	}
}

func TestCancelAbortsUpstream(t *testing.T) {
	started := make(chan struct{})
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[]}\n\n")
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := newProvider(u).Do(ctx, &provider.Call{Endpoint: provider.Chat, Body: []byte(`{}`), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := resp.Stream.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := resp.Stream.Next(); err == nil {
		t.Fatal("stream kept going after cancel")
	}
	resp.Stream.Close()
	select {
	case <-u.Last(t).Done:
	case <-time.After(2 * time.Second):
		t.Fatal("upstream request context did not end after the client cancelled")
	}
}

func TestEmbeddingsFloatsBecomeBase64WhenAsked(t *testing.T) {
	ex := testutil.ReadHTTPRR(t, "openai", "embeddings-float-dimensions.httprr")[0]
	u := testutil.NewUpstream(t, testutil.Replay(ex, 0))
	resp, err := newProvider(u).Do(context.Background(), &provider.Call{Endpoint: provider.Embeddings, Model: "e", ClientModel: "e",
		Body: []byte(`{"model":"e","input":"hi","encoding_format":"base64"}`)})
	if err != nil {
		t.Fatal(err)
	}
	emb := gjson.GetBytes(resp.Body, "data.0.embedding")
	if emb.Type != gjson.String {
		t.Fatalf("embedding not base64: %.200s", emb.Raw)
	}
	floats := gjson.GetBytes(ex.Body, "data.0.embedding").Array()
	if emb.String() != EncodeFloats(floats) {
		t.Fatal("base64 does not encode the upstream floats")
	}
}

func setModel(b []byte, m string) ([]byte, error) {
	i := bytes.Index(b, []byte(`"model": "`))
	if i < 0 {
		return nil, errors.New("no model")
	}
	j := bytes.IndexByte(b[i+10:], '"')
	return append(append(append([]byte{}, b[:i+10]...), m...), b[i+10+j:]...), nil
}

var _ = os.Getenv

// BenchmarkUpstreamBody is the per-request body work of the pass-through: rewrite
// model and force stream_options.include_usage, without a full unmarshal.
func BenchmarkUpstreamBody(b *testing.B) {
	p := New(Options{Name: "b", BaseURL: "http://127.0.0.1:1/v1", Transport: &http.Transport{}})
	call := &provider.Call{Endpoint: provider.Chat, Model: "gpt-4o-mini-2024-07-18", ClientModel: "smart", Stream: true,
		Body: []byte(`{"model":"smart","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello there, how are you today?"}],"temperature":0.2}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.upstreamBody(call); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamNext relays pass-through chunks (usage chunk kept for accounting).
func BenchmarkStreamNext(b *testing.B) {
	benchStreamNext(b, &provider.Call{Model: "m", ClientModel: "m", Stream: true})
}

// TestStreamModelRewrite: the reused-buffer rename writes exactly what
// sjson.SetBytes writes, for awkward names and chunk shapes too.
func TestStreamModelRewrite(t *testing.T) {
	chunks := []string{
		`{"id":"c","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hi"}}]}`,
		`{"id":"c", "model" : "gpt-4o-mini" ,"choices":[]}`,
		`{"id":"c","choices":[{"delta":{"model":"inner"}}],"model":"x"}`,
		`{"id":"c","choices":[]}`,
		`{"model":null}`,
	}
	for _, name := range []string{"fast", `we"ird\name`, "ünï<&>code", "tab\tname"} {
		s := &stream{call: &provider.Call{Model: "gpt-4o-mini", ClientModel: name}}
		for _, c := range chunks {
			want, err := sjson.SetBytes([]byte(c), "model", name)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.rewriteModel([]byte(c)); string(got) != string(want) {
				t.Errorf("%q in %s:\n got %s\nwant %s", name, c, got, want)
			}
		}
	}
}

// BenchmarkStreamNextAlias: the client named an alias, so every chunk's model is
// rewritten to the name the client sent.
func BenchmarkStreamNextAlias(b *testing.B) {
	benchStreamNext(b, &provider.Call{Model: "gpt-4o-mini", ClientModel: "fast", Stream: true})
}

func benchStreamNext(b *testing.B, call *provider.Call) {
	chunk := "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
	body := []byte(strings.Repeat(chunk, 1000))
	b.ReportAllocs()
	s := newStream("b", call, io.NopCloser(bytes.NewReader(body)), nil)
	for b.Loop() {
		if _, err := s.Next(); err != nil {
			s = newStream("b", call, io.NopCloser(bytes.NewReader(body)), nil)
		}
	}
}

// FuzzScanChunk: the one-pass scan sees every top-level error, and the usage:null
// it strips leaves valid JSON.
func FuzzScanChunk(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","choices":[{"index":0,"delta":{"content":"a: b"}}],"usage":null,"obfuscation":"x"}`,
		`{"error" : {"message":"boom"}}`, `{"type":"usage","usage" :{"prompt_tokens":1}}`,
		`{"choices":[],"usage":{"total_tokens":3}}`, `{"a":"\"usage\":null","usage":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		k := scanChunk(b)
		if gjson.GetBytes(b, "error").Exists() && !k.error {
			t.Fatalf("missed the error key of %s", b)
		}
		if gjson.GetBytes(b, "usage").IsObject() && !k.usageObject && bytes.Count(b, []byte(`"usage"`)) == 1 {
			t.Fatalf("missed the usage object of %s", b)
		}
		if k.usageNull >= 0 {
			if out := append(append([]byte{}, b[:k.usageNull]...), b[k.usageNull+len(usageNull):]...); !json.Valid(out) {
				t.Fatalf("stripping usage:null from %s left %s", b, out)
			}
		}
	})
}
