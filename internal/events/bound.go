package events

import (
	"strings"
	"unicode/utf8"
)

// Byte caps on what an event keeps of client- or upstream-supplied text. Events live
// on in the recent-requests ring (/admin/state), in every subscriber's queue and in the
// request log, so each field is cut to a size that says what happened, and copied,
// never a view into a request or answer body that would keep the whole body alive.
const (
	MaxName    = 320       // model names (the gateway refuses names past 256 bytes)
	MaxError   = 2048      // an error's words
	MaxSession = 256       // a client's session id
	MaxDropped = 64        // how many dropped field names are listed
	maxField   = 128       // one dropped field name
	ellipsis   = "…"       // marks a cut
	maxCut     = 1<<16 - 1 // guard for Clip's arithmetic
)

// Clip returns s cut to at most n bytes (on a rune boundary, with "…" marking the
// cut) in a string of its own. A string that fits is copied only when copyAlways is
// set: the caller's strings that may alias a body (errors quoting it) must be.
func Clip(s string, n int, copyAlways bool) string {
	if len(s) <= n {
		if copyAlways {
			return strings.Clone(s)
		}
		return s
	}
	n = min(max(n-len(ellipsis), 0), maxCut)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n]) + ellipsis
}

// Bound cuts and copies r's client- and upstream-supplied text to the caps above.
func (r *Request) Bound() {
	r.Model = Clip(r.Model, MaxName, false)
	r.UpstreamModel = Clip(r.UpstreamModel, MaxName, false)
	r.Endpoint = Clip(r.Endpoint, MaxName, false)
	r.Session = Clip(r.Session, MaxSession, true)
	if r.Error != "" {
		r.Error = Clip(r.Error, MaxError, true)
	}
	if len(r.Dropped) > 0 {
		n := min(len(r.Dropped), MaxDropped)
		d := make([]string, n)
		for i := range d {
			d[i] = Clip(r.Dropped[i], maxField, true)
		}
		r.Dropped = d
	}
}

func (r *Request) oversized() bool {
	return len(r.Model) > MaxName || len(r.UpstreamModel) > MaxName || len(r.Endpoint) > MaxName ||
		len(r.Session) > MaxSession || len(r.Error) > MaxError || len(r.Dropped) > MaxDropped
}

// bound returns e with every text it carries within the caps (copies of the parts
// that needed it; the caller's values are not changed). The gateway bounds its
// request events where it builds them (with copies); this is the backstop for every
// other producer.
func bound(e Event) Event {
	if r := e.Request; r != nil && (r.oversized() || len(r.Providers) > 0) {
		// Providers may be a view into a larger value (the executor's result, which
		// holds the answer): a subscriber's queue keeps a copy of the names instead.
		c := *r
		c.Bound()
		c.Providers = append([]string(nil), r.Providers...)
		e.Request = &c
	}
	if a := e.Attempt; a != nil && (len(a.Error) > MaxError || len(a.Model) > MaxName) {
		c := *a
		c.Error, c.Model = Clip(c.Error, MaxError, true), Clip(c.Model, MaxName, true)
		e.Attempt = &c
	}
	if d := e.Denied; d != nil && (len(d.Reason) > MaxError || len(d.Model) > MaxName) {
		c := *d
		c.Reason, c.Model = Clip(c.Reason, MaxError, true), Clip(c.Model, MaxName, true)
		e.Denied = &c
	}
	return e
}
