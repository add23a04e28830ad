package ui

import (
	"errors"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/jmanhype/runestone/internal/events"
)

// Update folds a message into the model. Events only mark the model dirty; the tick
// renders. Input renders at once so keys feel immediate.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if m.quitting {
		// Cancelling the source on quit closes its stream; that is no outage.
		return m, nil
	}
	switch msg := msg.(type) {
	case tickMsg:
		m.ticks++
		if m.dirty || m.ticks%idleRedraw == 0 {
			m.render()
		}
		return m, tickCmd()

	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.render()
		return m, nil

	case connectedMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		m.connected, m.connecting, m.connErr = true, false, ""
		m.backoff = backoffMin
		m.applySnapshot(msg.state)
		m.dirty = true
		return m, waitForEvents(m.gen, msg.ch)

	case connectFailedMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		return m, m.disconnected(msg.err)

	case streamEndedMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		return m, m.disconnected(errors.New("event stream closed"))

	case reconnectMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		m.connecting = true
		m.dirty = true
		return m, connectCmd(m.ctx, m.src, m.gen)

	case eventsMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		for _, e := range msg.events {
			m.applyEvent(e)
		}
		m.dirty = true
		return m, waitForEvents(m.gen, msg.ch)

	case detailMsg:
		if m.detail != nil && m.detail.id == msg.id {
			m.detail.loading = false
			m.detail.d, m.detail.err = msg.detail, msg.err
			if msg.detail != nil {
				// The logged request is authoritative; keep what only the live row knew.
				live := m.detail.req
				m.detail.req = msg.detail.Request
				if len(m.detail.req.Providers) == 0 {
					m.detail.req.Providers = live.Providers
				}
				m.detail.req.Attempts = max(m.detail.req.Attempts, live.Attempts)
				if m.detail.req.TraceID == "" {
					m.detail.req.TraceID = live.TraceID // the request log keeps no trace id
				}
			}
			m.setDetailContent()
			m.render()
		}
		return m, nil

	case tea.KeyMsg:
		cmd := m.handleKey(msg)
		if !m.quitting {
			m.render()
		}
		return m, cmd
	}
	return m, nil
}

// disconnected records a lost connection and schedules a retry with backoff
// (500 ms doubling to 5 s).
func (m *Model) disconnected(err error) tea.Cmd {
	m.gen++
	m.connected, m.connecting = false, false
	if err != nil {
		m.connErr = err.Error()
	}
	if errors.Is(err, events.ErrUnauthorized) {
		// The same key will be refused again: say so and stop, rather than retry for ever.
		m.authFailed = true
		m.dirty = true
		return nil
	}
	d := m.backoff
	m.backoff = min(m.backoff*2, backoffMax)
	m.retryAt = m.now().Add(d)
	m.dirty = true
	if m.ctx.Err() != nil {
		return nil
	}
	return reconnectCmd(m.gen, d)
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		return m.quit()
	}
	if m.confirmQuit {
		m.confirmQuit = false
		if s := msg.String(); s == "y" || s == "Y" || s == "q" || s == "enter" {
			return m.quit()
		}
		return nil
	}
	if m.filtering {
		return m.handleFilterKey(msg)
	}
	if m.detail != nil {
		return m.handleDetailKey(msg)
	}
	if m.info != nil {
		// Esc (or q, or Enter again) goes back to the panes.
		if s := msg.String(); key.Matches(msg, m.keys.Back) || s == "q" || s == "enter" {
			m.info = nil
		}
		return nil
	}
	switch {
	case key.Matches(msg, m.keys.Quit) && m.opts.InProcess:
		// Quitting serve's dashboard stops the gateway: ask first (Ctrl-C does not).
		m.confirmQuit = true
	case key.Matches(msg, m.keys.Quit):
		return m.quit()
	case key.Matches(msg, m.keys.Help):
		m.help.ShowAll = !m.help.ShowAll
	case key.Matches(msg, m.keys.Tab):
		if msg.String() == "shift+tab" {
			m.focus = (m.focus + paneCount - 1) % paneCount
		} else {
			m.focus = (m.focus + 1) % paneCount
		}
	case key.Matches(msg, m.keys.Up):
		m.move(-1)
	case key.Matches(msg, m.keys.Down):
		m.move(1)
	case key.Matches(msg, m.keys.PageUp):
		m.move(-m.requestRows())
	case key.Matches(msg, m.keys.PageDown):
		m.move(m.requestRows())
	case key.Matches(msg, m.keys.Top):
		m.move(-1 << 30)
	case key.Matches(msg, m.keys.Bottom):
		m.move(1 << 30)
	case key.Matches(msg, m.keys.Enter) && m.sessionsView && m.focus == paneRequests:
		m.openSession()
	case key.Matches(msg, m.keys.Enter):
		return m.openDetail()
	case key.Matches(msg, m.keys.Sessions):
		m.sessionsView = !m.sessionsView
	case key.Matches(msg, m.keys.Filter):
		m.filtering = true
		return nil
	case key.Matches(msg, m.keys.Back):
		m.filterText = ""
	case key.Matches(msg, m.keys.Errors):
		m.errorsOnly = !m.errorsOnly
		m.selID = ""
	case key.Matches(msg, m.keys.Pause):
		m.setPaused(!m.paused)
	case key.Matches(msg, m.keys.Clear):
		m.clear()
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	m.quitting = true
	m.cancel()
	return tea.Quit
}

// maxFilter bounds the filter text.
const maxFilter = 64

// handleFilterKey edits the filter; it applies live while typing. Enter keeps it,
// Esc drops it.
func (m *Model) handleFilterKey(msg tea.KeyMsg) tea.Cmd {
	switch msg.Type {
	case tea.KeyEnter:
		m.filtering = false
		m.filterText = strings.TrimSpace(m.filterText)
	case tea.KeyEsc:
		m.filtering = false
		m.filterText = ""
	case tea.KeyBackspace:
		if rs := []rune(m.filterText); len(rs) > 0 {
			m.filterText = string(rs[:len(rs)-1])
		}
	case tea.KeyCtrlU:
		m.filterText = ""
	case tea.KeyRunes, tea.KeySpace:
		if len([]rune(m.filterText))+len(msg.Runes) <= maxFilter {
			m.filterText += string(msg.Runes)
		}
	}
	m.selID = ""
	return nil
}

func (m *Model) handleDetailKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Back):
		m.detail = nil
		return nil
	case msg.String() == "q":
		// q leaves the detail view first; a second q quits.
		m.detail = nil
		return nil
	case key.Matches(msg, m.keys.Top):
		m.vp.GotoTop()
		return nil
	case key.Matches(msg, m.keys.Bottom):
		m.vp.GotoBottom()
		return nil
	}
	var cmd tea.Cmd
	m.vp, cmd = m.vp.Update(msg)
	return cmd
}

// move moves the cursor of the focused pane by delta rows.
func (m *Model) move(delta int) {
	switch m.focus {
	case paneProviders:
		m.provCur = clamp(m.provCur+delta, 0, max(len(m.provs)-1, 0))
	case paneKeys:
		m.keyCur = clamp(m.keyCur+delta, 0, max(len(m.keyList)-1, 0))
	default:
		if m.sessionsView {
			m.sessCur = clamp(m.sessCur+delta, 0, max(len(m.sessions())-1, 0))
			return
		}
		rows := m.visibleRows()
		if len(rows) == 0 {
			m.selID = ""
			return
		}
		i := clamp(m.selectedIndex(rows)+delta, 0, len(rows)-1)
		if i == 0 && delta < 0 {
			m.selID = "" // back at the top: follow the newest again
			return
		}
		m.selID = rows[i].req.ID
	}
}

// setPaused freezes (or thaws) the request list; the model keeps taking events, so
// nothing is lost while paused.
func (m *Model) setPaused(p bool) {
	m.paused = p
	m.frozen = nil
	if p {
		m.frozen = m.liveRows()
		for i, r := range m.frozen {
			c := *r
			m.frozen[i] = &c
		}
	}
}

// clear empties the request history; live requests stay.
func (m *Model) clear() {
	m.rows.reset()
	for _, r := range m.inflight {
		r.inRing = false
	}
	for _, r := range m.inflight {
		m.pushRow(r)
	}
	m.clearedAt = m.now()
	m.selID = ""
	if m.paused {
		m.setPaused(true)
	}
}

func (m *Model) openDetail() tea.Cmd {
	if m.focus != paneRequests {
		m.openInfo()
		return nil
	}
	rows := m.visibleRows()
	if len(rows) == 0 {
		return nil
	}
	r := rows[m.selectedIndex(rows)]
	m.detail = &detailState{id: r.req.ID, req: r.req, loading: true}
	m.vp.GotoTop()
	m.setDetailContent()
	return detailCmd(m.ctx, m.src, r.req.ID)
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}
