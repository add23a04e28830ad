package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/dialect/messages"
	"github.com/jmanhype/runestone/internal/router"
)

// modelObject is OpenAI's Model; created is the gateway's start (names carry no date).
type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// anthropicModel is Anthropic's ModelInfo with the fields every SDK reads. A gateway
// knows no release dates or marketing names, so created_at is the gateway's start
// and display_name is the id.
type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// anthropicList is Anthropic's paged list envelope.
type anthropicList struct {
	Data    []anthropicModel `json:"data"`
	HasMore bool             `json:"has_more"`
	FirstID *string          `json:"first_id"`
	LastID  *string          `json:"last_id"`
}

// wantsAnthropic reports whether the caller speaks Anthropic's API: its SDKs and
// Claude Code send anthropic-version on every request, OpenAI clients never do.
func wantsAnthropic(r *http.Request) bool { return r.Header.Get("Anthropic-Version") != "" }

func (g *Gateway) listModels(w http.ResponseWriter, r *http.Request) {
	anth := wantsAnthropic(r)
	if _, e := g.authenticate(r); e != nil {
		g.writeModelsError(w, anth, e)
		return
	}
	ms := g.o.Router.Models()
	if anth {
		g.listAnthropic(w, r, ms)
		return
	}
	data := make([]modelObject, len(ms))
	for i, m := range ms {
		data[i] = modelObject{ID: m.ID, Object: "model", Created: g.started.Unix(), OwnedBy: m.OwnedBy}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// listAnthropic pages the sorted model list the way Anthropic's API does: limit
// (default 20, 1..1000), after_id or before_id as cursors, has_more when more
// remain in the direction of travel.
func (g *Gateway) listAnthropic(w http.ResponseWriter, r *http.Request, ms []router.Model) {
	q := r.URL.Query()
	limit := 20
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			g.writeModelsError(w, true, apierr.BadRequest("limit", "limit must be an integer from 1 to 1000, got %q", s))
			return
		}
		limit = n
	}
	index := func(id string) int {
		for i, m := range ms {
			if m.ID == id {
				return i
			}
		}
		return -1
	}
	lo, hi := 0, len(ms) // the window the cursor leaves
	if id := q.Get("after_id"); id != "" {
		if lo = index(id) + 1; lo == 0 {
			lo = len(ms) // an unknown cursor: nothing after it
		}
	}
	if id := q.Get("before_id"); id != "" {
		if hi = index(id); hi < 0 {
			hi = 0
		}
	}
	hi = max(hi, lo)
	page, more := ms[lo:hi], false
	if len(page) > limit {
		more = true
		if q.Get("before_id") != "" && q.Get("after_id") == "" {
			page = page[len(page)-limit:] // paging backwards keeps the nearest ones
		} else {
			page = page[:limit]
		}
	}
	out := anthropicList{Data: make([]anthropicModel, len(page)), HasMore: more}
	created := g.started.UTC().Format(time.RFC3339)
	for i, m := range page {
		out.Data[i] = anthropicModel{Type: "model", ID: m.ID, DisplayName: m.ID, CreatedAt: created}
	}
	if len(page) > 0 {
		out.FirstID, out.LastID = &page[0].ID, &page[len(page)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) getModel(w http.ResponseWriter, r *http.Request) {
	anth := wantsAnthropic(r)
	p, e := g.authenticate(r)
	if e != nil {
		g.writeModelsError(w, anth, e)
		return
	}
	id := r.PathValue("model")
	ts := g.o.Router.Resolve(id)
	if len(ts) == 0 || !p.Allows(id) {
		g.writeModelsError(w, anth, apierr.ModelNotFound(id))
		return
	}
	if anth {
		writeJSON(w, http.StatusOK, anthropicModel{Type: "model", ID: id, DisplayName: id,
			CreatedAt: g.started.UTC().Format(time.RFC3339)})
		return
	}
	writeJSON(w, http.StatusOK, modelObject{ID: id, Object: "model", Created: g.started.Unix(), OwnedBy: ts[0].Provider.Name()})
}

// writeModelsError answers in the caller's dialect: OpenAI's envelope, or
// Anthropic's when the request carried anthropic-version.
func (g *Gateway) writeModelsError(w http.ResponseWriter, anthropic bool, e *apierr.Error) {
	if !anthropic {
		apierr.Write(w, e)
		return
	}
	messages.WriteError(w, e, w.Header().Get("X-Request-Id"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
