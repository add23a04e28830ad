package ui

import "fmt"

// renderProviders draws the providers pane: breaker, p50 latency, error rate, in flight.
func (m *Model) renderProviders(w, h int) string {
	healthy := 0
	for _, p := range m.provs {
		if p.Breaker == "" || p.Breaker == "closed" {
			healthy++
		}
	}
	info := m.st.dim.Render(fmt.Sprintf("%d/%d healthy", healthy, len(m.provs)))
	lines := []string{m.paneTitle(paneProviders, "Providers", info, w)}
	if len(m.provs) == 0 {
		lines = append(lines, m.st.hint.Render(trunc("  no providers", w)))
		return block(lines, w, h)
	}
	wide := w >= 40
	stateW := 0
	if wide {
		stateW = 12
	}
	const latW, errW, ifW = 6, 5, 3
	nameW := max(w-2-latW-errW-ifW-3-stateW, 6)
	if wide {
		nameW--
	}
	nameW = min(nameW, 18)
	head := "  " + pad("name", nameW)
	if wide {
		head += " " + pad("breaker", stateW)
	}
	head += " " + padLeft("p50", latW) + " " + padLeft("err", errW) + " " + padLeft("act", ifW)
	lines = append(lines, m.st.colHeader.Render(fitLine(head, w)))

	inflight := m.inFlightBy()
	n := max(h-2, 0)
	start := 0
	if m.provCur >= n {
		start = m.provCur - n + 1
	}
	now := m.now()
	for i := start; i < len(m.provs) && i < start+n; i++ {
		p := m.provs[i]
		sym, st := "●", m.st.closed
		state := "closed"
		switch p.Breaker {
		case "open":
			sym, st, state = "○", m.st.open, "open"
			if !p.NextProbe.IsZero() {
				state += " " + fmtDur(p.NextProbe.Sub(now).Round(1e9))
			}
		case "half-open":
			sym, st, state = "◐", m.st.halfOpen, "half-open"
		default:
			// A 429 never opens the breaker: it shows instead of "closed" while it lasts.
			if p.RateLimitedUntil.After(now) {
				sym, st, state = "◐", m.st.halfOpen, "limited "+fmtDur(p.RateLimitedUntil.Sub(now).Round(1e9))
			}
		}
		lat := fmtMS(p.p50())
		if !wide && p.Breaker == "open" && !p.NextProbe.IsZero() {
			// No room for a breaker column: an open breaker's next probe replaces p50.
			lat = "↻" + fmtDur(p.NextProbe.Sub(now).Round(1e9))
		}
		errRate := p.errorRate()
		errText := fmtPct(errRate)
		errStyle := m.st.dim
		switch {
		case errRate >= 0.2:
			errStyle = m.st.bad
		case errRate > 0:
			errStyle = m.st.warn
		}
		act := inflight[p.Name]
		if act == 0 && len(m.inflight) == 0 {
			act = p.InFlight // nothing tracked locally yet: trust the snapshot
		}
		marker := "  "
		if m.focus == paneProviders && i == m.provCur {
			marker = "▸ "
		}
		line := marker + st.Render(sym) + " " + pad(p.Name, nameW-2)
		if wide {
			line += " " + st.Render(pad(state, stateW))
		}
		line += " " + padLeft(lat, latW) + " " + errStyle.Render(padLeft(errText, errW)) +
			" " + padLeft(fmt.Sprintf("%d", act), ifW)
		lines = append(lines, line)
	}
	return block(lines, w, h)
}

// renderKeys draws the keys pane: RPM and RPH bars, concurrency, queue and spend;
// a key at a limit is drawn red and bold with LIMIT.
func (m *Model) renderKeys(w, h int) string {
	atLimit := 0
	for _, k := range m.keyList {
		if m.atLimit(k) {
			atLimit++
		}
	}
	info := m.st.dim.Render(fmt.Sprintf("%d active", len(m.keyList)))
	if atLimit > 0 {
		info += " " + m.st.limit.Render(fmt.Sprintf("%d at LIMIT", atLimit))
	}
	lines := []string{m.paneTitle(paneKeys, "Keys & limits", info, w)}
	if len(m.keyList) == 0 {
		lines = append(lines, m.st.hint.Render(trunc("  no active keys", w)))
		return block(lines, w, h)
	}
	// Fixed columns first; the two bars share what is left (3 to 12 cells each).
	nameW, cntW, spendW, limitW := 7, 7, 8, 0
	if w >= 64 {
		nameW, cntW, spendW, limitW = 10, 9, 11, 6
	}
	const concW, qW = 5, 2
	base := 2 + nameW + 2*(1+cntW) + 1 + concW + 1 + qW + 1 + spendW + limitW
	barW := clamp((w-base)/2, 3, 12)
	if extra := w - base - 2*barW; extra > 0 {
		nameW += min(extra, 8)
	}
	head := "  " + pad("key", nameW) + " " + pad("rpm", barW+cntW) + " " + pad("rph", barW+cntW) +
		" " + padLeft("conc", concW) + " " + padLeft("q", qW) + " " + padLeft("spend", spendW)
	lines = append(lines, m.st.colHeader.Render(fitLine(head, w)))

	n := max(h-2, 0)
	start := 0
	if m.keyCur >= n {
		start = m.keyCur - n + 1
	}
	for i := start; i < len(m.keyList) && i < start+n; i++ {
		k := m.keyList[i]
		l := k.KeyLimits
		limited := m.atLimit(k)
		marker := "  "
		if m.focus == paneKeys && i == m.keyCur {
			marker = "▸ "
		}
		name := pad(keyLabel(l), nameW)
		if limited {
			name = m.st.limit.Render(name)
			if limitW == 0 { // no LIMIT column at this width: flag the row instead
				marker = m.st.limit.Render("!") + marker[1:]
			}
		}
		spend := fmtUSD(l.SpentUSD)
		if l.BudgetUSD != nil {
			spend += "/" + fmtBudget(*l.BudgetUSD)
		}
		conc := fmt.Sprintf("%d/%s", l.InFlight, limitText(l.Concurrent))
		concCell := padLeft(conc, concW)
		if l.Concurrent > 0 && l.InFlight >= l.Concurrent {
			concCell = m.st.limit.Render(concCell)
		}
		q := padLeft(fmtCount(l.Queued), qW)
		if l.Queued > 0 {
			q = m.st.warn.Render(q)
		}
		line := marker + name +
			" " + m.st.bar(l.RPM, l.RPMLimit, barW) + pad(" "+countPair(l.RPM, l.RPMLimit), cntW) +
			" " + m.st.bar(l.RPH, l.RPHLimit, barW) + pad(" "+countPair(l.RPH, l.RPHLimit), cntW) +
			" " + concCell + " " + q + " " + padLeft(spend, spendW)
		if limitW > 0 && limited {
			line += " " + m.st.limit.Render("LIMIT")
		}
		lines = append(lines, line)
	}
	return block(lines, w, h)
}

// countPair is "used/limit" with compact numbers, "used/∞" when unlimited.
func countPair(used, limit int) string {
	return fmtCount(used) + "/" + limitText(limit)
}

func limitText(limit int) string {
	if limit <= 0 {
		return "∞"
	}
	return fmtCount(limit)
}
