// Package responses is a temporary stub (replaced by the messages branch).
package responses

import (
	"github.com/tidwall/gjson"
	"net/http"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/usage"
)

func ToChat(body []byte) ([]byte, []string, error)                         { return body, nil, nil }
func FromChat(chat []byte, model string, u provider.Usage) ([]byte, error) { return chat, nil }

type StreamEncoder struct{}

func NewStreamEncoder(model string) *StreamEncoder                        { return &StreamEncoder{} }
func (e *StreamEncoder) Chunk(dst, chunk []byte) []byte                   { return dst }
func (e *StreamEncoder) Finish(dst []byte, u provider.Usage) []byte       { return dst }
func (e *StreamEncoder) Fail(dst []byte, err *apierr.Error) []byte        { return dst }
func AppendError(dst []byte, e *apierr.Error, requestID string) []byte    { return e.AppendJSON(dst) }
func WriteError(w http.ResponseWriter, e *apierr.Error, requestID string) { apierr.Write(w, e) }

type UsageScanner struct{}

func (s *UsageScanner) Event(name string, data []byte) {}
func (s *UsageScanner) Usage() provider.Usage          { return provider.Usage{} }
func BodyUsage(body []byte) provider.Usage             { return provider.Usage{} }
func Inspect(body []byte) (string, bool, *apierr.Error) {
	return gjson.GetBytes(body, "model").Str, gjson.GetBytes(body, "stream").Bool(), nil
}
func EstimateInputTokens(est *usage.Estimator, body []byte) (int, error)    { return 0, nil }
func (e *StreamEncoder) Response() []byte                                   { return nil }
func InputItems(body []byte) []byte                                         { return nil }
func WithHistory(body []byte, prevInput, prevOutput []byte) ([]byte, error) { return body, nil }
