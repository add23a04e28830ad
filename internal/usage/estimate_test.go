package usage

import (
	"strings"
	"sync"
	"testing"
)

func TestTextHelloWorld(t *testing.T) {
	e := NewEstimator()
	// cl100k_base: "Hello" + " world".
	if n := e.Text("gpt-3.5-turbo", "Hello world"); n != 2 {
		t.Fatalf("cl100k Hello world = %d, want 2", n)
	}
	if n := e.Text("gpt-4o", "Hello world"); n != 2 {
		t.Fatalf("o200k Hello world = %d, want 2", n)
	}
	if n := e.Text("gpt-4", ""); n != 0 {
		t.Fatalf("empty = %d", n)
	}
}

func TestCodecChoice(t *testing.T) {
	e := NewEstimator()
	for model, want := range map[string]string{
		"gpt-4o-mini": "o200k_base", "openai:gpt-4.1": "o200k_base", "o3": "o200k_base",
		"o4-mini": "o200k_base", "gpt-5-nano": "o200k_base",
		"gpt-4": "cl100k_base", "gpt-3.5-turbo": "cl100k_base", "claude-sonnet-4-5": "cl100k_base",
		"o3x": "cl100k_base", "mock": "cl100k_base",
	} {
		if got := e.codecFor(model).GetName(); got != want {
			t.Errorf("%s: %s, want %s", model, got, want)
		}
	}
}

func TestPromptChat(t *testing.T) {
	e := NewEstimator()
	body := []byte(`{"model":"gpt-4o","messages":[
		{"role":"system","content":"You are a helpful assistant."},
		{"role":"user","content":"Hello world"}]}`)
	// Cookbook arithmetic: 3 priming + (3 + "system" 1 + 6) + (3 + "user" 1 + 2) = 19,
	// which is what the OpenAI API reports for this request.
	if n := e.Prompt("gpt-4o", "chat/completions", body); n < 17 || n > 21 {
		t.Fatalf("chat estimate = %d, want about 19", n)
	}

	parts := []byte(`{"messages":[{"role":"user","name":"bob","content":[
		{"type":"text","text":"Hello world"},{"type":"image_url","image_url":{"url":"data:x"}}]}]}`)
	want := replyPriming + tokensPerMessage + 1 /*user*/ + 1 /*bob*/ + tokensPerName + 2 + tokensPerImage
	if n := e.Prompt("gpt-4o", "chat/completions", parts); n != want {
		t.Fatalf("parts estimate = %d, want %d", n, want)
	}

	withTools := []byte(`{"messages":[{"role":"user","content":"hi"}],
		"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}`)
	without := e.Prompt("gpt-4o", "chat/completions", []byte(`{"messages":[{"role":"user","content":"hi"}]}`))
	if n := e.Prompt("gpt-4o", "chat/completions", withTools); n < without+15 {
		t.Fatalf("tools not counted: %d vs %d", n, without)
	}

	calls := []byte(`{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
		{"role":"tool","tool_call_id":"c1","content":"sunny"}]}`)
	if n := e.Prompt("gpt-4o", "chat/completions", calls); n < 15 {
		t.Fatalf("tool calls not counted: %d", n)
	}

	if n := e.Prompt("gpt-4o", "chat/completions", []byte(`not json`)); n != 0 {
		t.Fatalf("garbage = %d", n)
	}
}

func TestPromptCompletionsAndEmbeddings(t *testing.T) {
	e := NewEstimator()
	cases := []struct {
		endpoint, body string
		want           int
	}{
		{"completions", `{"prompt":"Hello world"}`, 2},
		{"completions", `{"prompt":["Hello world","Hello world"]}`, 4},
		{"completions", `{"prompt":[1,2,3]}`, 3},
		{"completions", `{"prompt":[[1,2],[3,4,5]]}`, 5},
		{"embeddings", `{"input":"Hello world"}`, 2},
		{"embeddings", `{"input":["Hello world","Hello"]}`, 3},
		{"embeddings", `{}`, 0},
		{"images", `{"prompt":"Hello world"}`, 0},
	}
	for _, c := range cases {
		if n := e.Prompt("text-embedding-3-small", c.endpoint, []byte(c.body)); n != c.want {
			t.Errorf("%s %s = %d, want %d", c.endpoint, c.body, n, c.want)
		}
	}
}

func TestHugeTextIsBounded(t *testing.T) {
	e := NewEstimator()
	s := strings.Repeat("a", maxExactBytes+4)
	if n := e.Text("gpt-4", s); n != (len(s)+3)/4 {
		t.Fatalf("huge text = %d", n)
	}
}

func TestEstimatorConcurrent(t *testing.T) {
	e := NewEstimator()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if n := e.Text("gpt-4o", "Hello world"); n != 2 {
				t.Errorf("concurrent = %d", n)
			}
		})
	}
	wg.Wait()
}

func BenchmarkPromptChat(b *testing.B) {
	e := NewEstimator()
	body := []byte(`{"model":"gpt-4o-mini","messages":[
		{"role":"system","content":"You are a helpful assistant that answers briefly and precisely."},
		{"role":"user","content":"Explain the difference between a mutex and a semaphore in two sentences."},
		{"role":"assistant","content":"A mutex lets one holder in at a time and must be released by its owner. A semaphore counts permits, so several holders may enter."},
		{"role":"user","content":"And a read-write lock?"}]}`)
	e.Prompt("gpt-4o-mini", "chat/completions", body) // load the vocabulary outside the timing
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		e.Prompt("gpt-4o-mini", "chat/completions", body)
	}
}
