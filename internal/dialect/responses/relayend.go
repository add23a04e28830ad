package responses

import (
	"bytes"
	"strconv"
	"time"
	"unsafe"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// RelayEnd follows a Responses stream relayed unchanged from a provider that speaks
// Responses, so that a stream the upstream breaks mid-way still ends the way a client
// expects (Codex and the SDKs wait for a terminal event): response.failed for the
// response the stream announced, numbered right after the last event relayed. It is
// not safe for concurrent use.
type RelayEnd struct {
	next int64  // sequence_number of the next event
	resp []byte // the response object of response.created, copied
	done bool   // a terminal event went out: nothing is owed
}

// See observes one relayed frame ("event: NAME\ndata: JSON\n\n").
func (f *RelayEnd) See(frame []byte) {
	i := bytes.Index(frame, []byte("data: "))
	if i < 0 {
		return
	}
	data := bytes.TrimRight(frame[i+6:], "\n")
	js := unsafe.String(unsafe.SliceData(data), len(data))
	// OpenAI writes type and sequence_number first: the lookups stop there (and,
	// unlike GetMany, allocate nothing).
	if seq := gjson.Get(js, "sequence_number"); seq.Type == gjson.Number {
		f.next = seq.Int() + 1
	} else {
		f.next++
	}
	switch gjson.Get(js, "type").Str {
	case "response.created":
		if f.resp == nil {
			if o := gjson.Get(js, "response"); o.IsObject() {
				f.resp = []byte(o.Raw)
			}
		}
	case "response.completed", "response.incomplete", "response.failed":
		f.done = true
	}
}

// Fail appends response.failed for err, after the events seen: the announced response
// with status "failed" and error {code, message}. It appends nothing when a terminal
// event was already relayed.
func (f *RelayEnd) Fail(dst []byte, err *apierr.Error) []byte {
	if f.done {
		return dst
	}
	f.done = true
	resp := f.resp
	if resp == nil {
		// Nothing announced a response: name one, as the encoder would have.
		core := newIDCore()
		o := object{id: "resp_" + core, created: time.Now().Unix(), status: "failed"}
		resp = appendResponse(nil, nil, &o, nil, nil)
	}
	resp, _ = sjson.SetBytes(resp, "status", "failed")
	resp, _ = sjson.SetRawBytes(resp, "error", appendErrorObject(nil, err))
	dst = append(dst, "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":"...)
	dst = strconv.AppendInt(dst, f.next, 10)
	f.next++
	dst = append(dst, `,"response":`...)
	dst = append(dst, resp...)
	return end(dst)
}
