package cassette_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/jmanhype/runestone/internal/cassette"
)

// fakeUpstream answers a weather tool loop: a user question gets a get_weather call,
// a tool result gets the final text; stream:true streams the same answer in chunks.
func fakeUpstream(t *testing.T, calls *atomic.Int32) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Stream   bool `json:"stream"`
			Messages []struct {
				Role string `json:"role"`
			} `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		last := req.Messages[len(req.Messages)-1].Role
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Set-Cookie", "session=abc")
			if last == "tool" {
				fmt.Fprint(w, `{"id":"c2","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Sunny in Paris."},"finish_reason":"stop"}]}`)
				return
			}
			fmt.Fprint(w, "{\n  \"id\": \"c1\", \"object\": \"chat.completion\", \"created\": 1, \"model\": \"gpt-4o-mini\",\n  \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"call_1\", \"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\":\\\"Paris\\\"}\"}}]}, \"finish_reason\": \"tool_calls\"}]\n}\n")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, piece := range []string{"Sunny", " in", " Paris."} {
			fmt.Fprintf(w, "data: {\"id\":\"s\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", piece)
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		fmt.Fprint(w, "data: {\"id\":\"s\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
}

// miniGateway is the shape of the gateway's integration: replay first, a strict miss
// answered with cassette_miss, otherwise the live upstream, recorded.
func miniGateway(rec *cassette.Recorder, rp *cassette.Replayer, upstream string, hits *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		if rp != nil {
			c, miss := rp.Match(r.URL.Path, r.Header, body)
			if c != nil {
				c.CopyHeader(w.Header())
				w.WriteHeader(c.Status)
				if !c.Stream {
					_, _ = w.Write(c.Body)
					return
				}
				_ = c.Play(r.Context(), func(f []byte) bool {
					_, err := w.Write(f)
					w.(http.Flusher).Flush()
					return err == nil
				})
				return
			}
			if rp.Strict() {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("x-should-retry", "false")
				w.WriteHeader(http.StatusBadRequest)
				msg, _ := json.Marshal(miss.Error())
				fmt.Fprintf(w, `{"error":{"message":%s,"type":"invalid_request_error","code":"cassette_miss"}}`, msg)
				return
			}
		}
		take := rec.Begin(r.URL.Path, r.Method, r.Header, body)
		resp, err := http.Post(upstream+strings.TrimPrefix(r.URL.Path, "/v1"), "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		take.Header(resp.StatusCode, resp.Header)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			b, _ := io.ReadAll(resp.Body)
			_, _ = w.Write(b)
			take.Body(b)
		} else {
			br := bufio.NewReader(resp.Body)
			var frame []byte
			for {
				line, err := br.ReadBytes('\n')
				frame = append(frame, line...)
				if string(line) == "\n" {
					_, _ = w.Write(frame)
					w.(http.Flusher).Flush()
					take.Frame(frame)
					frame = nil
				}
				if err != nil {
					break
				}
			}
		}
		_ = take.End()
	})
}

func weatherLoop(ctx context.Context, c openai.Client, question string) (string, error) {
	p := openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)},
		Tools:    []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "get_weather"})},
		User:     openai.String(fmt.Sprintf("run-%p", &question)), // volatile: differs every run
	}
	first, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		return "", err
	}
	tc := first.Choices[0].Message.ToolCalls
	if len(tc) != 1 || tc[0].Function.Name != "get_weather" {
		return "", fmt.Errorf("no tool call: %+v", first.Choices[0].Message)
	}
	p.Messages = append(p.Messages, first.Choices[0].Message.ToParam(), openai.ToolMessage(`{"sky":"clear"}`, tc[0].ID))
	second, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		return "", err
	}
	s := c.Chat.Completions.NewStreaming(ctx, p)
	var streamed strings.Builder
	for s.Next() {
		if ch := s.Current(); len(ch.Choices) > 0 {
			streamed.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return second.Choices[0].Message.Content + " | " + streamed.String(), nil
}

// TestSDKToolLoopRecordThenReplay runs openai-go's tool loop through the mini gateway
// against the fake upstream while recording, then offline from the cassettes, then
// with a changed prompt under strict replay.
func TestSDKToolLoopRecordThenReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var upCalls, hits atomic.Int32
	up := fakeUpstream(t, &upCalls)
	rec, err := cassette.NewRecorder(dir, cassette.RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(miniGateway(rec, nil, up.URL+"/v1", &hits))
	client := func(url string) openai.Client {
		return openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey("sk-rs-"+strings.Repeat("k", 40)), option.WithMaxRetries(3))
	}
	live, err := weatherLoop(ctx, client(gw.URL), "Weather in Paris?")
	gw.Close()
	up.Close()
	if err != nil {
		t.Fatal(err)
	}
	if live != "Sunny in Paris. | Sunny in Paris." || upCalls.Load() != 3 || rec.Stats().Recorded != 3 {
		t.Fatalf("live run %q, %d upstream calls, %+v", live, upCalls.Load(), rec.Stats())
	}

	rp, err := cassette.OpenReplayer(dir, cassette.ReplayOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	gw = httptest.NewServer(miniGateway(nil, rp, "http://127.0.0.1:1", &hits))
	defer gw.Close()
	replayed, err := weatherLoop(ctx, client(gw.URL), "Weather in Paris?")
	if err != nil || replayed != live {
		t.Fatalf("replay %q, %v; want %q", replayed, err, live)
	}
	hits.Store(0)
	_, err = weatherLoop(ctx, client(gw.URL), "Weather in Lyon?")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.Code != "cassette_miss" || apiErr.StatusCode != 400 {
		t.Fatalf("changed prompt: %v", err)
	}
	if !strings.Contains(apiErr.Message, `messages[0].content: "Weather in Lyon?" ≠ "Weather in Paris?"`) {
		t.Errorf("miss message %q", apiErr.Message)
	}
	if hits.Load() != 1 {
		t.Errorf("the SDK sent the missed request %d times; x-should-retry: false must stop retries", hits.Load())
	}
	if s := rp.Stats(); s.Replayed != 3 || s.Misses != 1 {
		t.Errorf("stats %+v", s)
	}
}
