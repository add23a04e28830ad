package gateway

import (
	"bytes"
	"io"
	"net/http"
	"unsafe"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/dialect/messages"
	"github.com/jmanhype/runestone/internal/dialect/responses"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/tidwall/gjson"
)

// codec is one inbound dialect's side of the translation seam (see docs/architecture.md).
// Chat has none: it is the neutral form every provider answers. A request in a codec's
// dialect is relayed as bytes to a provider that serves the dialect natively and
// translated through chat for every other provider; the gateway picks per attempt, so
// failover may cross dialects.
type codec struct {
	name     string
	inspect  func(body []byte) (model string, stream bool, err *apierr.Error) // for a body checkBody passed
	toChat   func(body []byte) ([]byte, []string, error)
	fromChat func(req, chat []byte, model string, u provider.Usage) ([]byte, error)
	// encoder translates one chat stream into the dialect; final (nil when the dialect
	// keeps no state) returns the answer object once the stream has ended.
	encoder func(model string, req []byte) (enc encoder, final func() []byte)
	// relayEnd (nil when the dialect needs nothing of what was sent) follows a native
	// relay so that a break can end it in the dialect right after its last event.
	relayEnd func() relayEnd
	// writeError answers with an error made by the gateway, in the dialect's envelope.
	writeError func(w http.ResponseWriter, e *apierr.Error, requestID string)
	// errorFrame is the error event the panic handler ends a stream with, knowing
	// nothing of the exchange (streamFail ends every other broken stream).
	errorFrame func(dst []byte, e *apierr.Error) []byte
	// text returns the answer text an event carries, for the log and estimates.
	text     func(frame []byte) string
	estimate func(est *usage.Estimator, body []byte) (int, error)
}

// encoder turns a chat.completion.chunk stream into a dialect's SSE frames.
type encoder interface {
	Chunk(dst, chunk []byte) []byte
	Finish(dst []byte, u provider.Usage) []byte
	streamFailer
}

// streamFailer ends a stream whose headers are out with the dialect's failure
// event(s), numbered after what the client already got.
type streamFailer interface {
	Fail(dst []byte, e *apierr.Error) []byte
}

// relayEnd follows a native relay frame by frame, for its failure event.
type relayEnd interface {
	See(frame []byte)
	streamFailer
}

var codecs = map[provider.Endpoint]*codec{
	provider.Messages: {
		name: "messages", inspect: messages.InspectChecked, toChat: messages.ToChat,
		fromChat: func(_, chat []byte, model string, u provider.Usage) ([]byte, error) {
			return messages.FromChat(chat, model, u)
		},
		encoder: func(model string, _ []byte) (encoder, func() []byte) {
			return messages.NewStreamEncoder(model), nil
		},
		writeError: messages.WriteError,
		errorFrame: func(dst []byte, e *apierr.Error) []byte {
			dst = append(dst, "event: error\ndata: "...)
			return append(messages.AppendError(dst, e, ""), '\n', '\n')
		},
		text:     messagesText,
		estimate: messages.EstimateInputTokens,
	},
	provider.Responses: {
		name: "responses", inspect: responses.InspectChecked, toChat: responses.ToChat,
		fromChat: func(req, chat []byte, model string, u provider.Usage) ([]byte, error) {
			return responses.ParseRequest(req).FromChat(chat, model, u)
		},
		encoder: func(model string, req []byte) (encoder, func() []byte) {
			e := responses.ParseRequest(req).NewStreamEncoder(model)
			return e, e.Response // kept for GET /v1/responses/{id} and previous_response_id
		},
		relayEnd:   func() relayEnd { return &responses.RelayEnd{} },
		writeError: responses.WriteError,
		errorFrame: responsesErrorFrame,
		text:       responsesText,
		estimate:   responses.EstimateInputTokens,
	},
	// Remote compaction (Codex): relayed to a provider serving it, otherwise answered
	// from a summary the chat model writes. It never streams.
	provider.ResponsesCompact: {
		name: "responses",
		inspect: func(body []byte) (string, bool, *apierr.Error) {
			model, _, err := responses.InspectChecked(body)
			return model, false, err
		},
		toChat: responses.CompactToChat,
		fromChat: func(req, chat []byte, _ string, u provider.Usage) ([]byte, error) {
			return responses.CompactFromChat(req, chat, u)
		},
		encoder: func(model string, req []byte) (encoder, func() []byte) {
			return responses.ParseRequest(req).NewStreamEncoder(model), nil
		},
		writeError: responses.WriteError,
		errorFrame: responsesErrorFrame,
		text:       responsesText,
		estimate:   responses.EstimateInputTokens,
	},
}

// responsesErrorFrame is the error event that ends a broken native Responses relay.
func responsesErrorFrame(dst []byte, e *apierr.Error) []byte {
	dst = append(dst, `event: error`+"\n"+`data: {"type":"error","code":`...)
	dst = jsonx.AppendString(dst, e.Code)
	dst = append(dst, `,"message":`...)
	dst = jsonx.AppendString(dst, e.Message)
	return append(dst, `,"param":null}`+"\n\n"...)
}

// frameData returns the data of a frame as the gateway writes it (one data line).
func frameData(frame []byte) []byte {
	i := bytes.Index(frame, []byte("data: "))
	if i < 0 {
		return nil
	}
	return bytes.TrimRight(frame[i+6:], "\n")
}

// view is a string over b without a copy, for gjson lookups whose results are
// appended elsewhere before b changes.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func messagesText(frame []byte) string {
	if !bytes.Contains(frame, []byte(`_delta"`)) {
		return ""
	}
	// One walk to delta.text (a text_delta, nearly every frame); a second only for
	// frames without it (input_json_delta).
	data := view(frameData(frame))
	if t := gjson.Get(data, "delta.text"); t.Exists() {
		return t.Str
	}
	return gjson.Get(data, "delta.partial_json").Str
}

func responsesText(frame []byte) string {
	if !bytes.Contains(frame, []byte(`.delta"`)) {
		return ""
	}
	return gjson.Get(view(frameData(frame)), "delta").Str
}

// encodedStream translates a chat stream into the client's dialect as it is relayed.
type encodedStream struct {
	provider.Stream
	enc      encoder
	buf      []byte
	finished bool
	onChunk  func(chunk []byte) // sees each chat chunk (text capture)
	onFinish func()             // runs before the closing frames go out (state kept)
}

func (s *encodedStream) Next() ([]byte, error) {
	for {
		if s.finished {
			return nil, io.EOF
		}
		chunk, err := s.Stream.Next()
		if err == io.EOF {
			s.finished = true
			s.buf = s.enc.Finish(s.buf[:0], s.Stream.Usage())
			if s.onFinish != nil {
				s.onFinish()
			}
			return s.buf, nil
		}
		if err != nil {
			return nil, err
		}
		if s.onChunk != nil {
			s.onChunk(chunk)
		}
		s.buf = s.enc.Chunk(s.buf[:0], chunk)
		if len(s.buf) > 0 {
			return s.buf, nil
		}
	}
}
