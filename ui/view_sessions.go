package ui

import (
	"fmt"
	"strings"
	"time"
)

// session is one client session as the sessions view shows it: the rows of the
// history that carried its id, added up.
type session struct {
	id, agent        string
	models           []string
	last             time.Time
	turns, live      int
	in, out, cached  int
	cost             float64
	unpriced, errors int
}

// sessions groups the history by session id, most recently active first (the rows
// are newest first, so first seen is most recent).
func (m *Model) sessions() []*session {
	var out []*session
	idx := map[string]*session{}
	for _, r := range m.liveRows() {
		q := &r.req
		if q.Session == "" {
			continue
		}
		s := idx[q.Session]
		if s == nil {
			s = &session{id: q.Session, last: q.Started}
			idx[q.Session] = s
			out = append(out, s)
		}
		if s.agent == "" && q.Agent != "" {
			s.agent = strings.TrimSpace(q.Agent + " " + q.AgentVersion)
		}
		if q.Model != "" && !contains(s.models, q.Model) {
			s.models = append(s.models, q.Model)
		}
		s.turns++
		if r.live() {
			s.live++
		}
		s.in, s.out, s.cached = s.in+q.PromptTokens, s.out+q.CompletionTokens, s.cached+q.CachedTokens
		switch {
		case q.CostUSD != nil:
			s.cost += *q.CostUSD
		case !r.live() && q.PromptTokens+q.CompletionTokens > 0:
			s.unpriced++
		}
		if !r.live() && failed(r) {
			s.errors++
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// renderSessions draws the sessions view in the requests pane's place (s toggles it;
// enter lists the selected session's requests).
func (m *Model) renderSessions(w, h int) string {
	list := m.sessions()
	lines := []string{m.paneTitle(paneRequests, "Sessions", m.st.dim.Render(fmt.Sprintf("%d · enter: its requests · s: back", len(list))), w)}
	if len(list) == 0 {
		lines = append(lines, m.st.hint.Render(trunc("  no sessions yet: agents that send a session id (or run by `runestone exec claude`) show here", w)))
		return block(lines, w, h)
	}
	const turnW, tokW, hitW, costW, errW, agoW = 5, 13, 4, 9, 3, 5
	agentW := 12
	if w >= 100 {
		agentW = 18 // "claude-code 2.0.76"
	}
	idW := clamp(w-2-agentW-turnW-tokW-hitW-costW-errW-agoW-8, 8, 38)
	modelW := max(w-2-idW-agentW-turnW-tokW-hitW-costW-errW-agoW-8, 0)
	head := "  " + pad("session", idW) + " " + pad("agent", agentW) + " " + padLeft("turns", turnW) + " " +
		padLeft("tok in/out", tokW) + " " + padLeft("hit", hitW) + " " + padLeft("cost", costW) + " " + padLeft("err", errW) +
		" " + padLeft("last", agoW)
	if modelW > 0 {
		head += " " + pad("models", modelW)
	}
	lines = append(lines, m.st.colHeader.Render(fitLine(head, w)))
	m.sessCur = clamp(m.sessCur, 0, len(list)-1)
	n := max(h-2, 0)
	start := 0
	if m.sessCur >= n {
		start = m.sessCur - n + 1
	}
	now := m.now()
	for i := start; i < len(list) && i < start+n; i++ {
		s := list[i]
		marker := "  "
		if i == m.sessCur {
			marker = "▸ "
		}
		hit := "—"
		if s.in > 0 {
			hit = fmt.Sprintf("%d%%", s.cached*100/s.in)
		}
		cost := fmtUSD(s.cost)
		if s.unpriced > 0 {
			cost += "+?"
		}
		errs := padLeft(fmt.Sprint(s.errors), errW)
		if s.errors > 0 {
			errs = m.st.bad.Render(errs)
		}
		turns := fmt.Sprint(s.turns)
		if s.live > 0 {
			turns = fmt.Sprintf("%d+%d", s.turns-s.live, s.live)
		}
		agent := s.agent
		if agent == "" {
			agent = "—"
		}
		line := marker + pad(trunc(s.id, idW), idW) + " " + pad(trunc(agent, agentW), agentW) + " " + padLeft(turns, turnW) + " " +
			padLeft(fmtCount(s.in)+"/"+fmtCount(s.out), tokW) + " " + padLeft(hit, hitW) + " " + padLeft(cost, costW) + " " + errs +
			" " + padLeft(fmtDur(now.Sub(s.last).Round(time.Second)), agoW)
		if modelW > 0 {
			line += " " + trunc(strings.Join(s.models, ","), modelW)
		}
		lines = append(lines, fitLine(line, w))
	}
	return block(lines, w, h)
}

// openSession lists the selected session's requests: the requests view, filtered by
// its id (the filter matches sessions).
func (m *Model) openSession() {
	list := m.sessions()
	m.sessionsView = false
	if len(list) == 0 {
		return
	}
	m.filterText = list[clamp(m.sessCur, 0, len(list)-1)].id
	m.selID = ""
}
