package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type ev struct{ event, data string }

func readAll(t *testing.T, r io.Reader) []ev {
	t.Helper()
	sr := NewReader(r)
	var out []ev
	for {
		e, d, err := sr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev{string(e), string(d)})
	}
}

func TestReaderFraming(t *testing.T) {
	in := ": comment\r\n" +
		"event: message_start\r\ndata: {\"a\":1}\r\n\r\n" +
		"data:no-space\n\n" +
		"id: 7\nretry: 10\n\n" + // no data: skipped
		"data: line1\ndata: line2\n\n" +
		"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
		"data: [DONE]" // no trailing blank line
	want := []ev{{"message_start", `{"a":1}`}, {"", "no-space"}, {"", "line1\nline2"}, {"ping", `{"type": "ping"}`}, {"", "[DONE]"}}
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
		"halves":   iotest.HalfReader(strings.NewReader(in)),
	} {
		got := readAll(t, r)
		if len(got) != len(want) {
			t.Fatalf("%s: got %q", name, got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: event %d = %q, want %q", name, i, got[i], want[i])
			}
		}
	}
}

func TestReaderLongLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // beyond bufio.Scanner's 64 KiB default
	got := readAll(t, strings.NewReader("data: "+long+"\n\ndata: short\n\n"))
	if len(got) != 2 || got[0].data != long || got[1].data != "short" {
		t.Fatalf("long line not reassembled: %d events", len(got))
	}
}

func TestAppendData(t *testing.T) {
	got := AppendData(nil, []byte(`{"x":1}`))
	if !bytes.Equal(got, []byte("data: {\"x\":1}\n\n")) {
		t.Fatalf("%q", got)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("data: a\n\ndata: b\r\n\r\n"))
	f.Add([]byte("event: x\ndata: y"))
	f.Add([]byte(":\n\n\n\ndata"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		for i := 0; i < len(in)+2; i++ {
			_, d, err := r.Next()
			if err != nil {
				return
			}
			if bytes.Contains(d, []byte("\r")) && !bytes.Contains(in, []byte("\r")) {
				t.Fatalf("data invented a CR")
			}
		}
		t.Fatal("reader returned more events than input bytes")
	})
}

// FuzzReaderChunking: however the input is split across reads, the events are the
// same. A reader fed one byte at a time never has a blank line buffered ahead, so
// it always copies; fed whole, it hands most data out of its read buffer.
func FuzzReaderChunking(f *testing.F) {
	f.Add([]byte("data: a\n\ndata: b\r\n\r\nevent: e\ndata: c\ndata: d\n\n"))
	f.Add([]byte("data: x\r\rdata: y\n\n:c\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		events := func(r io.Reader) []ev {
			sr := NewReader(r)
			var out []ev
			for {
				e, d, err := sr.Next()
				if err != nil {
					return out
				}
				out = append(out, ev{string(e), string(d)})
			}
		}
		whole, bytewise := events(bytes.NewReader(in)), events(iotest.OneByteReader(bytes.NewReader(in)))
		if len(whole) != len(bytewise) {
			t.Fatalf("%d events read whole, %d a byte at a time", len(whole), len(bytewise))
		}
		for i := range whole {
			if whole[i] != bytewise[i] {
				t.Fatalf("event %d: %q whole, %q a byte at a time", i, whole[i], bytewise[i])
			}
		}
	})
}

func BenchmarkReaderNext(b *testing.B) {
	chunk := []byte("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word\"}}]}\n\n")
	body := bytes.Repeat(chunk, 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	r := NewReader(bytes.NewReader(body))
	for b.Loop() {
		if _, _, err := r.Next(); err != nil {
			r = NewReader(bytes.NewReader(body))
		}
	}
}
