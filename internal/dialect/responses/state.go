package responses

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// InputItems returns a request's input as GET /v1/responses/{id}/input_items lists
// it: a JSON array of items, each with an id. A string input becomes one user
// message; message items get the canonical shape (type, id, status, role, content
// as parts); other items are kept as sent, with an id added when they had none. An
// unreadable body gives "[]".
func InputItems(body []byte) []byte {
	in := gjson.GetBytes(body, "input")
	core := newIDCore()
	// One buffer for the whole array, sized for the input plus the ids and shapes
	// added: this runs for every stored response, on the request path.
	out := make([]byte, 0, len(in.Raw)+128)
	out = append(out, '[')
	n := 0
	next := func() {
		if n > 0 {
			out = append(out, ',')
		}
		n++
	}
	switch {
	case in.Type == gjson.String:
		next()
		out = appendMessage(out, itemID("msg_", core, 0), "user", "completed", in)
	case in.IsArray():
		in.ForEach(func(_, it gjson.Result) bool {
			if !it.IsObject() {
				return true
			}
			typ := it.Get("type").Str
			if typ == "" && it.Get("role").Exists() {
				typ = "message"
			}
			id := it.Get("id").Str
			if id == "" {
				id = itemID(idPrefix(typ), core, n)
			}
			next()
			if typ == "message" {
				status := it.Get("status").Str
				if status == "" {
					status = "completed"
				}
				out = appendMessage(out, id, it.Get("role").Str, status, it.Get("content"))
				return true
			}
			if it.Get("id").Exists() {
				out = append(out, it.Raw...)
				return true
			}
			out = append(out, `{"id":`...)
			out = jsonx.AppendString(out, id)
			if rest := strings.TrimSpace(strings.TrimSpace(it.Raw)[1:]); len(rest) > 1 {
				out = append(out, ',')
				out = append(out, rest...)
			} else {
				out = append(out, '}')
			}
			return true
		})
	}
	return append(out, ']')
}

func idPrefix(typ string) string {
	switch typ {
	case "message":
		return "msg_"
	case "function_call":
		return "fc_"
	case "custom_tool_call":
		return "ctc_"
	case "reasoning":
		return "rs_"
	}
	return "item_"
}

// appendMessage appends a message item with content as an array of parts; a string
// content becomes one input_text part (output_text for the assistant).
func appendMessage(b []byte, id, role, status string, content gjson.Result) []byte {
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, id)
	b = append(b, `,"type":"message","status":`...)
	b = jsonx.AppendString(b, status)
	b = append(b, `,"role":`...)
	b = jsonx.AppendString(b, role)
	b = append(b, `,"content":`...)
	switch {
	case content.IsArray():
		b = append(b, content.Raw...)
	case content.Type == gjson.String:
		if role == "assistant" {
			b = append(b, `[{"type":"output_text","annotations":[],"text":`...)
		} else {
			b = append(b, `[{"type":"input_text","text":`...)
		}
		b = jsonx.AppendString(b, content.Str)
		b = append(b, "}]"...)
	default:
		b = append(b, "[]"...)
	}
	return append(b, '}')
}

// WithHistory returns body continued from a stored response: its input becomes the
// previous response's input items (prevInput, a JSON array as InputItems gives),
// then that response's output items (prevOutput: the stored response object, or its
// output array), then this request's own input; previous_response_id is removed.
// instructions are not inherited, as in the API: only this body's apply.
func WithHistory(body []byte, prevInput, prevOutput []byte) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("request body is not valid JSON")
	}
	items := []byte{'['}
	n := 0
	add := func(it gjson.Result) bool {
		if !it.IsObject() {
			return true
		}
		if n > 0 {
			items = append(items, ',')
		}
		items = append(items, it.Raw...)
		n++
		return true
	}
	if len(bytes.TrimSpace(prevInput)) > 0 {
		in := gjson.ParseBytes(prevInput)
		if !gjson.ValidBytes(prevInput) || !in.IsArray() {
			return nil, fmt.Errorf("stored input is not a JSON array")
		}
		in.ForEach(func(_, it gjson.Result) bool { return add(it) })
	}
	if len(bytes.TrimSpace(prevOutput)) > 0 {
		out := gjson.ParseBytes(prevOutput)
		if !gjson.ValidBytes(prevOutput) {
			return nil, fmt.Errorf("stored output is not valid JSON")
		}
		if out.IsObject() {
			out = out.Get("output")
		}
		out.ForEach(func(_, it gjson.Result) bool { return add(it) })
	}
	cur := gjson.GetBytes(body, "input")
	switch {
	case cur.Type == gjson.String:
		if n > 0 {
			items = append(items, ',')
		}
		items = append(items, `{"role":"user","content":`...)
		items = append(items, cur.Raw...)
		items = append(items, '}')
	case cur.IsArray():
		cur.ForEach(func(_, it gjson.Result) bool { return add(it) })
	}
	items = append(items, ']')
	out, err := sjson.SetRawBytes(bytes.Clone(body), "input", items)
	if err != nil {
		return nil, err
	}
	return sjson.DeleteBytes(out, "previous_response_id")
}

// StoreRequested reports whether the client wants the response kept: store defaults
// to true in the Responses API, so only an explicit false turns it off.
func StoreRequested(body []byte) bool {
	return gjson.GetBytes(body, "store").Type != gjson.False
}

// PreviousResponseID returns the request's previous_response_id, "" when absent.
func PreviousResponseID(body []byte) string {
	return gjson.GetBytes(body, "previous_response_id").Str
}

// PreviousNotFound is the API's 400 for a previous_response_id the gateway cannot
// continue from (unknown, another key's, or held by a provider that is not the one
// answering).
func PreviousNotFound(id string) *apierr.Error {
	return &apierr.Error{Status: http.StatusBadRequest, Type: apierr.TypeInvalidRequest,
		Code: "previous_response_not_found", Param: "previous_response_id",
		Message: fmt.Sprintf("Previous response with id '%s' not found.", id)}
}
