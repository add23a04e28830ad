package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"
)

func chatParams(model, msg string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(msg)}}
}

func TestSDKAgainstZeroConfigMock(t *testing.T) {
	g := startGateway(t, "[auth]\nenabled = false\n", nil)
	c := g.client()
	ctx := context.Background()

	res, err := c.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", "hello gateway"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].Message.Content != "You said: hello gateway" || res.Usage.CompletionTokens == 0 {
		t.Fatalf("answer %+v", res)
	}

	stream := c.Chat.Completions.NewStreaming(ctx, chatParams("anything-at-all", "stream me please"))
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != "You said: stream me please" || acc.Choices[0].FinishReason != "stop" || chunks < 5 {
		t.Fatalf("accumulated %+v over %d chunks", acc.Choices, chunks)
	}

	emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "mock-embedding",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("vector me")}, EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data[0].Embedding) != 1536 {
		t.Fatalf("base64 embedding decoded to %d dims", len(emb.Data[0].Embedding))
	}
	emb2, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "mock-embedding",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("vector me")}, EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
		Dimensions: openai.Int(64)})
	if err != nil || len(emb2.Data[0].Embedding) != 64 {
		t.Fatalf("float embedding: %v", err)
	}
	if float32(emb2.Data[0].Embedding[0]) == 0 {
		t.Fatal("zero vector")
	}
}

func TestSDKConformanceAgainstRecordedOpenAI(t *testing.T) {
	var upstream *testutil.Upstream
	nonstream := testutil.ReadHTTPRR(t, "openai", "chat-nonstream-text.httprr")[0]
	stream := testutil.ReadHTTPRR(t, "openai", "chat-stream-text-include-usage.httprr")[0]
	tools := testutil.ReadFile(t, "openai", "chat-stream-tool-call-1.sse")
	legacy := testutil.ReadFile(t, "openai", "completions-legacy.json")
	legacyStream := testutil.ReadFile(t, "openai", "completions-legacy-stream.chunks.txt")
	embeddings := testutil.ReadHTTPRR(t, "openai", "embeddings-float-dimensions.httprr")[0]
	upstream = testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		streaming := gjson.GetBytes(body, "stream").Bool()
		switch {
		case r.URL.Path == "/v1/embeddings":
			testutil.Replay(embeddings, 0)(w, r, body)
		case r.URL.Path == "/v1/completions" && streaming:
			w.Header().Set("Content-Type", "text/event-stream")
			var sse strings.Builder
			for _, line := range strings.Split(strings.TrimSpace(string(legacyStream)), "\n") {
				sse.WriteString("data: " + line + "\n\n")
			}
			sse.WriteString("data: [DONE]\n\n")
			testutil.WriteSSE(w, r, []byte(sse.String()), 0)
		case r.URL.Path == "/v1/completions":
			w.Header().Set("Content-Type", "application/json")
			w.Write(legacy)
		case gjson.GetBytes(body, "tools").Exists():
			w.Header().Set("Content-Type", "text/event-stream")
			testutil.WriteSSE(w, r, tools, 0)
		case streaming:
			testutil.Replay(stream, time.Millisecond)(w, r, body)
		default:
			testutil.Replay(nonstream, 0)(w, r, body)
		}
	})
	g := startGateway(t, upstreamConfig(upstream.URL, ""), nil)
	c := g.client()
	ctx := context.Background()

	t.Run("non-stream", func(t *testing.T) {
		res, err := c.Chat.Completions.New(ctx, chatParams("gpt-3.5-turbo", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		want := gjson.GetBytes(nonstream.Body, "choices.0.message.content").String()
		if res.Choices[0].Message.Content != want || res.ID != gjson.GetBytes(nonstream.Body, "id").String() {
			t.Fatalf("got %q", res.Choices[0].Message.Content)
		}
	})
	for _, withUsage := range []bool{false, true} {
		t.Run("stream include_usage="+map[bool]string{false: "off", true: "on"}[withUsage], func(t *testing.T) {
			p := chatParams("gpt-3.5-turbo", "Count from 1 to 5")
			if withUsage {
				p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			s := c.Chat.Completions.NewStreaming(ctx, p)
			acc := openai.ChatCompletionAccumulator{}
			sawUsage := false
			for s.Next() {
				ch := s.Current()
				acc.AddChunk(ch)
				if ch.Usage.TotalTokens > 0 {
					sawUsage = true
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if !gjson.GetBytes(upstream.Last(t).Body, "stream_options.include_usage").Bool() {
				t.Fatal("the upstream must always be asked for usage")
			}
			if sawUsage != withUsage {
				t.Fatalf("usage chunk seen=%v, client asked=%v", sawUsage, withUsage)
			}
			if !strings.Contains(acc.Choices[0].Message.Content, "1") || acc.Choices[0].FinishReason != "stop" {
				t.Fatalf("accumulated %+v", acc.Choices[0])
			}
		})
	}
	t.Run("tool call deltas", func(t *testing.T) {
		p := chatParams("gpt-4o-mini", "capital of the UK?")
		p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "get_capital"})}
		s := c.Chat.Completions.NewStreaming(ctx, p)
		acc := openai.ChatCompletionAccumulator{}
		for s.Next() {
			acc.AddChunk(s.Current())
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		calls := acc.Choices[0].Message.ToolCalls
		if len(calls) != 1 || calls[0].Function.Name != "get_capital" || !gjson.Valid(calls[0].Function.Arguments) ||
			gjson.Get(calls[0].Function.Arguments, "country").String() == "" || acc.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("tool calls %+v finish %q", calls, acc.Choices[0].FinishReason)
		}
	})
	t.Run("legacy completions", func(t *testing.T) {
		res, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: "gpt-3.5-turbo-instruct",
			Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Invent a holiday")}})
		if err != nil || !strings.Contains(res.Choices[0].Text, "Gratitude Day") || res.Choices[0].FinishReason != "length" {
			t.Fatalf("%v %+v", err, res)
		}
		s := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{Model: "gpt-3.5-turbo-instruct",
			Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Invent a holiday")}})
		var text strings.Builder
		for s.Next() {
			if ch := s.Current(); len(ch.Choices) > 0 {
				text.WriteString(ch.Choices[0].Text)
			}
		}
		if s.Err() != nil || !strings.HasPrefix(text.String(), "The holiday") {
			t.Fatalf("%v %q", s.Err(), text.String())
		}
	})
	t.Run("embeddings float and base64", func(t *testing.T) {
		want := gjson.GetBytes(embeddings.Body, "data.0.embedding.0").Float()
		for _, f := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
			res, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small", EncodingFormat: f,
				Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Data[0].Embedding[0]; float32(got) != float32(want) {
				t.Fatalf("%s: first value %v want %v", f, got, want)
			}
		}
	})
	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range page.Data {
			if m.ID == "gpt-4o-mini" && m.OwnedBy == "fake" {
				found = true
			}
		}
		if !found {
			t.Fatalf("models %+v", page.Data)
		}
		m, err := c.Models.Get(ctx, "gpt-3.5-turbo")
		if err != nil || m.ID != "gpt-3.5-turbo" {
			t.Fatalf("%v %+v", err, m)
		}
	})
	t.Run("typed errors", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("no-such-model", "hi"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Fatalf("404: %v", err)
		}
		bad := g.client(option.WithAPIKey("sk-wrong"))
		_, err = bad.Chat.Completions.New(ctx, chatParams("gpt-3.5-turbo", "hi"))
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
			t.Fatalf("401: %v", err)
		}
		_, err = c.Models.Get(ctx, "no-such-model")
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Fatalf("model get 404: %v", err)
		}
	})
}

func TestPassThroughFidelity(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-x","object":"chat.completion","created":1,"model":"gpt-4o-mini","x_new_field":{"nested":[1,"two"]},"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	})
	g := startGateway(t, upstreamConfig(u.URL, ""), nil)
	reqBody := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"x_vendor":{"a":[1,2,{"b":null}]},"temperature":0.25}`
	status, hdr, body := g.do("POST", "/v1/chat/completions", reqBody, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if got := string(u.Last(t).Body); got != reqBody {
		t.Fatalf("upstream got\n%s\nwant byte-for-byte\n%s", got, reqBody)
	}
	if gjson.GetBytes(body, "x_new_field").Raw != `{"nested":[1,"two"]}` {
		t.Fatalf("unknown response field lost: %s", body)
	}
	if hdr.Get("X-Runestone-Provider") != "fake" || hdr.Get("X-Request-Id") == "" || hdr.Get("X-Runestone-Overhead-Ms") == "" {
		t.Fatalf("headers %v", hdr)
	}
	if u.Last(t).Header.Get("Authorization") != "Bearer sk-upstream-secret-value" {
		t.Fatal("the client's key must be replaced by the provider's")
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	firstSent := make(chan struct{})
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n")
		w.(http.Flusher).Flush()
		close(firstSent)
		<-r.Context().Done() // a slow model: nothing more until the client leaves
	})
	g := startGateway(t, upstreamConfig(u.URL, ""), nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+g.Key)
	req.Header.Set("Content-Type", "application/json")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-firstSent
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-u.Last(t).Done:
	case <-time.After(3 * time.Second):
		t.Fatal("upstream request still running after the client disconnected")
	}
}
