package router

import (
	"testing"

	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/provider/mock"
	"github.com/jmanhype/runestone/internal/provider/openai"
)

func names(ts []provider.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Provider.Name()+":"+t.Model)
	}
	return out
}

func TestResolveOrder(t *testing.T) {
	a := openai.New(openai.Options{Name: "openai", BaseURL: "http://a", Models: []string{"gpt-4o", "llama3:8b"}})
	b := openai.New(openai.Options{Name: "backup", BaseURL: "http://b", Models: []string{"gpt-4o"}})
	m := mock.New(mock.Options{Name: "mock"})
	r := New([]provider.Provider{a, b, m}, []Route{{Model: "smart", Targets: []string{"backup:gpt-4.1", "openai:gpt-4o"}}})
	tests := []struct {
		model string
		want  []string
	}{
		{"smart", []string{"backup:gpt-4.1", "openai:gpt-4o"}},
		{"gpt-4o", []string{"openai:gpt-4o", "backup:gpt-4o"}},
		{"llama3:8b", []string{"openai:llama3:8b"}}, // a listed name with ':' wins over provider:model
		{"backup:o3", []string{"backup:o3"}},
		{"mock-fast", []string{"mock:mock-fast"}},
		{"nope", nil},
		{"nobody:x", nil},
	}
	for _, tt := range tests {
		got := names(r.Resolve(tt.model))
		if len(got) != len(tt.want) {
			t.Fatalf("%s: got %v want %v", tt.model, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("%s: got %v want %v", tt.model, got, tt.want)
			}
		}
	}
	ms := r.Models()
	seen := map[string]string{}
	for _, m := range ms {
		seen[m.ID] = m.OwnedBy
	}
	if seen["smart"] != "backup" || seen["gpt-4o"] != "openai" || seen["mock"] != "mock" {
		t.Fatalf("models %v", ms)
	}
}

func TestCatchAllCacheIsBounded(t *testing.T) {
	r := New([]provider.Provider{mock.New(mock.Options{CatchAll: true})}, nil)
	for i := 0; i < maxCached+100; i++ {
		if len(r.Resolve("m"+string(rune('a'+i%26))+itoa(i))) != 1 {
			t.Fatal("catch-all did not resolve")
		}
	}
	if r.cached.Load() > maxCached {
		t.Fatalf("cache grew to %d", r.cached.Load())
	}
}

func itoa(i int) string {
	b := []byte{}
	for i > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func BenchmarkResolveStatic(b *testing.B) {
	r := New([]provider.Provider{openai.New(openai.Options{Name: "o", BaseURL: "http://a", Models: []string{"gpt-4o"}})}, nil)
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve("gpt-4o")
	}
}
