package gateway

import (
	"context"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/dialect/responses"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

// continueResponse handles previous_response_id. A response the gateway translated
// (and so kept) is continued here: its input and output items are put in front of the
// new input, so any provider can answer. A response relayed natively lives at its
// provider: the request goes only to that provider (affinity). Any other id (never
// issued here, another key's, deleted) was refused by Gateway.continueResponse.
func (x *exchange) continueResponse(targets []provider.Target) ([]provider.Target, *apierr.Error) {
	prev := responses.PreviousResponseID(x.body)
	if prev == "" {
		return targets, nil
	}
	body, local, holder, aerr := x.g.continueResponse(x.r.Context(), x.p.KeyID, x.body)
	if aerr != nil {
		return nil, aerr
	}
	if local {
		x.body = body // what every provider is sent from here on
		return targets, nil
	}
	var native []provider.Target
	for _, t := range targets {
		if provider.Serves(t.Provider, provider.Responses) && t.Provider.Name() == holder {
			native = append(native, t)
		}
	}
	if len(native) == 0 {
		return nil, previousGone(prev, "it was answered by provider "+holder+", which keeps its state and is not a target of this model")
	}
	return native, nil
}

func previousGone(id, why string) *apierr.Error {
	e := responses.PreviousNotFound(id)
	e.Message += " " + why + "."
	return e
}

// keepResponse stores a response the client may continue or fetch later (unless the
// request said store: false). It runs before the answer's last bytes go out, so a
// client's next turn always finds it; a failure is logged, never the request's.
func (x *exchange) keepResponse(t provider.Target, object []byte, native bool) {
	if x.p == nil {
		return
	}
	if native && responses.StoreRequested(x.body) {
		// Remembered at once: the next turn may come before the copy below is written.
		x.g.issued.add(gjson.GetBytes(object, "id").Str, x.p.KeyID, t.Provider.Name())
	}
	if native && x.g.o.Log != nil {
		// The provider keeps a natively relayed answer's state, so the next turn finds
		// it there whether or not our copy is written yet: the copy rides with the
		// request-log row, in the log writer's transaction, off the request path
		// (a synchronous write here was ~100 µs of every Responses request).
		r, err := x.g.responseRecord(x.p.KeyID, x.info.model, t.Provider.Name(), true, x.body, x.body, object)
		if err != nil {
			x.g.o.Logger.Warn("could not keep a response for previous_response_id", "error", err)
		}
		x.keep = r
		return
	}
	if err := x.g.saveResponse(context.WithoutCancel(x.r.Context()), x.p.KeyID, x.info.model, t.Provider.Name(), native, x.body, x.body, object); err != nil {
		x.g.o.Logger.Warn("could not keep a response for previous_response_id", "error", err)
	}
}
