package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"
)

// provErrors is how many recent errors a provider's detail lists.
const provErrors = 5

// provError is one failed attempt (or breaker reason) of a provider.
type provError struct {
	at  time.Time
	msg string
}

// infoState is the open provider or key detail (Enter on those panes); name is the
// provider's name or the key's keyID.
type infoState struct {
	pane pane
	name string
}

// openInfo opens the detail of the provider or key under the cursor.
func (m *Model) openInfo() {
	switch {
	case m.focus == paneProviders && len(m.provs) > 0:
		m.info = &infoState{pane: paneProviders, name: m.provs[clamp(m.provCur, 0, len(m.provs)-1)].Name}
	case m.focus == paneKeys && len(m.keyList) > 0:
		k := m.keyList[clamp(m.keyCur, 0, len(m.keyList)-1)]
		m.info = &infoState{pane: paneKeys, name: keyID(k.KeyID, k.KeyName)}
	}
}

// renderInfoFrame draws a provider's or key's detail: header, fields, help.
func (m *Model) renderInfoFrame(w int) string {
	head := m.renderHeader(w)
	foot := m.help.View(infoKeyMap{m.keys})
	var title string
	var lines []string
	field := func(k, v string) {
		lines = append(lines, "  "+m.st.detailKey.Render(pad(k, 12))+" "+trunc(v, max(w-16, 10)))
	}
	section := func(s string) { lines = append(lines, "", m.st.detailTitle.Render(s)) }
	now := m.now()
	switch m.info.pane {
	case paneProviders:
		p := m.provIdx[m.info.name]
		title = "Provider " + m.info.name
		if p == nil {
			lines = append(lines, m.st.hint.Render("  no longer configured"))
			break
		}
		field("kind", orDash(p.Kind))
		field("base URL", orDash(p.BaseURL))
		field("models", orDash(strings.Join(p.Models, ", ")))
		breaker := orDash(p.Breaker)
		if p.Breaker == "open" && !p.NextProbe.IsZero() {
			breaker += "  next probe in " + fmtDur(p.NextProbe.Sub(now).Round(time.Second))
		}
		field("breaker", breaker)
		limited := "no"
		if p.RateLimitedUntil.After(now) {
			limited = "until " + p.RateLimitedUntil.In(now.Location()).Format("15:04:05") +
				" (" + fmtDur(p.RateLimitedUntil.Sub(now).Round(time.Second)) + ")"
		}
		field("rate limited", limited)
		field("p50", fmtMS(p.p50()))
		field("error rate", fmtPct(p.errorRate()))
		act := m.inFlightBy()[p.Name]
		if act == 0 && len(m.inflight) == 0 {
			act = p.InFlight // nothing tracked locally yet: trust the snapshot
		}
		field("in flight", fmt.Sprintf("%d", act))
		section("Last errors")
		errs := p.lastErrors()
		if len(errs) == 0 {
			lines = append(lines, m.st.hint.Render("  none"))
		}
		for _, e := range errs {
			lines = append(lines, "  "+m.st.dim.Render(e.at.In(now.Location()).Format("15:04:05"))+" "+
				m.st.bad.Render(trunc(e.msg, max(w-12, 10))))
		}
	case paneKeys:
		k := m.keyIdx[m.info.name]
		title = "Key " + m.info.name
		if k == nil {
			lines = append(lines, m.st.hint.Render("  no longer active"))
			break
		}
		l := k.KeyLimits
		title = "Key " + keyLabel(l)
		field("name", orDash(l.KeyName))
		field("id", orDash(idPrefix(l.KeyID)))
		field("rpm", countPair(l.RPM, l.RPMLimit))
		field("rph", countPair(l.RPH, l.RPHLimit))
		field("tpm", countPair(l.TPM, l.TPMLimit))
		field("concurrent", fmt.Sprintf("%d/%s  queued %d", l.InFlight, limitText(l.Concurrent), l.Queued))
		budget, period := "none", "lifetime"
		if l.BudgetUSD != nil {
			budget = fmtBudget(*l.BudgetUSD)
		}
		if l.BudgetPeriod != "" {
			period = "this " + l.BudgetPeriod + " (UTC)"
		}
		field("budget", budget+"  period "+period)
		field("spend", fmtUSD(l.SpentUSD))
		models := "every model"
		if len(l.Models) > 0 {
			models = strings.Join(l.Models, ", ")
		}
		field("models", models)
		if m.atLimit(k) {
			lines = append(lines, "", "  "+m.st.limit.Render("LIMIT")+m.st.dim.Render(" at a limit, or refused in the last few seconds"))
		}
	}
	h := max(m.height-lipgloss.Height(head)-lipgloss.Height(foot)-1, 1)
	return lipgloss.JoinVertical(lipgloss.Left, head, m.paneTitle(m.info.pane, title, "", w), block(lines, w, h), foot)
}

// idPrefix shows enough of a key id to recognise it, never all of a long one.
func idPrefix(id string) string {
	if len([]rune(id)) <= 12 {
		return id
	}
	return string([]rune(id)[:12]) + "…"
}

// lastErrors are the provider's recent errors, newest first; the snapshot's last
// error when the dashboard has seen none itself.
func (p *provider) lastErrors() []provError {
	var out []provError
	for i := range p.errs.len() {
		out = append(out, p.errs.at(i))
	}
	if len(out) == 0 && p.LastError != "" {
		out = append(out, provError{at: p.LastErrorAt, msg: p.LastError})
	}
	return out
}

// infoKeyMap is the help shown in a provider's or key's detail.
type infoKeyMap struct{ k keyMap }

func (d infoKeyMap) ShortHelp() []key.Binding  { return []key.Binding{d.k.Back} }
func (d infoKeyMap) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }
