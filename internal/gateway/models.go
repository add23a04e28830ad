package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/jmanhype/runestone/internal/apierr"
)

// modelObject is OpenAI's Model; created is the gateway's start (names carry no date).
type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (g *Gateway) listModels(w http.ResponseWriter, r *http.Request) {
	if _, e := g.authenticate(r); e != nil {
		apierr.Write(w, e)
		return
	}
	ms := g.o.Router.Models()
	data := make([]modelObject, len(ms))
	for i, m := range ms {
		data[i] = modelObject{ID: m.ID, Object: "model", Created: g.started.Unix(), OwnedBy: m.OwnedBy}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (g *Gateway) getModel(w http.ResponseWriter, r *http.Request) {
	p, e := g.authenticate(r)
	if e != nil {
		apierr.Write(w, e)
		return
	}
	id := r.PathValue("model")
	ts := g.o.Router.Resolve(id)
	if len(ts) == 0 || !p.Allows(id) {
		apierr.Write(w, apierr.ModelNotFound(id))
		return
	}
	writeJSON(w, http.StatusOK, modelObject{ID: id, Object: "model", Created: g.started.Unix(), OwnedBy: ts[0].Provider.Name()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
