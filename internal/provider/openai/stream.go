package openai

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/sse"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// stream relays an upstream SSE body event by event.
type stream struct {
	name    string
	secrets []string
	call    *provider.Call
	body    io.ReadCloser
	r       *sse.Reader
	usage   provider.Usage
	buf     []byte
	once    sync.Once
	done    bool
}

func newStream(name string, call *provider.Call, body io.ReadCloser, secrets []string) *stream {
	return &stream{name: name, secrets: secrets, call: call, body: body, r: sse.NewReader(body)}
}

var (
	doneMarker = []byte("[DONE]")
	usageNull  = []byte(`,"usage":null`)
)

// Next implements provider.Stream.
func (s *stream) Next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	for {
		_, data, err := s.r.Next()
		if err != nil {
			if err == io.EOF {
				return nil, apierr.BadUpstream(s.name, "the stream ended before [DONE]")
			}
			if errors.Is(err, sse.ErrEventTooLarge) {
				return nil, apierr.BadUpstream(s.name, err.Error())
			}
			return nil, apierr.Unreachable(s.name, err)
		}
		if bytes.HasPrefix(data, doneMarker) {
			s.done = true
			return nil, io.EOF
		}
		if len(data) == 0 {
			continue
		}
		// Cheap checks before any parsing: most chunks have neither key filled.
		if bytes.Contains(data, []byte(`"error"`)) {
			if env := gjson.GetBytes(data, "error"); env.IsObject() {
				return nil, streamError(s.name, env).Redact(s.secrets)
			}
		}
		if hasUsageObject(data) {
			if u := ParseUsage(data); u.Reported {
				s.usage = u
				if !s.call.IncludeUsage && gjson.GetBytes(data, "choices.#").Int() == 0 {
					continue // the client did not ask for the usage chunk: keep it for accounting only
				}
			}
		}
		if !s.call.IncludeUsage {
			if i := bytes.Index(data, usageNull); i >= 0 {
				s.buf = append(append(s.buf[:0], data[:i]...), data[i+len(usageNull):]...)
				data = s.buf
			}
		}
		if s.call.Model != s.call.ClientModel {
			if b, err := sjson.SetBytes(data, "model", s.call.ClientModel); err == nil {
				data = b
			}
		}
		return data, nil
	}
}

// hasUsageObject reports a "usage" key whose value is an object, without parsing the
// chunk: with include_usage forced on, every other chunk carries "usage":null.
func hasUsageObject(data []byte) bool {
	i := bytes.LastIndex(data, []byte(`"usage"`))
	if i < 0 {
		return false
	}
	rest := bytes.TrimLeft(data[i+len(`"usage"`):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	return len(rest) > 0 && rest[0] == '{'
}

func streamError(name string, env gjson.Result) *apierr.Error {
	return &apierr.Error{Status: 502, Provider: name, Type: orDefault(env.Get("type").String(), apierr.TypeServer),
		Code: env.Get("code").String(), Param: env.Get("param").String(),
		Message: orDefault(env.Get("message").String(), "the upstream reported an error mid-stream")}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Usage implements provider.Stream.
func (s *stream) Usage() provider.Usage { return s.usage }

// Close implements provider.Stream.
func (s *stream) Close() error {
	var err error
	s.once.Do(func() { err = s.body.Close() })
	return err
}
