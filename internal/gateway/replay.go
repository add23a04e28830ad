package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/cassette"
)

// replay answers from a recorded cassette when one matches, after auth and limits and
// before routing, so a test suite runs offline with the provider's real answers. A
// strict miss never reaches a provider: it is a 400 cassette_miss naming the nearest
// cassette and the JSON paths that differ, marked not to be retried. It reports
// whether the request was answered.
func (x *exchange) replay() bool {
	rp := x.g.o.Replayer
	c, miss := rp.Match(x.r.URL.Path, x.r.Header, x.body)
	if miss != nil {
		if !rp.Strict() {
			return false // live, and recorded when a recorder is on (record-on-miss)
		}
		x.fail(&apierr.Error{Status: http.StatusBadRequest, Type: apierr.TypeInvalidRequest, Code: "cassette_miss",
			Message: miss.Error(), Header: http.Header{"X-Should-Retry": {"false"}}})
		return true
	}
	x.replayed = true
	x.started = true
	x.g.state.begin(x)
	h := x.w.Header()
	c.CopyHeader(h)
	h.Set("X-Runestone-Provider", "replay")
	if !c.Stream {
		h.Set("Content-Length", strconv.Itoa(len(c.Body)))
		x.w.WriteHeader(c.Status)
		_, _ = x.w.Write(c.Body)
		x.status, x.respBody = c.Status, c.Body
		return true
	}
	sw := newStreamWriter(x.w, x.g.o.KeepAlive, x.g.o.StreamIdle)
	defer sw.stop()
	sw.begin(nil, func() error { return nil })
	err := c.Play(x.r.Context(), func(frame []byte) bool {
		if x.chunks == 0 {
			x.ttft = time.Since(x.start)
		}
		x.chunks++
		if x.codec != nil {
			x.text.AddText(x.codec.text(frame))
		} else if d := frameData(frame); len(d) > 0 && d[0] == '{' {
			x.text.Add(d)
		}
		return sw.frame(frame)
	})
	sw.end()
	x.status = http.StatusOK
	if err != nil {
		x.status, x.errMsg = statusClientClosed, "client disconnected mid-replay"
	}
	return true
}

// endTake writes the cassette of a completed exchange, error answers included (a
// session that met a 429 or a 400 takes the same path on replay), naming the provider
// that answered. An exchange the client left is not kept.
func (x *exchange) endTake() {
	if x.take == nil {
		return
	}
	if x.status == statusClientClosed {
		x.take.Abort()
		return
	}
	switch {
	case x.res != nil:
		x.take.Answered(x.res.Target.Provider.Name(), x.res.Target.Provider.Kind())
	case x.failErr != nil:
		x.take.Answered(x.failErr.Provider, "")
	}
	if err := x.take.End(); errors.Is(err, cassette.ErrNotRecorded) {
		return // End logged why
	} else if err != nil {
		x.g.o.Logger.Warn("could not write a cassette", "request_id", x.id, "error", err)
	}
}
