package cassette

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// ReplayOptions tune a Replayer.
type ReplayOptions struct {
	// Strict: a request no cassette matches must not reach a provider. The Replayer
	// only reports it; the gateway enforces it.
	Strict bool
	// Speed scales the recorded pace of streams: 0 = no waits (the default for tests),
	// 1 = as recorded, 2 = twice as fast.
	Speed float64
	// Ignore are extra JSON paths matching leaves out, in the syntax parsePath reads:
	// "$.messages[0].content", "messages.0.content", "tools[*].description".
	Ignore []string
	// Secrets are scrubbed from incoming requests before matching, as the Recorder
	// scrubbed them from the files (key patterns are always scrubbed).
	Secrets []string
	// MaxFileBytes caps one cassette file (0 = DefaultMaxFileBytes).
	MaxFileBytes int64
	// Normalize are rules on top of the built-in agent rules (normalize.go), applied
	// to the cassettes' requests and the incoming ones alike.
	Normalize []NormalizeRule
}

// Replayer answers requests from the cassettes of one folder, loaded once. It is safe
// for concurrent use.
type Replayer struct {
	dir    string
	o      ReplayOptions
	ignore []path
	norm   *normalizer
	scrub  *scrubber
	byKey  map[string]*entry
	keys   []*entry // every distinct request, for nearest-miss search
	total  int

	mu       sync.Mutex
	replayed int
	misses   int
	missMsgs []string
}

// entry is every recorded answer to one distinct request, in seq order.
type entry struct {
	key      key
	endpoint string
	headers  map[string]string
	takes    []*Cassette
	next     int // guarded by Replayer.mu
}

// Cassette is a loaded recording, ready to serve. Its fields are shared by every
// request it answers: read them, do not modify them (clone Header before changing it).
type Cassette struct {
	Name   string // file base name
	Seq    int
	Status int
	Header http.Header
	Body   []byte // the non-stream body as recorded
	Stream bool

	events []Event
	frames [][]byte
	speed  float64
}

// OpenReplayer loads and validates every cassette in dir.
func OpenReplayer(dir string, o ReplayOptions) (*Replayer, error) {
	if o.Speed < 0 {
		return nil, fmt.Errorf("replay speed %v: want 0 (no waits) or more", o.Speed)
	}
	rp := &Replayer{dir: dir, o: o, scrub: newScrubber(o.Secrets), byKey: map[string]*entry{}}
	for _, s := range o.Ignore {
		p, err := parsePath(s)
		if err != nil {
			return nil, fmt.Errorf("match ignore path %q: %w", s, err)
		}
		rp.ignore = append(rp.ignore, p)
	}
	var err error
	if rp.norm, err = newNormalizer(o.Normalize); err != nil {
		return nil, err
	}
	fo, err := openFolder(dir, o.MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("read cassette folder: %w", err)
	}
	files, err := fo.files()
	if err != nil {
		return nil, fmt.Errorf("read cassette folder: %w", err)
	}
	var errs []error
	for _, f := range files {
		rec, err := fo.read(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k := makeKey(rec.Request.Endpoint, rec.Request.Headers, rec.Request.BodyBytes(), rp.ignore, rp.norm)
		e := rp.byKey[k.text]
		if e == nil {
			e = &entry{key: k, endpoint: rec.Request.Endpoint, headers: rec.Request.Headers}
			rp.byKey[k.text] = e
			rp.keys = append(rp.keys, e)
		}
		e.takes = append(e.takes, newCassette(filepath.Base(f), rec, o.Speed))
		rp.total++
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d of %d cassettes in %s are invalid: %w", len(errs), len(files), dir, errors.Join(errs...))
	}
	for _, e := range rp.keys {
		sort.SliceStable(e.takes, func(i, j int) bool {
			if e.takes[i].Seq != e.takes[j].Seq {
				return e.takes[i].Seq < e.takes[j].Seq
			}
			return e.takes[i].Name < e.takes[j].Name
		})
	}
	return rp, nil
}

func newCassette(name string, rec *Record, speed float64) *Cassette {
	c := &Cassette{Name: name, Seq: rec.Seq, Status: rec.Response.Status, Header: http.Header{},
		Body: rec.Response.BodyBytes(), Stream: rec.Response.Stream, events: rec.Response.Events, speed: speed}
	// Only the documented answer headers, whatever the file says (see unsafeParts).
	for k, v := range safeHeaders(rec.Response.Headers) {
		c.Header.Set(k, v)
	}
	for _, e := range rec.Response.Events {
		c.frames = append(c.frames, e.Frame())
	}
	return c
}

// Len is the number of cassettes loaded.
func (rp *Replayer) Len() int { return rp.total }

// Dir is the folder replayed from.
func (rp *Replayer) Dir() string { return rp.dir }

// Strict reports ReplayOptions.Strict.
func (rp *Replayer) Strict() bool { return rp.o.Strict }

// Match finds the recorded answer to a request: endpoint as served, the client's
// headers and body. Identical requests get the recorded answers in seq order; once
// they are used up, the last one answers every further identical request (a loop
// that polls more often than it did while recording still gets an answer). A miss
// returns the nearest cassette and how the request differs from it.
func (rp *Replayer) Match(endpoint string, h http.Header, body []byte) (*Cassette, *Miss) {
	hdr := rp.scrub.scrubbedHeaders(requestHeaders(h))
	k := makeKey(endpoint, hdr, []byte(rp.scrub.scrub(string(body))), rp.ignore, rp.norm)
	if e := rp.byKey[k.text]; e != nil {
		rp.mu.Lock()
		i := min(e.next, len(e.takes)-1)
		e.next++
		rp.replayed++
		rp.mu.Unlock()
		return e.takes[i], nil
	}
	m := rp.nearest(endpoint, k, hdr)
	rp.mu.Lock()
	rp.misses++
	if len(rp.missMsgs) < 100 {
		rp.missMsgs = append(rp.missMsgs, m.Error())
	}
	rp.mu.Unlock()
	return nil, m
}

// Miss explains why no cassette answered a request.
type Miss struct {
	Endpoint string
	Dir      string
	Nearest  string   // file name of the nearest cassette for the endpoint, "" when none
	Paths    []string // the differences from it, "path: request ≠ cassette", at most maxPaths
	More     int      // differences left out of Paths
}

const maxPaths = 5

// Error is one line for the client and the summary.
func (m *Miss) Error() string {
	if m.Nearest == "" {
		return fmt.Sprintf("no cassette in %s for %s", m.Dir, m.Endpoint)
	}
	msg := fmt.Sprintf("no cassette in %s matches this %s request; nearest is %s, which differs at %s (request ≠ cassette)",
		m.Dir, m.Endpoint, m.Nearest, strings.Join(m.Paths, "; "))
	if m.More > 0 {
		msg += fmt.Sprintf(" and %d more", m.More)
	}
	return msg
}

func (rp *Replayer) nearest(endpoint string, k key, hdr map[string]string) *Miss {
	m := &Miss{Endpoint: endpoint, Dir: rp.dir}
	best := -1
	for _, e := range rp.keys {
		if e.endpoint != endpoint {
			continue
		}
		d := diffKeys(k, e.key, hdr, e.headers)
		name := e.takes[0].Name
		if best < 0 || len(d) < best || (len(d) == best && name < m.Nearest) {
			best, m.Nearest = len(d), name
			m.Paths, m.More = d, 0
		}
	}
	if len(m.Paths) > maxPaths {
		m.Paths, m.More = m.Paths[:maxPaths], len(m.Paths)-maxPaths
	}
	return m
}

// ReplayStats counts what a Replayer answered.
type ReplayStats struct {
	Replayed int
	Misses   int
	// MissMessages are the first 100 misses' Error() lines.
	MissMessages []string
}

// Stats reports the counts so far.
func (rp *Replayer) Stats() ReplayStats {
	if rp == nil {
		return ReplayStats{}
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return ReplayStats{Replayed: rp.replayed, Misses: rp.misses, MissMessages: append([]string(nil), rp.missMsgs...)}
}

// ErrStopped is Play's error when write returned false (the client went away).
var ErrStopped = errors.New("cassette: replay stopped by the writer")

// CopyHeader sets the recorded headers on dst (a ResponseWriter's), copying the value
// slices so dst may be changed without touching the shared cassette.
func (c *Cassette) CopyHeader(dst http.Header) {
	for k, vs := range c.Header {
		dst[k] = append([]string(nil), vs...)
	}
}

// Frames returns the stream's SSE frames as recorded (shared: do not modify).
func (c *Cassette) Frames() [][]byte { return c.frames }

// Play writes the stream's frames in order, waiting between them as recorded scaled
// by the replay speed (no waits at speed 0). It stops when ctx ends (returning its
// error) or when write returns false (ErrStopped).
func (c *Cassette) Play(ctx context.Context, write func(frame []byte) bool) error {
	start := time.Now()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for i, f := range c.frames {
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.speed > 0 {
			due := start.Add(time.Duration(float64(c.events[i].OffsetMS) * float64(time.Millisecond) / c.speed))
			if wait := time.Until(due); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
			}
		}
		if !write(f) {
			return ErrStopped
		}
	}
	return nil
}
