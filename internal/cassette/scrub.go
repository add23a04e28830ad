package cassette

import (
	"regexp"
	"sort"
	"strings"

	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/tidwall/gjson"
)

// Redacted replaces every secret in a cassette.
const Redacted = "[REDACTED]"

// keyPattern matches strings shaped like API keys and tokens: OpenAI, Anthropic and
// Runestone keys (sk-…), bearer tokens, AWS access key ids, Google API keys and GitHub
// tokens. The sk- form needs 16 characters after the prefix so prose ("sk-learn") survives.
var keyPattern = regexp.MustCompile(`\bsk-[A-Za-z0-9][A-Za-z0-9_\-]{15,}` +
	`|(?i:\bbearer)\s+[A-Za-z0-9._~+/\-]{8,}=*` +
	`|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b` +
	`|\bAIza[0-9A-Za-z_\-]{35}` +
	`|\bgh[pousr]_[A-Za-z0-9]{36,}`)

// scrubber removes secrets: the configured ones verbatim (and JSON-escaped), then
// anything that looks like a key.
type scrubber struct{ secrets []string }

// minSecret is the shortest configured secret replaced verbatim: shorter ones would
// blank ordinary words.
const minSecret = 6

func newScrubber(secrets []string) *scrubber {
	s := &scrubber{}
	seen := map[string]bool{}
	for _, v := range secrets {
		if len(v) < minSecret {
			continue
		}
		esc := string(jsonx.AppendString(nil, v))
		esc = esc[1 : len(esc)-1]
		for _, x := range []string{v, esc} {
			if !seen[x] {
				seen[x] = true
				s.secrets = append(s.secrets, x)
			}
		}
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
	return s
}

func (s *scrubber) scrub(v string) string {
	for _, sec := range s.secrets {
		if strings.Contains(v, sec) {
			v = strings.ReplaceAll(v, sec, Redacted)
		}
	}
	if !mayHoldKey(v) {
		return v
	}
	return keyPattern.ReplaceAllStringFunc(v, func(m string) string {
		if len(m) > 6 && strings.EqualFold(m[:6], "bearer") {
			return m[:6] + " " + Redacted
		}
		return Redacted
	})
}

// keyMarks are literal pieces every keyPattern match contains. Looking for them first
// spares the regexp (a backtracking scan, ~100µs per KB) on the usual body with no key:
// the replay hot path scrubs every request.
var keyMarks = []string{"sk-", "earer", "EARER", "AKIA", "ASIA", "AIza", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"}

func mayHoldKey(v string) bool {
	for _, m := range keyMarks {
		if strings.Contains(v, m) {
			return true
		}
	}
	return false
}

func (s *scrubber) scrubMap(m map[string]string) {
	for k, v := range m {
		m[k] = s.scrub(v)
	}
}

// record scrubs every string of a record in place.
func (s *scrubber) record(r *Record) {
	s.scrubMap(r.Request.Headers)
	s.scrubMap(r.Response.Headers)
	if r.Request.Body != nil {
		r.Request.Body = []byte(s.scrub(string(r.Request.Body)))
	}
	r.Request.BodyText = s.scrub(r.Request.BodyText)
	if r.Response.Body != nil {
		r.Response.Body = []byte(s.scrub(string(r.Response.Body)))
	}
	r.Response.BodyText = s.scrub(r.Response.BodyText)
	for i := range r.Response.Events {
		s.event(&r.Response.Events[i])
	}
}

func (s *scrubber) event(e *Event) {
	e.Data, e.Raw, e.Event = s.scrub(e.Data), s.scrub(e.Raw), s.scrub(e.Event)
}

// spans are the byte ranges of v that scrub replaces, sorted and merged.
func (s *scrubber) spans(v string) [][2]int {
	var out [][2]int
	for _, sec := range s.secrets {
		for i := 0; ; {
			j := strings.Index(v[i:], sec)
			if j < 0 {
				break
			}
			out = append(out, [2]int{i + j, i + j + len(sec)})
			i += j + len(sec)
		}
	}
	if mayHoldKey(v) {
		for _, m := range keyPattern.FindAllStringIndex(v, -1) {
			start := m[0]
			if m[1]-m[0] > 6 && strings.EqualFold(v[m[0]:m[0]+6], "bearer") {
				start += 6
				for start < m[1] && (v[start] == ' ' || v[start] == '\t' || v[start] == '\n' || v[start] == '\r') {
					start++
				}
			}
			out = append(out, [2]int{start, m[1]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	merged := out[:0]
	for _, sp := range out {
		if n := len(merged); n > 0 && sp[0] <= merged[n-1][1] {
			merged[n-1][1] = max(merged[n-1][1], sp[1])
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// textFields are the JSON string fields a stream sends a piece at a time: a key the
// model writes out arrives split across them (chat delta.content and tool-call
// arguments, Anthropic delta.text / partial_json / thinking, Responses delta).
var textFields = map[string]bool{"content": true, "text": true, "delta": true, "partial_json": true, "arguments": true,
	"thinking": true, "reasoning": true, "reasoning_content": true, "refusal": true}

// streamIDs are the top-level fields that tell apart the pieces of different blocks
// or items in one stream.
var streamIDs = []string{"index", "item_id", "output_index", "content_index"}

// piece is one event's share of a channel's text: where its JSON string sits in the
// event's data and where its text sits in the channel's.
type piece struct {
	ev, at, rawLen, off, n int
}

type channel struct {
	text   []byte
	pieces []piece
}

// edit replaces data[at:at+rawLen] of an event's data with raw.
type edit struct {
	at, rawLen int
	raw        string
}

// splitSecrets reads a spooled stream once and finds the secrets that only appear
// when the pieces of its text are put together (a key the model streams back four
// characters at a time): it returns, per event index, the edits that blank those
// pieces, the first one of each secret becoming [REDACTED]. Per-event scrubbing
// handles the rest.
func (s *scrubber) splitSecrets(sp *spool) (map[int][]edit, error) {
	chans := map[string]*channel{}
	var order []string
	err := sp.events(func(i int, ev Event) error {
		d := ev.Data
		if len(d) == 0 || d[0] != '{' || !gjson.Valid(d) {
			return nil
		}
		root := gjson.Parse(d)
		id := ""
		for _, f := range streamIDs {
			id += "|" + root.Get(f).Raw
		}
		var walk func(path string, r gjson.Result)
		walk = func(path string, r gjson.Result) {
			r.ForEach(func(k, v gjson.Result) bool {
				p := path + "." + k.String()
				switch {
				case v.IsObject() || v.IsArray():
					walk(p, v)
				case v.Type == gjson.String && k.Type == gjson.String && textFields[k.Str] && v.Index > 0 && v.Str != "":
					c := chans[p+id]
					if c == nil {
						c = &channel{}
						chans[p+id] = c
						order = append(order, p+id)
					}
					c.pieces = append(c.pieces, piece{ev: i, at: v.Index, rawLen: len(v.Raw), off: len(c.text), n: len(v.Str)})
					c.text = append(c.text, v.Str...)
				}
				return true
			})
		}
		walk("", root)
		return nil
	})
	if err != nil {
		return nil, err
	}
	edits := map[int][]edit{}
	for _, name := range order {
		c := chans[name]
		if len(c.pieces) < 2 {
			continue
		}
		spans := s.spans(string(c.text))
		for _, pc := range c.pieces {
			var out []byte
			at, changed := pc.off, false
			for _, sp := range spans {
				lo, hi := max(sp[0], pc.off), min(sp[1], pc.off+pc.n)
				if lo >= hi {
					continue
				}
				if sp[0] >= pc.off && sp[1] <= pc.off+pc.n {
					continue // whole inside one piece: the per-event scrub takes it
				}
				changed = true
				out = append(out, c.text[at:lo]...)
				if sp[0] >= pc.off {
					out = append(out, Redacted...)
				}
				at = hi
			}
			if !changed {
				continue
			}
			out = append(out, c.text[at:pc.off+pc.n]...)
			edits[pc.ev] = append(edits[pc.ev], edit{at: pc.at, rawLen: pc.rawLen, raw: string(jsonx.AppendString(nil, string(out)))})
		}
	}
	return edits, nil
}

// applyEdits rewrites an event's data (and its raw frame) with the edits.
func applyEdits(ev *Event, edits []edit) {
	if len(edits) == 0 {
		return
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].at > edits[j].at })
	old, d := ev.Data, ev.Data
	for _, e := range edits {
		if e.at+e.rawLen > len(d) {
			continue
		}
		d = d[:e.at] + e.raw + d[e.at+e.rawLen:]
	}
	ev.Data = d
	if ev.Raw != "" {
		if strings.Contains(ev.Raw, old) {
			ev.Raw = strings.Replace(ev.Raw, old, d, 1)
		} else {
			ev.Raw = ""
		}
	}
}
