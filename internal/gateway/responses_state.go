package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/dialect/responses"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/reqlog"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/tidwall/gjson"
)

// The Responses API's stored-state endpoints, served from the gateway's own store
// for every response it kept (store not false): a key only ever reaches the
// responses it created, and a deleted one is gone for good (responses_owner.go). The routes to register in Handler:
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
// on failure it has already answered. A natively relayed response whose copy is not
// written yet comes back with no Output.
func (g *Gateway) storedResponse(w http.ResponseWriter, r *http.Request) (*auth.Principal, store.Response, bool) {
	p, e := g.authenticate(r)
	if e != nil {
		apierr.Write(w, e)
		return nil, store.Response{}, false
	}
	id := r.PathValue("id")
	row, err := g.ownResponse(r.Context(), p.KeyID, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		e := responseNotFound(id)
		if g.o.Store == nil {
			e.Message += " This gateway keeps no responses: it runs without a database."
		}
		apierr.Write(w, e)
		return nil, store.Response{}, false
	case err != nil:
		apierr.Write(w, apierr.Internal(err))
		return nil, store.Response{}, false
	}
	return p, row, true
}

// getResponse answers GET /v1/responses/{id} with the response object as it was sent.
func (g *Gateway) getResponse(w http.ResponseWriter, r *http.Request) {
	_, row, ok := g.storedResponse(w, r)
	if !ok {
		return
	}
	if row.Output == nil {
		// Relayed natively a moment ago: the copy is still queued with its log row.
		apierr.Write(w, responseNotFound(row.ID))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(row.Output)
}

// deleteResponse answers DELETE /v1/responses/{id}. A natively relayed response is
// deleted at the provider that keeps it first (a failure there is the answer, and
// nothing changes here, so the client can try again); then the gateway keeps a
// tombstone, so the id can never be continued or read again through it.
func (g *Gateway) deleteResponse(w http.ResponseWriter, r *http.Request) {
	p, row, ok := g.storedResponse(w, r)
	if !ok {
		return
	}
	if row.Native {
		if err := g.deleteUpstream(r.Context(), row); err != nil {
			e := apierr.As(err)
			if e == nil {
				e = apierr.Internal(err)
			}
			apierr.Write(w, e)
			return
		}
	}
	g.issued.markDeleted(row.ID, p.KeyID)
	if g.o.Store != nil {
		err := g.o.Store.DeleteResponse(r.Context(), p.KeyID, row.ID, row.Provider, row.Native)
		switch {
		case errors.Is(err, store.ErrNotFound): // deleted meanwhile
			apierr.Write(w, responseNotFound(row.ID))
			return
		case err != nil:
			apierr.Write(w, apierr.Internal(err))
			return
		}
	}
	writeJSON(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Deleted bool   `json:"deleted"`
	}{row.ID, "response", true})
}

// deleteUpstream deletes a natively relayed response at the provider that keeps it.
// A provider that is no longer configured, or keeps no state it can delete, leaves
// nothing to do here.
func (g *Gateway) deleteUpstream(ctx context.Context, row store.Response) error {
	if g.o.Router == nil {
		return nil
	}
	for _, pr := range g.o.Router.Providers() {
		if pr.Name() != row.Provider {
			continue
		}
		if d, ok := pr.(provider.ResponseDeleter); ok {
			return d.DeleteResponse(ctx, row.ID)
		}
		return nil
	}
	g.o.Logger.Warn("deleted a response whose provider is no longer configured: its copy there stays",
		"response", row.ID, "provider", row.Provider)
	return nil
}

// cancelResponse answers POST /v1/responses/{id}/cancel. Only background responses
// can be cancelled and Runestone runs none, so a known id gets the API's 400 (an
// unknown one its 404).
func (g *Gateway) cancelResponse(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := g.storedResponse(w, r); !ok {
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
	_, row, ok := g.storedResponse(w, r)
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

// continueResponse resolves body's previous_response_id for the key keyID. A
// response this key stored from a translated answer is continued here: body comes
// back with the stored conversation prepended (responses.WithHistory) and local true,
// which suits every target, native or translated. A response this key had relayed
// natively comes back as holder, the provider that keeps its state (body unchanged).
// Anything else (an id the gateway never issued, another key's, one deleted, or one
// pruned with the log) is refused before any upstream call, with the API's own
// previous_response_not_found and the same words whichever it was, so that no key can
// reach or probe another key's conversation through the one provider key they share.
func (g *Gateway) continueResponse(ctx context.Context, keyID string, body []byte) (out []byte, local bool, holder string, _ *apierr.Error) {
	prev := responses.PreviousResponseID(body)
	if prev == "" {
		return body, false, "", nil
	}
	row, err := g.ownResponse(ctx, keyID, prev)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, "", previousGone(prev, "Runestone holds no response with this id for this key (unknown, deleted, expired with the log's retention, or made with another key)")
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

// ownResponse finds the response id made for keyID: in the store, else among the
// native ids this process relayed and whose copy may not be written yet (a native
// row then has no Input or Output). store.ErrNotFound when there is none for this key
// or it was deleted.
func (g *Gateway) ownResponse(ctx context.Context, keyID, id string) (store.Response, error) {
	if g.o.Store != nil {
		row, err := g.o.Store.GetResponse(ctx, keyID, id)
		if !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDeleted) {
			return row, err
		}
	}
	if r, ok := g.issued.lookup(id, keyID); ok {
		if r.deleted {
			return store.Response{}, store.ErrDeleted
		}
		return store.Response{ID: id, KeyID: keyID, Provider: r.provider, Native: true}, nil
	}
	if g.o.Store == nil || !g.o.Store.Shared() {
		return store.Response{}, store.ErrNotFound
	}
	// Several replicas share the store: another one may have relayed this answer a
	// moment ago, its copy still queued with its log row. Look once more after the
	// log's batch interval; only ids nobody holds pay the wait.
	t := time.NewTimer(sharedCopyWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return store.Response{}, ctx.Err()
	case <-t.C:
	}
	return g.o.Store.GetResponse(ctx, keyID, id)
}

// sharedCopyWait is how long a continuation of an id not (yet) in a shared store
// waits for another replica's log writer to write it: twice its batch interval.
const sharedCopyWait = 2 * reqlog.DefaultFlushEvery

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
