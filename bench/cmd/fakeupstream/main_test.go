package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestModeFromModelName(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	m := modeFor(r, "claude-fake-c200-p5-lat20")
	if m.chunks != 200 || m.pace != 5*time.Millisecond || m.latency != 20*time.Millisecond {
		t.Fatalf("mode = %+v", m)
	}
	r.Header.Set("x-fake-chunks", "7")
	if m := modeFor(r, "fake-c200-p5"); m.chunks != 7 {
		t.Fatalf("header should win: %+v", m)
	}
}

func TestJSONScan(t *testing.T) {
	b := []byte(`{"model": "fake-c3-p1", "stream" : true, "stream_options":{"include_usage":true}}`)
	if jsonString(b, "model") != "fake-c3-p1" || !jsonTrue(b, "stream") || !jsonTrue(b, "include_usage") {
		t.Fatal("scan failed")
	}
	if jsonTrue([]byte(`{"stream":false}`), "stream") {
		t.Fatal("stream false read as true")
	}
}

func TestOpenAIStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(openaiHandler))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json",
		strings.NewReader(`{"model":"fake-c3-p1","stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "data: ") {
			data = append(data, l)
		}
	}
	// role + 3 content + finish + usage + [DONE]
	if len(data) != 7 || data[6] != "data: [DONE]" || !strings.Contains(data[5], `"completion_tokens":3`) {
		t.Fatalf("got %d events: %v", len(data), data)
	}
}

func TestAnthropicStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(anthropicHandler))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"model":"claude-fake-c2-p1","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "event: ") {
			events = append(events, strings.TrimPrefix(l, "event: "))
		}
	}
	want := "message_start content_block_start ping content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(events, " "); got != want {
		t.Fatalf("events %q", got)
	}
}
