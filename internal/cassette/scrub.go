package cassette

import (
	"regexp"
	"sort"
	"strings"

	"github.com/jmanhype/runestone/internal/jsonx"
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
		e := &r.Response.Events[i]
		e.Data, e.Raw, e.Event = s.scrub(e.Data), s.scrub(e.Raw), s.scrub(e.Event)
	}
}
