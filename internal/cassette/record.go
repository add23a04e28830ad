package cassette

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// DefaultMaxExchangeBytes caps one recorded exchange (request body plus answer bytes)
// when RecordOptions.MaxBytes is 0. The file it makes is larger (SSE data is escaped
// into JSON strings, and each event gets its own entry): about 2.5 times at most for
// small-delta streams, which stays under DefaultMaxFileBytes.
const DefaultMaxExchangeBytes = 16 << 20

// RecordOptions tune a Recorder.
type RecordOptions struct {
	// Secrets are values that must never reach a file (provider keys, base_url
	// passwords, client keys): they are replaced by [REDACTED] wherever they appear,
	// on top of the key patterns every recording is scanned for.
	Secrets []string
	// MaxBytes caps one exchange (0 = DefaultMaxExchangeBytes): a bigger one is not
	// recorded (the client's answer goes on) and the reason is logged.
	MaxBytes int64
	// UseUmask writes files and a new folder with the process umask (0644 and 0755
	// under the usual 022) instead of 0600 and 0700: cassettes hold prompts and
	// answers, so sharing them with other local users is asked for, never a default.
	UseUmask bool
	// Logger gets the reason an exchange was not recorded; nil = slog.Default().
	Logger *slog.Logger
	// Normalize are rules on top of the built-in agent rules (normalize.go): the seq
	// of a request counts requests equal after normalization, as replay matches them.
	Normalize []NormalizeRule
}

// Recorder writes one cassette file per exchange into a folder. It is safe for
// concurrent use; each Take belongs to one request and one goroutine. A nil
// *Recorder is valid and records nothing, as are the nil *Take values it returns.
type Recorder struct {
	dir   string
	scrub *scrubber
	norm  *normalizer
	o     RecordOptions
	// Clock stamps stream events; tests set it before the first Begin. nil = time.Now.
	Clock func() time.Time

	mu sync.Mutex
	// seq counts takes begun per distinct request, keyed by the hash of its match key:
	// never the canonical body itself, which would keep every distinct request's
	// bytes alive for the life of the process.
	seq      map[[32]byte]int
	recorded int
	failed   int
	skipped  int
	lastErr  error
	files    []string
	bySource map[string]int
}

// RecorderStats counts what a Recorder wrote.
type RecorderStats struct {
	Recorded int      // files written
	Failed   int      // takes whose file could not be written
	Skipped  int      // takes not recorded on purpose (over MaxBytes)
	LastErr  error    // the latest write failure or skip reason
	Files    []string // base names written, in order (the first 1000)
	// ByKind counts the files written per kind of the provider that answered
	// ("openai", "anthropic", "mock"; "" for the gateway's own answers).
	ByKind map[string]int
}

// NewRecorder records into dir, created 0700 when missing (see RecordOptions.UseUmask).
func NewRecorder(dir string, o RecordOptions) (*Recorder, error) {
	if dir == "" {
		return nil, errors.New("cassette: no folder to record into")
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxExchangeBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	norm, err := newNormalizer(o.Normalize)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, dirMode(o.UseUmask)); err != nil {
		return nil, fmt.Errorf("create cassette folder: %w", err)
	}
	return &Recorder{dir: dir, scrub: newScrubber(o.Secrets), norm: norm, o: o, seq: map[[32]byte]int{}, bySource: map[string]int{}}, nil
}

func dirMode(umask bool) os.FileMode {
	if umask {
		return 0o777 // the kernel applies the umask
	}
	return 0o700
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

// Take is one exchange being recorded. A stream's frames go to a spool (memory up to
// spoolMem, then a hidden file in the folder) as they come, so recording a long
// stream costs about what the stream costs unrecorded.
type Take struct {
	r       *Recorder
	rec     Record
	hash    string
	model   string
	reqBody []byte
	body    []byte
	spool   spool
	pending []byte // the start of a frame whose end has not come yet
	size    int64
	first   time.Time
	started bool
	// dropped is why this exchange is not recorded ("" while it is).
	dropped string
}

// Begin starts recording a request: endpoint as served ("/v1/chat/completions"),
// method, the client's headers (only answer-changing ones are kept; auth never) and
// body, which the caller must not modify until End. The request's place among
// identical requests (its seq) is fixed here, so replay hands answers out in the
// order the requests arrived.
func (r *Recorder) Begin(endpoint, method string, h http.Header, body []byte) *Take {
	if r == nil {
		return nil
	}
	t := &Take{r: r, reqBody: body, size: int64(len(body))}
	t.rec.Version = Version
	t.rec.Request.Endpoint = endpoint
	t.rec.Request.Method = method
	t.rec.Request.Headers = requestHeaders(h)
	t.rec.Session = sessionOf(h)
	t.rec.At = r.now().UTC().Format(time.RFC3339Nano)
	t.model = gjson.GetBytes(body, "model").String()
	// The key of the scrubbed body: replay matches against what the file holds.
	k := makeKey(endpoint, r.scrub.scrubbedHeaders(t.rec.Request.Headers), []byte(r.scrub.scrub(string(body))), nil, r.norm)
	t.hash = k.hash()
	sum := sha256.Sum256([]byte(k.text))
	r.mu.Lock()
	r.seq[sum]++
	t.rec.Seq = r.seq[sum]
	r.mu.Unlock()
	if t.size > r.o.MaxBytes {
		t.drop("the request body alone passes")
	}
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

// drop stops recording this exchange, keeping why.
func (t *Take) drop(why string) {
	if t.dropped == "" {
		t.dropped = fmt.Sprintf("%s record.max_bytes (%d bytes)", why, t.r.o.MaxBytes)
	}
	t.body, t.pending = nil, nil
	t.spool.close()
}

func (t *Take) grow(n int) bool {
	if t.dropped != "" {
		return false
	}
	t.size += int64(n)
	if t.size > t.r.o.MaxBytes {
		t.drop("the exchange passed")
		return false
	}
	return true
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

// Answered names the provider that answered (kind "" when unknown).
func (t *Take) Answered(provider, kind string) {
	if t == nil {
		return
	}
	t.rec.Provider, t.rec.ProviderKind = provider, kind
}

// Body records (appends) non-stream response body bytes. The first slice is kept,
// not copied: the caller must not modify it until End.
func (t *Take) Body(b []byte) {
	if t == nil || !t.grow(len(b)) {
		return
	}
	if t.body == nil {
		t.body = b[:len(b):len(b)]
		return
	}
	t.body = append(t.body, b...)
}

// Frame records SSE bytes as written to the client: one event or several at once (a
// translated stream writes a Messages or Responses event group in one go), each kept
// as its own entry. Comment frames (keep-alives) are skipped; the first recorded
// frame is offset 0.
func (t *Take) Frame(b []byte) {
	if t == nil || len(b) == 0 || len(t.pending) == 0 && isComment(b) || !t.grow(len(b)) {
		return
	}
	now := t.r.now()
	if !t.started {
		t.first, t.started = now, true
	}
	t.rec.Response.Stream = true
	off := now.Sub(t.first).Milliseconds()
	if len(t.pending) > 0 {
		b = append(t.pending, b...)
		t.pending = nil
	}
	frames := splitFrames(b)
	for i, f := range frames {
		if i == len(frames)-1 && !endsFrame(f) {
			t.pending = append([]byte(nil), f...)
			break
		}
		if isComment(f) {
			continue
		}
		if err := t.spool.add(t.r.dir, off, f); err != nil {
			t.dropped = "the spool could not be written: " + err.Error()
			t.spool.close()
			return
		}
	}
}

// isComment: a keep-alive or other comment-only frame (no event, no data).
func isComment(f []byte) bool {
	return f[0] == ':' && !strings.Contains(string(f), "\ndata") && !strings.Contains(string(f), "\nevent")
}

func endsFrame(f []byte) bool {
	s := string(f)
	return strings.HasSuffix(s, "\n\n") || strings.HasSuffix(s, "\r\n\r\n")
}

// Writer returns w recording what is written through it: an answer the gateway
// writes itself (an error in the client's dialect) becomes the cassette's answer.
func (t *Take) Writer(w http.ResponseWriter) http.ResponseWriter {
	if t == nil {
		return w
	}
	return &tee{ResponseWriter: w, t: t}
}

type tee struct {
	http.ResponseWriter
	t     *Take
	wrote bool
}

func (w *tee) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		w.t.Header(status, w.Header())
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *tee) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.t.rec.Response.Stream {
		w.t.Frame(b)
	} else {
		w.t.Body(append([]byte(nil), b...))
	}
	return w.ResponseWriter.Write(b)
}

func (w *tee) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Abort forgets the exchange (the client left, the answer was cut).
func (t *Take) Abort() {
	if t != nil {
		t.spool.close()
	}
}

// ErrNotRecorded wraps End's error for an exchange left out on purpose (over
// RecordOptions.MaxBytes): the client got its whole answer, the folder no file.
var ErrNotRecorded = errors.New("exchange not recorded")

// End scrubs the exchange and writes its file (a temp file renamed into place, so a
// reader never sees half a cassette). It returns the write error, also counted in
// Stats; an exchange over the cap returns ErrNotRecorded with the reason, logged too.
func (t *Take) End() error {
	if t == nil {
		return nil
	}
	defer t.spool.close()
	r := t.r
	if t.dropped == "" && len(t.pending) > 0 {
		// A tail the upstream never ended with a blank line: kept verbatim.
		if err := t.spool.add(r.dir, 0, t.pending); err != nil {
			t.dropped = "the spool could not be written: " + err.Error()
		}
	}
	if t.dropped != "" {
		err := fmt.Errorf("%w: %s %s: %s", ErrNotRecorded, t.rec.Request.Method, t.rec.Request.Endpoint, t.dropped)
		r.o.Logger.Warn("cassette not recorded", "endpoint", t.rec.Request.Endpoint, "model", t.model, "reason", t.dropped)
		r.mu.Lock()
		r.skipped++
		r.lastErr = err
		r.mu.Unlock()
		return err
	}
	if t.rec.Response.Status == 0 {
		return nil // nothing was answered: nothing to replay
	}
	rec := &t.rec
	rec.Request.setBody(t.reqBody)
	if !rec.Response.Stream || len(t.body) > 0 {
		rec.Response.setBody(t.body)
	}
	_, err := r.write(rec, slug(rec.Request.Endpoint, t.model), t.hash, &t.spool)
	return err
}

// Add writes a record made elsewhere (FromLog) as the next take of its request,
// scrubbed like a live one, and returns the file's path.
func (r *Recorder) Add(rec *Record) (string, error) {
	body := rec.Request.BodyBytes()
	k := makeKey(rec.Request.Endpoint, r.scrub.scrubbedHeaders(rec.Request.Headers), []byte(r.scrub.scrub(string(body))), nil, r.norm)
	sum := sha256.Sum256([]byte(k.text))
	r.mu.Lock()
	r.seq[sum]++
	rec.Seq = r.seq[sum]
	r.mu.Unlock()
	rec.Version = Version
	return r.write(rec, slug(rec.Request.Endpoint, gjson.GetBytes(body, "model").String()), k.hash(), nil)
}

// write scrubs rec and writes it, with the events of sp (nil: rec's own events).
func (r *Recorder) write(rec *Record, slug, hash string, sp *spool) (string, error) {
	name := FileName(slug, hash, rec.Seq)
	path := filepath.Join(r.dir, name)
	err := r.writeFile(rec, path, sp)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed++
		r.lastErr = err
		return "", err
	}
	r.recorded++
	r.bySource[rec.ProviderKind]++
	if len(r.files) < 1000 {
		r.files = append(r.files, name)
	}
	return path, nil
}

// Stats reports what was written so far.
func (r *Recorder) Stats() RecorderStats {
	if r == nil {
		return RecorderStats{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	by := make(map[string]int, len(r.bySource))
	for k, v := range r.bySource {
		by[k] = v
	}
	return RecorderStats{Recorded: r.recorded, Failed: r.failed, Skipped: r.skipped, LastErr: r.lastErr,
		Files: append([]string(nil), r.files...), ByKind: by}
}
