package ui

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/jmanhype/runestone/internal/events"
)

// connected returns a model on src that has taken its snapshot and drained the
// script, ready for input. The returned cmd waits for the next event.
func connected(t *testing.T, src *fakeSource) (*Model, tea.Cmd) {
	t.Helper()
	m := newTestModel(src, Options{})
	t.Cleanup(m.cancel)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	scripted := len(src.script) > 0
	_, cmd := m.Update(connectCmd(m.ctx, src, m.gen)())
	if !m.connected {
		t.Fatalf("not connected: %s", m.connErr)
	}
	if !scripted {
		return m, cmd
	}
	_, cmd = m.Update(cmd()) // the prefilled script arrives as one batch
	return m, cmd
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func press(m *Model, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		_, cmd = m.Update(keyMsg(k))
	}
	return cmd
}

func ids(rows []*row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.req.ID
	}
	return out
}

func TestKeyNavigation(t *testing.T) {
	m, _ := connected(t, busySource())
	rows := m.visibleRows()
	if got := rows[m.selectedIndex(rows)].req.ID; got != "req_live" {
		t.Fatalf("initial selection %s, want the newest (req_live)", got)
	}
	press(m, "j", "j", "down")
	if m.selID != "req_failover" {
		t.Fatalf("after 3×down selected %q, want req_failover", m.selID)
	}
	press(m, "k", "up")
	if m.selID != "req_embed" {
		t.Fatalf("after 2×up selected %q, want req_embed", m.selID)
	}
	press(m, "k")
	if m.selID != "" {
		t.Fatalf("up at the top should follow the newest, selected %q", m.selID)
	}
	press(m, "G")
	if want := rows[len(rows)-1].req.ID; m.selID != want {
		t.Fatalf("G selected %q, want oldest %q", m.selID, want)
	}

	// Tab cycles requests → providers → keys → requests; arrows move in the focused pane.
	press(m, "tab")
	if m.focus != paneProviders {
		t.Fatalf("focus %d after tab, want providers", m.focus)
	}
	press(m, "j", "j")
	if m.provCur != 2 {
		t.Fatalf("provider cursor %d, want 2", m.provCur)
	}
	press(m, "tab", "j", "j", "j", "j")
	if m.focus != paneKeys || m.keyCur != len(m.keyList)-1 {
		t.Fatalf("focus %d cursor %d, want keys pane clamped at %d", m.focus, m.keyCur, len(m.keyList)-1)
	}
	if cmd := press(m, "enter"); cmd != nil || m.detail != nil || m.info == nil {
		t.Fatal("enter on the keys pane should open the key's detail, not a request's")
	}
	press(m, "esc", "tab")
	if m.focus != paneRequests {
		t.Fatalf("focus %d after third tab, want requests", m.focus)
	}

	press(m, "?")
	if !m.help.ShowAll || !strings.Contains(m.View(), "page down") {
		t.Fatal("? should show the full help")
	}
	press(m, "?")
	if m.help.ShowAll {
		t.Fatal("second ? should hide the full help")
	}
}

func TestQuitCancelsSource(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		m, _ := connected(t, busySource())
		cmd := press(m, k)
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%s: command is not tea.Quit", k)
		}
		if m.ctx.Err() == nil {
			t.Fatalf("%s: quitting should cancel the source context", k)
		}
	}
}

func TestDetailView(t *testing.T) {
	src := busySource()
	m, _ := connected(t, src)
	press(m, "j", "j", "j")
	cmd := press(m, "enter")
	if m.detail == nil || m.detail.id != "req_failover" || !m.detail.loading {
		t.Fatalf("enter should open a loading detail for req_failover, got %+v", m.detail)
	}
	if !strings.Contains(m.View(), "loading captured bodies") {
		t.Fatal("detail view should say it is loading")
	}
	m.Update(cmd())
	v := m.View()
	for _, want := range []string{"Request req_failover", "openai→backup ×3", "Attempts (3)", "upstream 503: overloaded",
		"responses → chat  (translated)", "codex-91", "read 512  written 0", "reasoning.summary, store",
		"trace       4bf92f3577b34da6a3ce929d0e0e4736"} {
		if !strings.Contains(v, want) {
			t.Errorf("detail view lacks %q", want)
		}
	}
	// The bodies are below the fold: scroll to them.
	press(m, "G")
	if v := m.View(); !strings.Contains(v, `"status": "completed"`) {
		t.Errorf("scrolled detail view lacks the pretty-printed response body:\n%s", v)
	}
	press(m, "esc")
	if m.detail != nil {
		t.Fatal("esc should close the detail view")
	}

	// A request the gateway has no detail for (the live one) says so.
	press(m, "g")
	cmd = press(m, "enter")
	m.Update(cmd())
	if !strings.Contains(m.View(), "No captured detail") {
		t.Errorf("detail of an unknown request should say there is none:\n%s", m.View())
	}
	press(m, "q")
	if m.detail != nil || m.quitting {
		t.Fatal("q in the detail view should go back, not quit")
	}
}

func TestFilter(t *testing.T) {
	m, _ := connected(t, busySource())
	all := len(m.visibleRows())
	cases := []struct {
		query string
		want  []string
	}{
		{"claude", []string{"req_500", "req_models"}},          // model
		{"CI", []string{"req_failover", "req_429", "req_404"}}, // key, case-insensitive
		{"backup", []string{"req_failover"}},                   // provider (also a failover hop)
		{"502", []string{"req_500"}},                           // status
		{"4xx", []string{"req_429", "req_404"}},                // status class
	}
	for _, c := range cases {
		press(m, "/")
		if !m.filtering || !strings.Contains(m.View(), "filter by model") {
			t.Fatal("/ should open the filter prompt")
		}
		for _, r := range c.query {
			press(m, string(r))
		}
		press(m, "enter")
		if got := ids(m.visibleRows()); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("filter %q: got %v, want %v", c.query, got, c.want)
		}
		if !strings.Contains(m.View(), fmt.Sprintf("filter %q", c.query)) {
			t.Errorf("filter %q not shown in the pane title", c.query)
		}
		press(m, "esc") // clears an applied filter
		if len(m.visibleRows()) != all {
			t.Fatalf("esc should clear the filter")
		}
	}
	// Editing: backspace, and esc while typing drops the filter.
	press(m, "/", "x", "y", "backspace")
	if m.filterText != "x" {
		t.Fatalf("filter text %q after backspace, want x", m.filterText)
	}
	press(m, "esc")
	if m.filtering || m.filterText != "" {
		t.Fatal("esc while typing should drop the filter")
	}
	press(m, "/", "n", "o", "p", "e", "enter")
	if !strings.Contains(m.View(), `No requests match "nope"`) {
		t.Error("a filter matching nothing should say so")
	}
}

func TestPauseAndClear(t *testing.T) {
	m, _ := connected(t, busySource())
	before := ids(m.visibleRows())
	press(m, "p")
	if !m.paused || !strings.Contains(m.View(), "PAUSED") {
		t.Fatal("p should pause and say so")
	}
	// Events keep arriving while paused: totals move, the list does not.
	fin := req("req_new", "dev", "gpt-4o-mini", "openai", 200, 0, 100, 50, 10, 5, f64(0.001))
	reqsBefore := m.totals.Requests
	m.applyEvent(started(fin))
	m.applyEvent(finished(fin))
	m.render()
	if got := ids(m.visibleRows()); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatal("the paused list changed")
	}
	if m.totals.Requests != reqsBefore+1 {
		t.Fatal("totals should keep counting while paused")
	}
	press(m, "p")
	if m.paused || m.visibleRows()[0].req.ID != "req_new" {
		t.Fatal("unpausing should show what arrived meanwhile")
	}

	press(m, "c")
	rows := m.visibleRows()
	if len(rows) != 1 || rows[0].req.ID != "req_live" {
		t.Fatalf("clear should keep only live requests, got %v", ids(rows))
	}
}

func TestInFlightSettles(t *testing.T) {
	m, _ := connected(t, &fakeSource{state: busyState()})
	r := req("req_s", "dev", "gpt-4o", "", 0, time.Second, 0, 0, 0, 0, nil)
	m.applyEvent(started(r))
	row := m.inflight["req_s"]
	if row == nil || !row.live() {
		t.Fatal("a started request should be tracked live")
	}
	m.applyEvent(events.Event{Kind: events.KindAttempt, Attempt: &events.Attempt{RequestID: "req_s", Provider: "openai", Number: 1, Status: 500, Error: "boom", Retrying: true}})
	m.applyEvent(events.Event{Kind: events.KindAttempt, Attempt: &events.Attempt{RequestID: "req_s", Provider: "backup", Number: 2}})
	m.applyEvent(events.Event{Kind: events.KindRequestProgress, Request: &events.Request{ID: "req_s", CompletionTokens: 21, PromptTokens: 300}})
	m.render()
	v := m.View()
	for _, want := range []string{"openai→backup ×2", "300/21", "1.00s"} {
		if !strings.Contains(v, want) {
			t.Errorf("live row lacks %q:\n%s", want, v)
		}
	}
	fin := r
	fin.Status, fin.LatencyMS, fin.Provider, fin.PromptTokens, fin.CompletionTokens = 200, 1800, "backup", 300, 44
	m.applyEvent(finished(fin))
	if len(m.inflight) != 0 || row.live() || row.req.Status != 200 {
		t.Fatal("finished should settle the same row")
	}
	if got := routeText(&row.req); got != "gpt-4o → openai→backup ×2" {
		t.Errorf("settled route %q keeps the failover", got)
	}
	if m.rows.len() != 1 {
		t.Fatalf("the row should be listed once, ring holds %d", m.rows.len())
	}
}

func TestReconnect(t *testing.T) {
	src := busySource()
	m, next := connected(t, src)
	m.render()
	if !strings.Contains(m.View(), "● live") {
		t.Fatal("should show live when connected")
	}
	src.drop(true) // the gateway goes away
	_, cmd := m.Update(next())
	if m.connected || cmd == nil {
		t.Fatal("a closed stream should disconnect and schedule a retry")
	}
	m.render()
	if v := m.View(); !strings.Contains(v, "disconnected — retrying") {
		t.Fatalf("header should say disconnected — retrying:\n%s", v)
	}
	if m.backoff != 2*backoffMin {
		t.Fatalf("backoff %v after first failure, want %v", m.backoff, 2*backoffMin)
	}
	// Stale messages from the old connection are ignored.
	m.Update(streamEndedMsg{gen: m.gen - 1})
	if m.backoff != 2*backoffMin {
		t.Fatal("a stale stream end must not count as a new failure")
	}
	// Retry while the gateway is still down: backoff grows, capped at backoffMax.
	for range 6 {
		_, cmd = m.Update(reconnectMsg{gen: m.gen})
		m.Update(cmd())
	}
	if m.connected || m.backoff != backoffMax {
		t.Fatalf("backoff %v while down, want capped at %v", m.backoff, backoffMax)
	}
	if !strings.Contains(m.connErr, "connection refused") {
		t.Fatalf("connErr %q", m.connErr)
	}
	// The gateway comes back: snapshot then events, and the backoff resets.
	src.setDown(false)
	snaps := src.snapshots
	_, cmd = m.Update(reconnectMsg{gen: m.gen})
	m.Update(cmd())
	if !m.connected || m.backoff != backoffMin || src.snapshots != snaps+1 {
		t.Fatalf("connected=%v backoff=%v: should recover", m.connected, m.backoff)
	}
	m.render()
	if v := m.View(); !strings.Contains(v, "● live") || strings.Contains(v, "disconnected") {
		t.Fatalf("header should be live again:\n%s", v)
	}
	// History survived the outage; the live request the snapshot no longer lists is
	// no longer tracked as in flight.
	if m.rows.len() < 30 || len(m.inflight) != 0 {
		t.Fatalf("rows %d inflight %d after reconnect", m.rows.len(), len(m.inflight))
	}
}

// TestReconnectProgram runs the real program loop: the stream drops, the header says
// so, and the dashboard reconnects by itself when the gateway is back.
func TestReconnectProgram(t *testing.T) {
	src := busySource()
	m := newTestModel(src, Options{})
	tm := newTeatest(t, m, 100, 30)
	waitOutput(t, tm, "● live")
	src.drop(true)
	waitOutput(t, tm, "disconnected — retrying")
	src.setDown(false)
	waitOutput(t, tm, "● live")
	tm.Send(keyMsg("q"))
	fm := finalModel(t, tm)
	if !fm.connected || src.snapshots < 2 {
		t.Fatalf("connected=%v snapshots=%d: should have reconnected", fm.connected, src.snapshots)
	}
}

func TestBurstStaysBounded(t *testing.T) {
	m, _ := connected(t, &fakeSource{state: busyState()})
	burst := func(round int) {
		const n = 50_000
		batch := make([]events.Event, 0, maxEventBatch)
		for i := range n {
			id := fmt.Sprintf("r%d_%d", round, i/3)
			r := req(id, fmt.Sprintf("k%d", i%7), "gpt-4o-mini", "openai", 200, 0, 120, 40, 30, 12, f64(0.0001))
			var e events.Event
			switch i % 3 {
			case 0:
				e = started(r)
			case 1:
				e = events.Event{Kind: events.KindRequestProgress, Request: &events.Request{ID: id, CompletionTokens: 5}}
			default:
				if i%30 == 2 { // some never finish: the in-flight map must stay bounded too
					e = events.Event{Kind: events.KindLimiterSnapshot, Limits: baseKeys()}
				} else {
					e = finished(r)
				}
			}
			batch = append(batch, e)
			if len(batch) == maxEventBatch {
				m.Update(eventsMsg{gen: m.gen, events: batch})
				batch = batch[:0]
				m.Update(tickMsg(time.Time{})) // a frame now and then, as the tick would
			}
		}
		m.Update(eventsMsg{gen: m.gen, events: batch})
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	start := time.Now()
	burst(0)
	elapsed := time.Since(start)
	after1 := heap()
	if m.rows.len() != maxHistory || len(m.rows.buf) != maxHistory {
		t.Fatalf("history ring holds %d (cap %d), want %d", m.rows.len(), len(m.rows.buf), maxHistory)
	}
	if len(m.inflight) > maxInFlight {
		t.Fatalf("in-flight map holds %d, want ≤ %d", len(m.inflight), maxInFlight)
	}
	for range 3 {
		burst(1)
	}
	after2 := heap()
	if len(m.inflight) > maxInFlight || len(m.inflight) < maxInFlight/2 || m.rows.len() != maxHistory {
		t.Fatalf("after 200k events: rows %d inflight %d (the cap should have been reached)", m.rows.len(), len(m.inflight))
	}
	// Three more bursts must not grow the heap materially (allow 4 MiB of slack).
	if after2 > after1+4<<20 {
		t.Fatalf("heap grew from %d to %d bytes across bursts", after1, after2)
	}
	// 5,000 events/s means 50,000 in 10 s; we must be far faster (even under -race).
	if elapsed > 10*time.Second {
		t.Fatalf("50,000 events took %v", elapsed)
	}
	t.Logf("50,000 events in %v; heap %d → %d bytes; inflight %d", elapsed, after1, after2, len(m.inflight))
}

func TestEventsOnlyRenderOnTick(t *testing.T) {
	m, _ := connected(t, busySource())
	m.render()
	frame := m.View()
	r := req("req_tick", "dev", "gpt-4o-mini", "openai", 200, 0, 10, 5, 1, 1, nil)
	m.Update(eventsMsg{gen: m.gen, events: []events.Event{started(r), finished(r)}})
	if !m.dirty || m.View() != frame {
		t.Fatal("an event should mark the model dirty without rendering")
	}
	m.Update(tickMsg(time.Time{}))
	if m.dirty || m.View() == frame || !strings.Contains(m.View(), "Requests 33") {
		t.Fatal("the tick should render the pending change")
	}
}

func TestLimitAndBreakerState(t *testing.T) {
	m, _ := connected(t, busySource())
	ci := m.keyIdx["key_ci"]
	if m.atLimit(ci) {
		t.Fatal("ci is not at a limit yet")
	}
	m.applyEvent(events.Event{Kind: events.KindRateLimited, Denied: &events.Denied{KeyID: "key_ci", KeyName: "ci", Reason: "rpm"}})
	if !m.atLimit(ci) {
		t.Fatal("a 429 should flag the key")
	}
	keys := baseKeys()
	keys[0].SpentUSD = 5 // dev hits its $5 budget
	m.applyEvent(events.Event{Kind: events.KindLimiterSnapshot, Limits: keys})
	if !m.atLimit(m.keyIdx["key_dev"]) || !m.atLimit(m.keyIdx["key_ci"]) {
		t.Fatal("budget exhaustion should flag the key; the recent 429 should survive the snapshot")
	}
	m.applyEvent(events.Event{Kind: events.KindBreakerChanged, Breaker: &events.Breaker{Provider: "newprov", From: "closed", To: "open", NextProbe: fixedNow.Add(30 * time.Second)}})
	if p := m.provIdx["newprov"]; p == nil || p.Breaker != "open" {
		t.Fatal("a breaker event for an unknown provider should add it")
	}
	m.render()
	if v := m.View(); !strings.Contains(v, "open 30s") || !strings.Contains(v, "providers 4/5 healthy") {
		t.Fatalf("open breaker with countdown not shown:\n%s", v)
	}
	// A 429 is not a breaker state: the pane says how long the rate limit lasts.
	m.applyEvent(events.Event{Kind: events.KindAttempt, Attempt: &events.Attempt{Provider: "newprov2", Status: 429,
		Error: "429 slow down", RateLimitedUntil: fixedNow.Add(12 * time.Second)}})
	m.render()
	if v := m.View(); !strings.Contains(v, "limited 12s") {
		t.Fatalf("rate limit not shown:\n%s", v)
	}
	m.applyEvent(events.Event{Kind: events.KindDropped, Dropped: 42})
	m.render()
	if !strings.Contains(m.View(), "dropped 42") {
		t.Fatal("dropped events should be reported")
	}
}

func TestRing(t *testing.T) {
	r := newRing[int](3)
	for i := 1; i <= 5; i++ {
		ev, ok := r.push(i)
		if (i > 3) != ok || (ok && ev != i-3) {
			t.Fatalf("push %d evicted %d,%v", i, ev, ok)
		}
	}
	if r.len() != 3 || r.at(0) != 5 || r.at(2) != 3 {
		t.Fatalf("ring order wrong: len %d at0 %d at2 %d", r.len(), r.at(0), r.at(2))
	}
	r.reset()
	if r.len() != 0 {
		t.Fatal("reset should empty the ring")
	}
}

func TestFormat(t *testing.T) {
	cases := []struct{ got, want string }{
		{fmtMS(0), "—"}, {fmtMS(85.4), "85ms"}, {fmtMS(1240), "1.24s"}, {fmtMS(12_340), "12.3s"}, {fmtMS(125_000), "2m05s"},
		{fmtCount(950), "950"}, {fmtCount(1000), "1k"}, {fmtCount(1234), "1.2k"}, {fmtCount(45_600), "45k"}, {fmtCount(4_500_000), "4.5M"},
		{fmtUSD(0), "$0"}, {fmtUSD(0.00001), "<$0.0001"}, {fmtUSD(0.01167), "$0.0117"}, {fmtUSD(0.42), "$0.42"}, {fmtUSD(12.5), "$12.50"},
		{fmtCost(nil), "—"}, {fmtBudget(5), "$5"}, {fmtPct(0.071), "7.1%"}, {fmtPct(0.5), "50%"},
		{fmtDur(42 * time.Second), "42s"}, {fmtDur(time.Hour + 2*time.Minute), "1h02m"},
		{sparkline([]int{0, 1, 4, 8}), "▁▂▅█"}, {trunc("abcdef", 4), "abc…"}, {pad("ab", 4), "ab  "}, {padLeft("ab", 4), "  ab"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %q, want %q", i, c.got, c.want)
		}
	}
}

func TestDetailWithoutAttempts(t *testing.T) {
	src := busySource()
	fo := failoverDetail()
	fo.Attempts = nil // the request log keeps the providers tried, not each attempt
	src.details["req_failover"] = fo
	m, _ := connected(t, src)
	press(m, "j", "j", "j")
	m.Update(press(m, "enter")())
	if v := m.View(); !strings.Contains(v, "Attempts (3)") || !strings.Contains(v, "providers tried: openai→backup ×3") {
		t.Fatalf("detail without attempt rows should summarise the route:\n%s", v)
	}
}

// In serve mode q asks before stopping the gateway: any key but y (or q, enter)
// keeps it running; y quits.
func TestServeQuitAsksFirst(t *testing.T) {
	m := newTestModel(&fakeSource{}, Options{InProcess: true})
	if cmd := m.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")}); cmd != nil || !m.confirmQuit {
		t.Fatalf("q quit at once (cmd %v, asking %v)", cmd, m.confirmQuit)
	}
	if cmd := m.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("n")}); cmd != nil || m.confirmQuit || m.quitting {
		t.Fatal("n did not keep the gateway running")
	}
	m.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if cmd := m.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")}); cmd == nil || !m.quitting {
		t.Fatal("y did not quit")
	}
	top := newTestModel(&fakeSource{}, Options{})
	if cmd := top.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")}); cmd == nil {
		t.Fatal("q in top (not serve) should quit at once")
	}
}

// TestPaneDetailOpensAndCloses: Enter on the Providers or Keys pane opens that row's
// detail; Esc goes back to the panes.
func TestPaneDetailOpensAndCloses(t *testing.T) {
	m, _ := connected(t, busySource())
	m.Update(keyMsg("tab"))
	m.Update(keyMsg("enter"))
	if m.info == nil || m.info.name != "openai" || !strings.Contains(m.View(), "Provider openai") ||
		!strings.Contains(m.View(), "503 upstream 503: overloaded") {
		t.Fatalf("enter on Providers should show openai's detail:\n%s", m.View())
	}
	m.Update(keyMsg("esc"))
	if m.info != nil || !strings.Contains(m.View(), "Keys & limits") {
		t.Fatalf("esc should go back to the panes:\n%s", m.View())
	}
	m.Update(keyMsg("tab"))
	m.Update(keyMsg("enter"))
	if m.info == nil || !strings.Contains(m.View(), "Key batch-jobs") || !strings.Contains(m.View(), "every model") {
		t.Fatalf("enter on Keys should show batch-jobs' detail:\n%s", m.View())
	}
	m.Update(keyMsg("esc"))
	if m.info != nil {
		t.Fatal("esc should close the key detail")
	}
}
