package messages

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/provider/mock"
	"github.com/jmanhype/runestone/internal/sse"
)

// translated is the translated path as the gateway runs it for /v1/messages on a chat
// provider, minus routing, limits and logging: the reference for wiring this package.
func translated(p provider.Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		const reqID = "req_test"
		body, _ := io.ReadAll(r.Body)
		model, stream, aerr := Inspect(body)
		if aerr != nil {
			WriteError(w, aerr, reqID)
			return
		}
		chat, _, err := ToChat(body)
		if err != nil {
			WriteError(w, apierr.As(err), reqID)
			return
		}
		resp, err := p.Do(r.Context(), &provider.Call{Endpoint: provider.Chat, Model: model, ClientModel: model,
			Body: chat, Stream: stream, IncludeUsage: stream, Header: r.Header})
		if err != nil {
			WriteError(w, asAPIError(err), reqID)
			return
		}
		if !stream {
			out, err := FromChat(resp.Body, model, resp.Usage)
			if err != nil {
				WriteError(w, asAPIError(err), reqID)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Request-Id", reqID)
			_, _ = w.Write(out)
			return
		}
		defer resp.Stream.Close()
		sse.Headers(w.Header())
		w.Header().Set("Request-Id", reqID)
		enc := NewStreamEncoder(model)
		var buf []byte
		for {
			data, err := resp.Stream.Next()
			switch {
			case err == nil:
				buf = enc.Chunk(buf[:0], data)
			case errors.Is(err, io.EOF):
				buf = enc.Finish(buf[:0], resp.Stream.Usage())
			default:
				buf = enc.Fail(buf[:0], asAPIError(err))
			}
			_, _ = w.Write(buf)
			if err != nil {
				return
			}
		}
	}
}

func asAPIError(err error) *apierr.Error {
	if e := apierr.As(err); e != nil {
		return e
	}
	return apierr.Internal(err)
}

func TestPipelineMockSDK(t *testing.T) {
	srv := httptest.NewServer(translated(mock.New(mock.Options{CatchAll: true})))
	defer srv.Close()
	client := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0))
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model: "claude-via-mock", MaxTokens: 100,
		System:   []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))},
	}

	m, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if m.Content[0].Text != "You said: hello there" || m.StopReason != anthropic.StopReasonEndTurn || m.Usage.OutputTokens != 4 || m.Usage.InputTokens == 0 {
		t.Errorf("non-stream: %+v", m)
	}

	stream := client.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	_ = stream.Close()
	if acc.Content[0].Text != "You said: hello there" || acc.Usage.OutputTokens != 4 || acc.Usage.InputTokens != m.Usage.InputTokens {
		t.Errorf("stream: %+v", acc)
	}

	// A tool call, then the tool result sent back as history.
	params.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}}}
	params.Messages = []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("call get_weather"))}
	m, err = client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if m.StopReason != anthropic.StopReasonToolUse || len(m.Content) == 0 || m.Content[len(m.Content)-1].Type != "tool_use" {
		t.Fatalf("tool call: %+v", m)
	}
	use := m.Content[len(m.Content)-1]
	params.Messages = append(params.Messages, m.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "sunny", false), anthropic.NewTextBlock("thanks")))
	if m, err = client.Messages.New(ctx, params); err != nil {
		t.Fatal(err)
	}
	if m.Content[0].Text != "You said: thanks" {
		t.Errorf("after tool result: %+v", m.Content)
	}

	// An upstream error reaches the SDK as Anthropic's error type.
	_, err = client.Messages.New(ctx, params, option.WithHeader("x-mock-status", "429"))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Type() != anthropic.ErrorTypeRateLimitError || ae.RequestID != "req_test" {
		t.Errorf("error: %v", err)
	}
}
