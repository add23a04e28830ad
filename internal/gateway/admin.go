package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/sse"
	"github.com/jmanhype/runestone/internal/store"
)

// admin guards operations endpoints: loopback clients, or others with the admin key.
// The decision uses the TCP peer address only; X-Forwarded-For is never trusted.
func (g *Gateway) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !g.adminAllowed(r) {
			g.refuse(w, r, &apierr.Error{Status: http.StatusUnauthorized, Type: apierr.TypeInvalidRequest,
				Code: apierr.CodeInvalidAPIKey, Message: "Operations endpoints answer loopback clients when no admin key is set; once auth.admin_key is set they need it from every client (Authorization: Bearer <admin key>)."})
			return
		}
		next(w, r)
	}
}

func (g *Gateway) adminAllowed(r *http.Request) bool {
	if g.o.AdminKey != "" {
		// Once an admin key is set it is required from every peer, loopback included:
		// a same-host reverse proxy, an ssh -R tunnel or a rebinding page all arrive
		// from 127.0.0.1.
		if len(r.Header.Values("Authorization")) != 1 {
			return false
		}
		tok, ok := bearer(r.Header.Get("Authorization"))
		a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(g.o.AdminKey))
		return ok && subtle.ConstantTimeCompare(a[:], b[:]) == 1
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func bearer(h string) (string, bool) {
	// Only HTTP's optional whitespace (space, tab) is trimmed: "Bearer <key>\n" is not the key.
	scheme, tok, ok := strings.Cut(strings.Trim(h, " \t"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.Trim(tok, " \t")
	return tok, tok != ""
}

// health is ok, degraded (some provider's breaker not closed) or down (none usable).
func (g *Gateway) health(w http.ResponseWriter, r *http.Request) {
	ps := g.providerStates()
	usable := 0
	for _, p := range ps {
		if p.Breaker != "open" {
			usable++
		}
	}
	status, code := "ok", http.StatusOK
	switch {
	case usable == 0:
		status, code = "down", http.StatusServiceUnavailable
	case usable < len(ps):
		status = "degraded"
	}
	body := map[string]any{"status": status, "version": g.o.Version,
		"providers": len(ps), "providers_usable": usable, "uptime_s": int64(time.Since(g.started).Seconds())}
	// A shared limiter (Redis) that cannot be reached degrades the gateway but is no
	// reason to restart it: the status code stays 200.
	if h, ok := g.o.Limiter.(interface{ Healthy() bool }); ok && !h.Healthy() {
		body["limits"] = "unreachable"
		if status == "ok" {
			body["status"] = "degraded"
		}
	}
	writeJSON(w, code, body)
}

func (g *Gateway) providerStates() []events.ProviderState {
	if g.o.Executor == nil {
		return nil
	}
	return g.o.Executor.Health()
}

func (g *Gateway) healthProviders(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, adminapi.ProvidersBody{Providers: g.providerStates()})
}

func (g *Gateway) healthMetrics(w http.ResponseWriter, r *http.Request) {
	if g.o.Metrics == nil {
		writeJSON(w, http.StatusOK, map[string]any{"totals": g.state.totals()})
		return
	}
	writeJSON(w, http.StatusOK, g.o.Metrics.Summary())
}

func (g *Gateway) metrics(w http.ResponseWriter, r *http.Request) {
	if g.o.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	g.o.Metrics.Handler().ServeHTTP(w, r)
}

// Totals are the running counts (requests, in flight, tokens, cost), without the
// per-request snapshots State builds.
func (g *Gateway) Totals() events.Totals { return g.state.totals() }

// State is the /admin/state snapshot (also the in-process dashboard's start).
func (g *Gateway) State(ctx context.Context) events.State {
	inflight, recent := g.state.snapshot()
	st := events.State{Version: g.o.Version, Addr: g.o.Addr, Started: g.started, AuthOn: g.o.AuthEnabled,
		Providers: g.providerStates(), InFlight: inflight, Recent: recent, Totals: g.state.totals()}
	if g.o.ProviderInfo != nil { // what the dashboard's provider detail shows
		info := map[string]adminapi.ProviderInfo{}
		for _, pi := range g.o.ProviderInfo() {
			info[pi.Name] = pi
		}
		for i := range st.Providers {
			pi := info[st.Providers[i].Name]
			st.Providers[i].BaseURL, st.Providers[i].Models = pi.BaseURL, pi.Models
		}
	}
	st.Keys = g.KeyLimits(ctx)
	return st
}

// KeyLimits is the limiter snapshot with each key's spend and budget filled in. A
// shared budget book answers for every key in one round trip.
func (g *Gateway) KeyLimits(ctx context.Context) []events.KeyLimits {
	if g.o.Limiter == nil {
		return nil
	}
	ks := g.o.Limiter.Snapshot()
	principals := map[string]*auth.Principal{}
	if g.o.Auth != nil {
		for _, p := range g.o.Auth.Principals() {
			principals[p.KeyID] = p
		}
	}
	// Each key's spend is its current period's (its lifetime's without a period).
	now := time.Now()
	if g.o.Now != nil {
		now = g.o.Now()
	}
	accts := make([]budget.Account, len(ks))
	for i := range ks {
		accts[i] = budget.Account{Key: ks[i].KeyID}
		if p := principals[ks[i].KeyID]; p != nil {
			accts[i] = budget.For(p.KeyID, p.BudgetPeriod, now)
		}
	}
	spent := g.o.Spend.Spent(ctx, accts)
	for i := range ks {
		ks[i].SpentUSD = spent[i]
		if p := principals[ks[i].KeyID]; p != nil {
			ks[i].BudgetUSD = p.BudgetUSD
			ks[i].Models = p.Models
			if p.BudgetPeriod != budget.None {
				ks[i].BudgetPeriod = string(p.BudgetPeriod)
			}
		}
	}
	return ks
}

func (g *Gateway) adminState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, g.State(r.Context()))
}

// Detail returns one request's log rows as a dashboard detail (newest match).
// An id the log does not hold is events.ErrRequestNotFound (whichever way the store
// says so); other errors are the database's.
func (g *Gateway) Detail(ctx context.Context, id string) (*events.RequestDetail, error) {
	if g.o.Store == nil {
		return nil, errNoStore
	}
	rows, err := g.o.Store.RequestsByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, events.ErrRequestNotFound
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, events.ErrRequestNotFound
	}
	return detailFromRow(rows[len(rows)-1]), nil
}

var errNoStore = errors.New("the request log is off")

func (g *Gateway) adminRequest(w http.ResponseWriter, r *http.Request) {
	d, err := g.Detail(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, events.ErrRequestNotFound) || errors.Is(err, errNoStore):
		apierr.Write(w, &apierr.Error{Status: http.StatusNotFound, Type: apierr.TypeInvalidRequest, Code: "not_found",
			Message: "no logged request with that id"})
		return
	case err != nil:
		// A database failure is not "not found": say so, so the dashboard and
		// scripts do not conclude the request never happened.
		g.o.Logger.Warn("read request detail", "id", r.PathValue("id"), "err", err)
		apierr.Write(w, apierr.Internal(err))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// adminEvents streams the event bus as SSE until the client leaves.
func (g *Gateway) adminEvents(w http.ResponseWriter, r *http.Request) {
	if g.o.Bus == nil {
		http.NotFound(w, r)
		return
	}
	sub := g.o.Bus.Subscribe(4096)
	defer sub.Close()
	sse.Headers(w.Header())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	var buf []byte
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-g.drain:
			return
		case <-tick.C:
			if _, err := w.Write(sse.KeepAlive); err != nil || rc.Flush() != nil {
				return
			}
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			b, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			buf = sse.AppendData(buf[:0], b)
			if _, err := w.Write(buf); err != nil {
				return
			}
			// Coalesce: flush only when nothing else is waiting.
			if len(sub.C) == 0 {
				if err := rc.Flush(); err != nil {
					return
				}
			}
		}
	}
}

func (g *Gateway) adminProviderInfo(w http.ResponseWriter, r *http.Request) {
	if g.o.ProviderInfo == nil {
		g.notFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, g.o.ProviderInfo())
}

// adminProviderTest probes from inside the gateway, with its keys and network: a
// probe from the caller's shell would test the wrong environment.
func (g *Gateway) adminProviderTest(w http.ResponseWriter, r *http.Request) {
	if g.o.TestProviders == nil {
		g.notFound(w, r)
		return
	}
	res := g.o.TestProviders(r.Context(), r.URL.Query().Get("name"))
	if res == nil {
		res = []adminapi.ProbeResult{}
	}
	writeJSON(w, http.StatusOK, res)
}
