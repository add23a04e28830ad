package ui

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/jmanhype/runestone/internal/events"
)

// sizes are the terminal sizes every view is checked at.
var sizes = []struct{ w, h int }{{80, 24}, {120, 40}}

// scenario is one golden: a source, keys to press, and text that shows the frame
// is complete.
type scenario struct {
	name  string
	src   func() *fakeSource
	keys  []tea.KeyMsg
	ready string // waits for this in the output before the keys
	after string // and for this after them
	opts  Options
}

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

func busySource() *fakeSource {
	return &fakeSource{
		state:   busyState(),
		script:  busyScript(),
		details: map[string]*events.RequestDetail{"req_failover": failoverDetail()},
	}
}

func TestGoldenViews(t *testing.T) {
	scenarios := []scenario{
		{
			name: "empty",
			src: func() *fakeSource {
				return &fakeSource{state: events.State{
					Version: "v0.4.0", Addr: "127.0.0.1:4001", Started: fixedNow.Add(-42 * time.Second), AuthOn: true,
					Providers: []events.ProviderState{{Name: "mock", Kind: "mock", Breaker: "closed"}},
				}}
			},
			ready: "Only the offline mock",
		},
		{name: "busy", src: busySource, ready: "57"},
		{
			name: "breaker_open",
			src: func() *fakeSource {
				f := busySource()
				f.script = append(f.script, events.Event{Kind: events.KindBreakerChanged, Time: fixedNow.Add(-13 * time.Second),
					Breaker: &events.Breaker{Provider: "anthropic", From: "closed", To: "open", NextProbe: fixedNow.Add(17 * time.Second), Reason: "5 consecutive failures"}},
					events.Event{Kind: events.KindBreakerChanged, Breaker: &events.Breaker{Provider: "backup", From: "open", To: "half-open"}})
				return f
			},
			ready: "2/4",
		},
		{
			name: "key_limit",
			src: func() *fakeSource {
				f := busySource()
				keys := baseKeys()
				keys[1].RPM, keys[1].InFlight, keys[1].Queued = 60, 4, 3
				f.script = append(f.script, events.Event{Kind: events.KindLimiterSnapshot, Limits: keys},
					events.Event{Kind: events.KindRateLimited, Denied: &events.Denied{RequestID: "req_x", KeyID: "key_ci", KeyName: "ci", Model: "gpt-4o", Reason: "rpm"}})
				return f
			},
			ready: "at LIMIT",
		},
		{
			name:  "detail",
			src:   busySource,
			ready: "57",
			keys:  []tea.KeyMsg{runes("j"), runes("j"), runes("j"), {Type: tea.KeyEnter}},
			after: "read 512", // detail-only text that fits 80x24 (the attempts are below the fold)
		},
		{
			name:  "filter",
			src:   busySource,
			ready: "57",
			keys:  []tea.KeyMsg{runes("/"), runes("b"), runes("a"), runes("c"), runes("k"), {Type: tea.KeyEnter}},
			after: `filter "back"`,
		},
		{
			name:  "errors_only",
			src:   busySource,
			ready: "57",
			keys:  []tea.KeyMsg{runes("e")},
			after: "errors only",
		},
		{
			name:  "provider_detail",
			src:   busySource,
			ready: "57",
			keys:  []tea.KeyMsg{{Type: tea.KeyTab}, {Type: tea.KeyEnter}},
			after: "upstream 503",
		},
		{
			name:  "key_detail",
			src:   busySource,
			ready: "57",
			keys:  []tea.KeyMsg{{Type: tea.KeyTab}, {Type: tea.KeyTab}, runes("j"), runes("j"), {Type: tea.KeyEnter}},
			after: "claude-*",
		},
		{
			name:  "sessions",
			src:   busySource,
			ready: "57",
			keys:  []tea.KeyMsg{runes("s")},
			after: "enter: its requests",
		},
		{
			name:  "session_requests",
			src:   busySource,
			ready: "57",
			keys:  []tea.KeyMsg{runes("s"), runes("j"), {Type: tea.KeyEnter}},
			after: "filter ",
		},
		{
			name:  "confirm_quit",
			src:   busySource,
			opts:  Options{InProcess: true},
			ready: "57",
			keys:  []tea.KeyMsg{runes("q")},
			after: "Stop the gateway?",
		},
	}
	for _, sc := range scenarios {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s_%dx%d", sc.name, sz.w, sz.h), func(t *testing.T) {
				m := newTestModel(sc.src(), sc.opts)
				tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(sz.w, sz.h))
				waitOutput(t, tm, sc.ready)
				for _, k := range sc.keys {
					tm.Send(k)
				}
				if sc.after != "" {
					waitOutput(t, tm, sc.after)
				}
				tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
				final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
				golden.RequireEqual(t, []byte(final.View()+"\n"))
			})
		}
	}
}

func waitOutput(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

// TestViewsFit checks every golden frame is exactly the terminal's size.
func TestViewsFit(t *testing.T) {
	for _, sz := range sizes {
		for _, name := range []string{"empty", "busy", "breaker_open", "key_limit", "detail", "filter", "provider_detail", "key_detail"} {
			b, err := os.ReadFile(fmt.Sprintf("testdata/TestGoldenViews/%s_%dx%d.golden", name, sz.w, sz.h))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(lines) != sz.h {
				t.Errorf("%s %dx%d: %d lines, want %d", name, sz.w, sz.h, len(lines), sz.h)
			}
			for i, ln := range lines {
				if w := lipgloss.Width(ln); w > sz.w {
					t.Errorf("%s %dx%d: line %d is %d wide: %q", name, sz.w, sz.h, i+1, w, ln)
				}
			}
		}
	}
}

func newTeatest(t *testing.T, m *Model, w, h int) *teatest.TestModel {
	t.Helper()
	return teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
}

func finalModel(t *testing.T, tm *teatest.TestModel) *Model {
	t.Helper()
	return tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
}
