package cassette

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestStreamedFileIsWhatMarshalWrites: the file a stream is written to event by
// event (through the spool file past spoolMem) is byte for byte Record.Marshal's,
// and a chunk carrying several events becomes several entries.
func TestStreamedFileIsWhatMarshalWrites(t *testing.T) {
	for _, n := range []int{3, 3000} {
		dir := t.TempDir()
		r, _ := NewRecorder(dir, RecordOptions{})
		tk := r.Begin("/v1/messages", "POST", nil, []byte(`{"model":"m","stream":true}`))
		tk.Header(200, http.Header{"Content-Type": {"text/event-stream"}})
		tk.Frame([]byte("event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0}\n\n"))
		for i := range n {
			tk.Frame([]byte(fmt.Sprintf("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"w%d <&> \"}}\n\n", i)))
		}
		// A frame split over two writes, and an odd one kept raw.
		tk.Frame([]byte("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\""))
		tk.Frame([]byte(":\"end_turn\"}}\n\nid: 9\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
		if err := tk.End(); err != nil {
			t.Fatal(err)
		}
		files, _ := listFiles(dir)
		raw, _ := os.ReadFile(files[0])
		rec, err := ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		again, _ := rec.Marshal()
		if !bytes.Equal(raw, again) {
			t.Fatalf("n=%d: the streamed file differs from Marshal:\n%s\n---\n%s", n, raw, again)
		}
		if got := len(rec.Response.Events); got != n+4 {
			t.Errorf("n=%d: %d entries, want %d", n, got, n+4)
		}
		a := answerOf(rec)
		if a.stop != "end_turn" || !strings.HasPrefix(a.text, "w0 <&> ") {
			t.Errorf("answer %+v", a)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".cassette-*")); len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
	}
}

// TestOldMergedEventsAreSplitOnRead: files recorded before one entry per event load
// with their merged frames split, replaying the same bytes.
func TestOldMergedEventsAreSplitOnRead(t *testing.T) {
	merged := "event: a\ndata: {\"type\":\"a\"}\n\nevent: b\ndata: {\"type\":\"b\"}\n\n"
	rec, err := decode("old.json", []byte(`{"version":1,"seq":1,"request":{"endpoint":"/v1/messages","method":"POST"},
"response":{"status":200,"stream":true,"events":[{"event":"b","data":"{\"type\":\"b\"}","offset_ms":0,"raw":`+fmt.Sprintf("%q", merged)+`}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	c := newCassette("old.json", rec, 0)
	if len(c.Frames()) != 2 || string(bytes.Join(c.Frames(), nil)) != merged {
		t.Fatalf("frames %q", c.Frames())
	}
}

// TestSplitSecretsAcrossEvents: a key and a configured secret streamed in pieces are
// scrubbed in every piece; a key inside one piece is left to the per-event scrub.
func TestSplitSecretsAcrossEvents(t *testing.T) {
	// Key-shaped for the scrubber, built at run time so no key-like literal is tracked.
	key := "sk-" + "proj-" + strings.Repeat("TESTONLY", 3)
	const secret = "hunter2-configured"
	dir := t.TempDir()
	r, _ := NewRecorder(dir, RecordOptions{Secrets: []string{secret}})
	tk := r.Begin("/v1/responses", "POST", nil, []byte(`{"model":"m","stream":true}`))
	tk.Header(200, http.Header{"Content-Type": {"text/event-stream"}})
	text := "a " + key + " b " + secret + " c"
	for i := 0; i < len(text); i += 3 {
		tk.Frame([]byte(fmt.Sprintf("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"m1\",\"delta\":%q}\n\n", text[i:min(i+3, len(text))])))
	}
	if err := tk.End(); err != nil {
		t.Fatal(err)
	}
	files, _ := listFiles(dir)
	rec, err := ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := answerOf(rec).text; got != "a [REDACTED] b [REDACTED] c" {
		t.Errorf("assembled %q", got)
	}
}

// TestSeenRequestsKeyedByHash: recording many distinct large requests keeps none of
// their bodies alive.
func TestSeenRequestsKeyedByHash(t *testing.T) {
	r, _ := NewRecorder(t.TempDir(), RecordOptions{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 40 {
		body := []byte(`{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat(string(rune('a'+i%26)), 1<<20) + fmt.Sprint(i) + `"}]}`)
		r.Begin("/v1/chat/completions", "POST", nil, body).Abort()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 8<<20 {
		t.Errorf("40 distinct 1 MiB requests keep %d bytes live", grown)
	}
	runtime.KeepAlive(r)
}

// TestFolderRefusesWhatIsNotACassette: symlinks out of the folder, devices, FIFOs,
// oversized files and files that change into something else are refused by name.
func TestFolderRefusesWhatIsNotACassette(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks and devices are unix tests")
	}
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "x.json")
	_ = os.WriteFile(out, []byte(`{}`), 0o600)
	_ = os.Symlink(out, filepath.Join(dir, "out.json"))
	_ = os.Symlink("/dev/zero", filepath.Join(dir, "zero.json"))
	_ = os.Symlink("missing", filepath.Join(dir, "dangling.json"))
	_ = os.WriteFile(filepath.Join(dir, "big.json"), bytes.Repeat([]byte(" "), 2000), 0o600)
	f, _ := openFolder(dir, 1000)
	files, _ := f.files()
	for _, p := range files {
		if _, err := f.read(p); err == nil || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
	// A symlink inside the folder to a cassette inside it is fine.
	in := t.TempDir()
	r, _ := NewRecorder(in, RecordOptions{})
	tk := r.Begin(chatEP, "POST", nil, []byte(`{"model":"m"}`))
	tk.Header(200, http.Header{"Content-Type": {"application/json"}})
	tk.Body([]byte(`{}`))
	_ = tk.End()
	first, _ := listFiles(in)
	_ = os.Symlink(filepath.Base(first[0]), filepath.Join(in, "alias.json"))
	if _, err := ReadFile(filepath.Join(in, "alias.json")); err != nil {
		t.Errorf("a symlink inside the folder: %v", err)
	}
}

// FuzzReadFile feeds the reader hostile files: whatever the bytes, reading, checking,
// replaying and summarizing never panic, and replay sends only allowed headers.
func FuzzReadFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"seq":1,"request":{"endpoint":"/v1/chat/completions","method":"POST","body":{"model":"m"}},"response":{"status":200,"headers":{"set-cookie":"a=b","content-type":"text/html"},"body":{"choices":[]}}}`))
	f.Add([]byte(`{"version":1,"seq":1,"request":{"endpoint":"/v1/messages","method":"POST"},"response":{"status":200,"stream":true,"events":[{"event":"x\ny","data":"{}","offset_ms":0}]}}`))
	f.Add([]byte(`{"version":1,"seq":1,"request":{"endpoint":"/","method":"P"},"response":{"status":200,"stream":true,"events":[{"event":"","data":"","offset_ms":0,"raw":"data: a\n\ndata: b"}]}}`))
	f.Add([]byte("\xef\xbb\xbf{\"version\":1}"))
	f.Add([]byte("\xff\xfe{\x00}\x00"))
	f.Add([]byte(strings.Repeat("[", 20000)))
	f.Add([]byte(`{"version":1,"seq":1,"request":{"endpoint":"/v1/chat/completions","method":"POST","body":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000) + `},"response":{"status":101}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f.json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = Check(dir, ReadOptions{MaxFileBytes: 1 << 20})
		rp, err := OpenReplayer(dir, ReplayOptions{MaxFileBytes: 1 << 20})
		if err != nil {
			return
		}
		for _, e := range rp.keys {
			for _, c := range e.takes {
				for k := range c.Header {
					if !slicesContains(keptResponseHeaders, strings.ToLower(k)) {
						t.Fatalf("replay would send %s", k)
					}
				}
				for _, fr := range c.Frames() {
					if len(splitFrames(fr)) > 1 {
						t.Fatalf("one replayed entry holds several frames: %q", fr)
					}
				}
			}
			rp.Match(e.endpoint, nil, e.takes[0].Body)
		}
	})
}
