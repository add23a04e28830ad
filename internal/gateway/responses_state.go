package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/dialect/responses"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/tidwall/gjson"
)

// The Responses API's stored-state endpoints, served from the gateway's own store
// for every response it kept (store not false): a key only ever reaches the
// responses it created. The routes to register in Handler:
//
//	GET    /v1/responses/{id}              getResponse
//	DELETE /v1/responses/{id}              deleteResponse
//	GET    /v1/responses/{id}/input_items  listInputItems
//	POST   /v1/responses/{id}/cancel       cancelResponse

// responseNotFound is OpenAI's 404 for an unknown response id.
func responseNotFound(id string) *apierr.Error {
	return &apierr.Error{Status: http.StatusNotFound, Type: apierr.TypeInvalidRequest,
		Message: fmt.Sprintf("Response with id '%s' not found.", id)}
}

// storedResponse authenticates the caller and loads the response named in the path;
// on failure it has already answered.
func (g *Gateway) storedResponse(w http.ResponseWriter, r *http.Request) (store.Response, bool) {
	p, e := g.authenticate(r)
	if e != nil {
		apierr.Write(w, e)
		return store.Response{}, false
	}
	id := r.PathValue("id")
	if g.o.Store == nil {
		e := responseNotFound(id)
		e.Message += " This gateway keeps no responses: it runs without a database."
		apierr.Write(w, e)
		return store.Response{}, false
	}
	row, err := g.o.Store.GetResponse(r.Context(), p.KeyID, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		apierr.Write(w, responseNotFound(id))
		return store.Response{}, false
	case err != nil:
		apierr.Write(w, apierr.Internal(err))
		return store.Response{}, false
	}
	return row, true
}

// getResponse answers GET /v1/responses/{id} with the response object as it was sent.
func (g *Gateway) getResponse(w http.ResponseWriter, r *http.Request) {
	row, ok := g.storedResponse(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(row.Output)
}

// deleteResponse answers DELETE /v1/responses/{id}.
func (g *Gateway) deleteResponse(w http.ResponseWriter, r *http.Request) {
	row, ok := g.storedResponse(w, r)
	if !ok {
		return
	}
	err := g.o.Store.DeleteResponse(r.Context(), row.KeyID, row.ID)
	switch {
	case errors.Is(err, store.ErrNotFound): // deleted meanwhile
		apierr.Write(w, responseNotFound(row.ID))
		return
	case err != nil:
		apierr.Write(w, apierr.Internal(err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Deleted bool   `json:"deleted"`
	}{row.ID, "response", true})
}

// cancelResponse answers POST /v1/responses/{id}/cancel. Only background responses
// can be cancelled and Runestone runs none, so a known id gets the API's 400 (an
// unknown one its 404).
func (g *Gateway) cancelResponse(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.storedResponse(w, r); !ok {
		return
	}
	apierr.Write(w, apierr.BadRequest("",
		"Only background responses can be cancelled; Runestone does not run background responses."))
}

// listInputItems answers GET /v1/responses/{id}/input_items: the stored input items
// as an OpenAI list, with limit (1-100, default 20), order (asc or desc, default
// desc: newest first) and after (an item id: the page starts after it).
func (g *Gateway) listInputItems(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			apierr.Write(w, apierr.BadRequest("limit", "Invalid 'limit': expected an integer between 1 and 100, got %q.", v))
			return
		}
		limit = n
	}
	order := q.Get("order")
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		apierr.Write(w, apierr.BadRequest("order", "Invalid 'order': expected 'asc' or 'desc', got %q.", order))
		return
	}
	row, ok := g.storedResponse(w, r)
	if !ok {
		return
	}
	items := gjson.ParseBytes(row.Input).Array()
	if order == "desc" {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	if after := q.Get("after"); after != "" {
		found := false
		for i, it := range items {
			if it.Get("id").Str == after {
				items, found = items[i+1:], true
				break
			}
		}
		if !found {
			apierr.Write(w, apierr.BadRequest("after", "No input item with id '%s' in response '%s'.", after, row.ID))
			return
		}
	}
	hasMore := len(items) > limit
	if hasMore {
		items = items[:limit]
	}
	b := make([]byte, 0, len(row.Input)+128)
	b = append(b, `{"object":"list","data":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it.Raw...)
	}
	b = append(b, `],"first_id":`...)
	b = appendIDOrNull(b, items, 0)
	b = append(b, `,"last_id":`...)
	b = appendIDOrNull(b, items, len(items)-1)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func appendIDOrNull(b []byte, items []gjson.Result, i int) []byte {
	if i < 0 || i >= len(items) {
		return append(b, "null"...)
	}
	if id := items[i].Get("id"); id.Type == gjson.String {
		return append(b, id.Raw...)
	}
	return append(b, "null"...)
}

// continueResponse resolves body's previous_response_id from the gateway's store:
// when the named response is one this key stored from a translated answer, it
// returns body with the stored conversation prepended (responses.WithHistory) and
// local true; that body suits every target, native or translated. Otherwise (no
// previous_response_id, no store, unknown id, or a response a native provider holds)
// it returns body unchanged and local false: a native target may still know the id,
// while a translated target must answer responses.PreviousNotFound when
// responses.PreviousResponseID(body) != "". holder names the provider that keeps a
// natively relayed response ("" otherwise).
func (g *Gateway) continueResponse(ctx context.Context, keyID string, body []byte) (out []byte, local bool, holder string, _ *apierr.Error) {
	prev := responses.PreviousResponseID(body)
	if prev == "" || g.o.Store == nil {
		return body, false, "", nil
	}
	row, err := g.o.Store.GetResponse(ctx, keyID, prev)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return body, false, "", nil
	case err != nil:
		return nil, false, "", apierr.Internal(err)
	case row.Native:
		return body, false, row.Provider, nil
	}
	out, err = responses.WithHistory(body, row.Input, row.Output)
	if err != nil {
		return nil, false, "", apierr.Internal(fmt.Errorf("continue response %s: %w", prev, err))
	}
	return out, true, "", nil
}

// saveResponse keeps a served answer for GET, input_items and previous_response_id,
// unless the client sent store:false or the gateway has no store. body is the
// request as sent upstream after continueResponse (so the stored input holds the
// whole conversation); output is the response object as sent (FromChat's answer, or
// StreamEncoder.Response()); native marks an answer relayed from a provider that
// keeps the state itself. Errors are the caller's to log: a response that could not
// be saved must not fail the request that produced it.
func (g *Gateway) saveResponse(ctx context.Context, keyID, model, provider string, native bool, clientBody, body, output []byte) error {
	r, err := g.responseRecord(keyID, model, provider, native, clientBody, body, output)
	if r == nil || err != nil {
		return err
	}
	return g.o.Store.PutResponse(ctx, *r)
}

// responseRecord is what saveResponse stores; nil when the request said store: false
// (or there is no store).
func (g *Gateway) responseRecord(keyID, model, provider string, native bool, clientBody, body, output []byte) (*store.Response, error) {
	if g.o.Store == nil || !responses.StoreRequested(clientBody) {
		return nil, nil
	}
	id := gjson.GetBytes(output, "id").Str
	if id == "" {
		return nil, errors.New("save response: the response object has no id")
	}
	return &store.Response{ID: id, KeyID: keyID, CreatedAt: time.Now(), Model: model,
		Provider: provider, Native: native, Input: responses.InputItems(body), Output: output}, nil
}
