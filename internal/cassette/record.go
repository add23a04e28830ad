package cassette

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// Recorder writes one cassette file per exchange into a folder. It is safe for
// concurrent use; each Take belongs to one request and one goroutine. A nil
// *Recorder is valid and records nothing, as are the nil *Take values it returns.
type Recorder struct {
	dir   string
	scrub *scrubber
	// Clock stamps stream events; tests set it before the first Begin. nil = time.Now.
	Clock func() time.Time

	mu       sync.Mutex
	seq      map[string]int // match key -> takes begun
	recorded int
	failed   int
	lastErr  error
	files    []string
}

// RecorderStats counts what a Recorder wrote.
type RecorderStats struct {
	Recorded int      // files written
	Failed   int      // takes whose file could not be written
	LastErr  error    // the latest write failure
	Files    []string // base names written, in order (the first 1000)
}

// NewRecorder records into dir (created 0755 if missing). secrets are values that
// must never reach a file (provider keys, base_url passwords, client keys): they are
// replaced by [REDACTED] wherever they appear, on top of the key patterns every
// recording is scanned for.
func NewRecorder(dir string, secrets []string) (*Recorder, error) {
	if dir == "" {
		return nil, errors.New("cassette: no folder to record into")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cassette folder: %w", err)
	}
	return &Recorder{dir: dir, scrub: newScrubber(secrets), seq: map[string]int{}}, nil
}

// Dir is the folder recorded into.
func (r *Recorder) Dir() string {
	if r == nil {
		return ""
	}
	return r.dir
}

func (r *Recorder) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

// Take is one exchange being recorded. Its methods do no I/O until End.
type Take struct {
	r      *Recorder
	rec    Record
	hash   string
	model  string
	body   []byte
	frames []Event
	first  time.Time
}

// Begin starts recording a request: endpoint as served ("/v1/chat/completions"),
// method, the client's headers (only answer-changing ones are kept; auth never) and
// body (copied). The request's place among identical requests (its seq) is fixed
// here, so replay hands answers out in the order the requests arrived.
func (r *Recorder) Begin(endpoint, method string, h http.Header, body []byte) *Take {
	if r == nil {
		return nil
	}
	t := &Take{r: r}
	t.rec.Version = Version
	t.rec.Request.Endpoint = endpoint
	t.rec.Request.Method = method
	t.rec.Request.Headers = requestHeaders(h)
	t.rec.Request.setBody(body)
	t.model = gjson.GetBytes(body, "model").String()
	// The key of the scrubbed body: replay matches against what the file holds.
	k := makeKey(endpoint, r.scrub.scrubbedHeaders(t.rec.Request.Headers), []byte(r.scrub.scrub(string(t.rec.Request.BodyBytes()))), nil)
	t.hash = k.hash()
	r.mu.Lock()
	r.seq[k.text]++
	t.rec.Seq = r.seq[k.text]
	r.mu.Unlock()
	return t
}

func (s *scrubber) scrubbedHeaders(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = s.scrub(v)
	}
	return out
}

// Header records the status and the allow-listed response headers.
func (t *Take) Header(status int, h http.Header) {
	if t == nil {
		return
	}
	t.rec.Response.Status = status
	t.rec.Response.Headers = responseHeaders(h)
	if strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		t.rec.Response.Stream = true
	}
}

// Body records (appends) non-stream response body bytes.
func (t *Take) Body(b []byte) {
	if t == nil {
		return
	}
	t.body = append(t.body, b...)
}

// Frame records one complete SSE frame as written to the client. Comment frames
// (keep-alives) are skipped; the first recorded frame is offset 0.
func (t *Take) Frame(frame []byte) {
	if t == nil || len(frame) == 0 || frame[0] == ':' {
		return
	}
	now := t.r.now()
	if t.frames == nil {
		t.first = now
	}
	// Parsing waits for End; only the bytes and the time are kept here.
	t.frames = append(t.frames, Event{Raw: string(frame), OffsetMS: now.Sub(t.first).Milliseconds()})
	t.rec.Response.Stream = true
}

// End scrubs the exchange and writes its file (temp file and rename, so a reader
// never sees half a cassette). It returns the write error, also counted in Stats.
func (t *Take) End() error {
	if t == nil {
		return nil
	}
	r := t.r
	rec := &t.rec
	for _, f := range t.frames {
		ev, ok := parseFrame([]byte(f.Raw))
		if !ok {
			continue
		}
		ev.OffsetMS = f.OffsetMS
		rec.Response.Events = append(rec.Response.Events, ev)
	}
	if !rec.Response.Stream || len(t.body) > 0 {
		rec.Response.setBody(t.body)
	}
	if rec.Response.Status == 0 {
		rec.Response.Status = http.StatusOK
	}
	_, err := r.write(rec, slug(rec.Request.Endpoint, t.model), t.hash)
	return err
}

// Add writes a record made elsewhere (FromLog) as the next take of its request,
// scrubbed like a live one, and returns the file's path.
func (r *Recorder) Add(rec *Record) (string, error) {
	body := rec.Request.BodyBytes()
	k := makeKey(rec.Request.Endpoint, r.scrub.scrubbedHeaders(rec.Request.Headers), []byte(r.scrub.scrub(string(body))), nil)
	r.mu.Lock()
	r.seq[k.text]++
	rec.Seq = r.seq[k.text]
	r.mu.Unlock()
	rec.Version = Version
	return r.write(rec, slug(rec.Request.Endpoint, gjson.GetBytes(body, "model").String()), k.hash())
}

func (r *Recorder) write(rec *Record, slug, hash string) (string, error) {
	r.scrub.record(rec)
	name := FileName(slug, hash, rec.Seq)
	path := filepath.Join(r.dir, name)
	err := writeAtomic(rec, path)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed++
		r.lastErr = err
		return "", err
	}
	r.recorded++
	if len(r.files) < 1000 {
		r.files = append(r.files, name)
	}
	return path, nil
}

func writeAtomic(rec *Record, path string) error {
	data, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("encode cassette: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cassette-*.tmp")
	if err != nil {
		return fmt.Errorf("write cassette: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write cassette: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write cassette: %w", err)
	}
	// CreateTemp makes 0600 files; cassettes are meant to be committed and shared.
	_ = os.Chmod(tmp.Name(), 0o644)
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write cassette: %w", err)
	}
	return nil
}

// Stats reports what was written so far.
func (r *Recorder) Stats() RecorderStats {
	if r == nil {
		return RecorderStats{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return RecorderStats{Recorded: r.recorded, Failed: r.failed, LastErr: r.lastErr, Files: append([]string(nil), r.files...)}
}
