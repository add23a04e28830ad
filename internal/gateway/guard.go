package gateway

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/auth"
	"github.com/jmanhype/runestone/internal/dialect/messages"
	"github.com/jmanhype/runestone/internal/events"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/store"
)

// This file holds the checks that keep a web page, a DNS-rebinding attacker or one
// malformed body from using or breaking the gateway. They are path-prefix based and
// dialect-agnostic: every /v1/* endpoint (chat, completions, embeddings, messages,
// responses) gets them without knowing about them. See docs/security.md.

// maxModelName caps a client-supplied model name: names are map keys in metrics,
// live state and logs, so a megabyte name would be held many times over.
const maxModelName = 256

// origins is the configured browser policy.
type origins struct {
	any   bool
	exact map[string]bool
}

func newOrigins(list []string) origins {
	o := origins{exact: map[string]bool{}}
	for _, s := range list {
		s = strings.TrimRight(strings.ToLower(strings.TrimSpace(s)), "/")
		switch s {
		case "":
		case "*":
			o.any = true
		default:
			o.exact[s] = true
		}
	}
	return o
}

func (o origins) allows(origin string) bool {
	return o.any || o.exact[strings.TrimRight(strings.ToLower(origin), "/")]
}

// hosts is the Host allow-list: loopback names always, the configured names, and
// the bound address (with this machine's name and addresses when it is not loopback).
type hosts struct {
	names    map[string]bool
	suffixes []string // from "*.example.com" entries: ".example.com"
}

func newHosts(addr string, extra []string) hosts {
	h := hosts{names: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}
	add := func(s string) {
		s = normHost(s)
		if rest, ok := strings.CutPrefix(s, "*."); ok && rest != "" {
			h.suffixes = append(h.suffixes, "."+rest)
		} else if s != "" {
			h.names[s] = true
		}
	}
	for _, s := range extra {
		add(s)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return h
	}
	// Bound beyond loopback: the machine is meant to be reached by others, under its
	// address or its name.
	if host != "" && (ip == nil || !ip.IsUnspecified()) {
		add(host)
	}
	if name, err := os.Hostname(); err == nil {
		add(name)
		if short, _, ok := strings.Cut(name, "."); ok {
			add(short)
		}
	}
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					add(n.IP.String())
				}
			}
		}
	}
	return h
}

// normHost lower-cases a host, drops a port, brackets and one trailing dot. A port
// that is not a port (digits, at most 65535) makes the whole host "" (refused):
// "localhost:8080.evil.example" must not pass as localhost.
func normHost(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if h, port, err := net.SplitHostPort(s); err == nil {
		if !validPort(port) {
			return ""
		}
		s = h
	}
	s = strings.TrimSuffix(strings.Trim(s, "[]"), ".")
	return s
}

// validPort reports whether p is a Host header's port: empty (RFC 3986 allows
// "host:") or up to five digits no greater than 65535.
func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

func (h hosts) allows(hostHeader string) bool {
	n := normHost(hostHeader)
	if n == "" {
		return false
	}
	if h.names[n] {
		return true
	}
	if ip := net.ParseIP(n); ip != nil {
		return ip.IsLoopback() || h.names[ip.String()]
	}
	for _, s := range h.suffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// corsAllowHeaders are the request headers a browser app may send: what the OpenAI
// and Anthropic SDKs send (their x-stainless-* telemetry included).
var corsAllowHeaders = map[string]bool{
	"authorization": true, "content-type": true, "accept": true, "x-api-key": true,
	"anthropic-version": true, "anthropic-beta": true, "anthropic-dangerous-direct-browser-access": true,
	"openai-beta": true, "openai-organization": true, "openai-project": true,
	"x-request-id": true, "idempotency-key": true,
}

func corsHeaderAllowed(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	return corsAllowHeaders[name] || strings.HasPrefix(name, "x-stainless-") || strings.HasPrefix(name, "x-mock-")
}

const corsExposeHeaders = "x-request-id, x-runestone-provider, x-runestone-overhead-ms, retry-after, retry-after-ms, x-should-retry, " +
	"x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, " +
	"x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens"

// guard runs before routing. It refuses a request whose Host is not this gateway's
// (DNS rebinding), a cross-site browser request from an origin not allowed on
// purpose, and answers CORS for allowed origins. It reports whether it answered.
func (g *Gateway) guard(w http.ResponseWriter, r *http.Request) bool {
	if !g.hosts.allows(r.Host) {
		g.refuse(w, r, &apierr.Error{Status: http.StatusForbidden, Type: apierr.TypeInvalidRequest, Code: "host_not_allowed",
			Message: "Host " + quoteShort(r.Host) + " is not one of this gateway's names. Runestone answers requests for " +
				"localhost, 127.0.0.1 and [::1] (and the address it is bound to); add other names a proxy uses to " +
				"server.allowed_hosts or RUNESTONE_ALLOWED_HOSTS. This blocks DNS-rebinding attacks from web pages."})
		return true
	}
	origin := r.Header.Get("Origin")
	site := strings.ToLower(r.Header.Get("Sec-Fetch-Site"))
	switch {
	case origin != "" && sameOrigin(origin, r.Host):
		return false
	case origin != "" && g.origins.allows(origin):
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			g.preflight(w, r)
			return true
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		return false
	case origin != "" || site == "cross-site" || site == "same-site":
		what := "origin " + quoteShort(origin)
		if origin == "" {
			what = "a cross-site page (Sec-Fetch-Site: " + site + ")"
		}
		g.refuse(w, r, &apierr.Error{Status: http.StatusForbidden, Type: apierr.TypeInvalidRequest, Code: "origin_not_allowed",
			Message: "Browser requests from " + what + " are refused: a web page must not reach your gateway. " +
				"To allow a browser app on purpose, add its origin (e.g. http://localhost:5173) to server.allowed_origins " +
				"or RUNESTONE_ALLOWED_ORIGINS."})
		return true
	}
	return false
}

// preflight answers a CORS preflight from an allowed origin.
func (g *Gateway) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	var ok []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" && corsHeaderAllowed(name) {
				ok = append(ok, strings.ToLower(name))
			}
		}
	}
	if len(ok) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(ok, ", "))
	}
	h.Set("Access-Control-Max-Age", "600")
	h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
	closeIfBody(w, r)
	w.WriteHeader(http.StatusNoContent)
}

// sameOrigin: the page was served by this gateway under the Host it asked for
// (already allow-listed), so it is not a foreign page.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && strings.EqualFold(u.Host, host)
}

func quoteShort(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return "\"" + strings.ToValidUTF8(s, "?") + "\""
}

// refuse answers an early refusal in the envelope of the path's dialect and leaves
// its trace (log row, process log, metric, dashboard event).
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, e *apierr.Error) {
	closeIfBody(w, r)
	writeError(w, r, e)
	g.traceRefusal(w, r, e)
}

// writeError writes e in the envelope a client of r's path expects: Anthropic's for
// /v1/messages, OpenAI's otherwise.
func writeError(w http.ResponseWriter, r *http.Request, e *apierr.Error) {
	if !strings.HasPrefix(r.URL.Path, "/v1/messages") {
		apierr.Write(w, e)
		return
	}
	messages.WriteError(w, e, reqIDFrom(w))
}

// checkContentType: POST bodies to /v1/* must be JSON. A browser form or a
// text/plain fetch needs no CORS preflight; requiring application/json closes that door.
func checkContentType(r *http.Request) *apierr.Error {
	ct := r.Header.Get("Content-Type")
	// The common shapes without a parse (mime.ParseMediaType allocates).
	if mt, _, _ := strings.Cut(ct, ";"); strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return nil
	}
	got := "no Content-Type"
	if ct != "" {
		got = "Content-Type " + quoteShort(ct)
	}
	return &apierr.Error{Status: http.StatusUnsupportedMediaType, Type: apierr.TypeInvalidRequest, Code: "unsupported_media_type",
		Message: "The request body must be JSON sent with \"Content-Type: application/json\" (got " + got +
			"). With curl: -H 'Content-Type: application/json'."}
}

// checkBody validates a JSON request body in one non-recursive pass before any
// recursive parser sees it: UTF-8, syntax, nesting depth, and duplicate keys (the
// gateway must act on the same body the upstream reads).
func checkBody(body []byte) *apierr.Error {
	if !utf8.Valid(body) {
		return apierr.BadRequest("", "The request body is not valid UTF-8.")
	}
	if err := jsonx.Check(body, jsonx.DefaultMaxDepth); err != nil {
		switch err.Kind {
		case "depth":
			return apierr.BadRequest("", "The request body nests JSON deeper than %d levels.", jsonx.DefaultMaxDepth)
		case "duplicate":
			return apierr.BadRequest(err.Path, "The request body has the key %q more than once; send each key once.", err.Path)
		}
		return apierr.BadRequest("", "The request body is not valid JSON: %s.", err.Error())
	}
	return nil
}

// checkModelName refuses names no provider has: too long or with unprintable runes.
func checkModelName(m string) *apierr.Error {
	if len(m) > maxModelName {
		return apierr.BadRequest("model", "'model' is longer than %d bytes.", maxModelName)
	}
	for _, r := range m {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return apierr.BadRequest("model", "'model' contains an unprintable character.")
		}
	}
	return nil
}

// traceRefusal leaves the same trace as a served request for one refused before it
// reached a handler's accounting (bad Host or Origin, unknown path, wrong method):
// a log row, a process-log line, the requests metric and a dashboard event. Without
// it a client calling a wrong URL fails and the gateway shows nothing.
func (g *Gateway) traceRefusal(w http.ResponseWriter, r *http.Request, e *apierr.Error) {
	path := r.URL.Path
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	path = strings.ToValidUTF8(path, "?")
	ev := events.Request{ID: reqIDFrom(w), Endpoint: path, Started: time.Now(), Status: e.Status,
		Error: r.Method + " " + path + ": " + e.Message}
	if cred, _ := credential(r); g.o.AuthEnabled && g.o.Auth != nil && cred != "" {
		if p, err := g.o.Auth.Authenticate(cred); err == nil {
			ev.KeyID, ev.KeyName, ev.Project = p.KeyID, p.Name, p.Project
		}
	}
	if g.o.Metrics != nil {
		g.o.Metrics.ObserveRequest(ev)
	}
	if g.o.Bus.Active() {
		g.o.Bus.Publish(events.Event{Kind: events.KindRequestFinished, Request: &ev})
	}
	if g.o.Log != nil {
		g.o.Log.Write(store.RequestRow{ID: ev.ID, Started: ev.Started, KeyID: ev.KeyID, KeyName: ev.KeyName,
			Project: ev.Project, Endpoint: path, Status: ev.Status, Error: ev.Error})
	}
	g.o.Logger.Info("request refused", "id", ev.ID, "method", r.Method, "path", path, "host", quoteShort(r.Host),
		"origin", r.Header.Get("Origin"), "status", e.Status, "code", e.Code, "peer", r.RemoteAddr)
}

// keyOwner names the stored key of a refused request (revoked or expired), nil when
// the key is unknown or auth is off.
func (g *Gateway) keyOwner(r *http.Request) *auth.Principal {
	if !g.o.AuthEnabled || g.o.Auth == nil {
		return nil
	}
	cred, _ := credential(r)
	return g.o.Auth.Owner(cred)
}
