package gateway

import (
	"errors"
	"net/http"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/dialect/responses"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/tidwall/gjson"
)

// continueResponse handles previous_response_id. A response the gateway translated
// (and so kept) is continued here: its input and output items are put in front of the
// new input, so any provider can answer. A response relayed natively lives at its
// provider: the request goes only to that provider (affinity). An id the gateway never
// saw can only be known to a native provider, so it goes to those.
func (x *exchange) continueResponse(targets []provider.Target) ([]provider.Target, *apierr.Error) {
	prev := gjson.GetBytes(x.body, "previous_response_id").Str
	if prev == "" {
		return targets, nil
	}
	var row store.Response
	err := store.ErrNotFound
	if x.g.o.Store != nil {
		row, err = x.g.o.Store.GetResponse(x.r.Context(), x.p.KeyID, prev)
	}
	switch {
	case err == nil && !row.Native:
		body, herr := responses.WithHistory(x.body, row.Input, row.Output)
		if herr != nil {
			return nil, apierr.BadRequest("previous_response_id", "%v", herr)
		}
		x.body = body // what every provider is sent from here on
		return targets, nil
	case err == nil:
		for _, t := range targets {
			if t.Provider.Name() == row.Provider && provider.Serves(t.Provider, provider.Responses) {
				return []provider.Target{t}, nil
			}
		}
		return nil, previousGone(prev, "it was answered by provider "+row.Provider+", which keeps its state and is not a target of this model")
	case errors.Is(err, store.ErrNotFound):
		var native []provider.Target
		for _, t := range targets {
			if provider.Serves(t.Provider, provider.Responses) {
				native = append(native, t)
			}
		}
		if len(native) == 0 {
			return nil, previousGone(prev, "Runestone has no record of it (deleted, expired with the log's retention, or made by another key)")
		}
		return native, nil
	default:
		return nil, apierr.Internal(err)
	}
}

func previousGone(id, why string) *apierr.Error {
	return &apierr.Error{Status: http.StatusBadRequest, Type: apierr.TypeInvalidRequest, Param: "previous_response_id",
		Code: "previous_response_not_found", Message: "Previous response with id '" + id + "' not found: " + why + "."}
}

// keepResponse stores a response the client may continue or fetch later, unless the
// request said store: false. Translated responses keep their items (the gateway holds
// the state); native ones keep only which provider holds it. It runs before the
// answer's last bytes go out, so a client's next turn always finds it.
func (x *exchange) keepResponse(t provider.Target, object []byte, native bool) {
	st := x.g.o.Store
	if st == nil || x.p == nil || gjson.GetBytes(x.body, "store").Type == gjson.False {
		return
	}
	id := gjson.GetBytes(object, "id").Str
	if id == "" {
		return
	}
	row := store.Response{ID: id, KeyID: x.p.KeyID, CreatedAt: x.start, Model: x.info.model,
		Provider: t.Provider.Name(), Native: native, Output: object}
	if !native {
		row.Input = responses.InputItems(x.body)
	}
	if err := st.PutResponse(x.r.Context(), row); err != nil {
		x.g.o.Logger.Warn("could not keep a response for previous_response_id", "id", id, "error", err)
	}
}
