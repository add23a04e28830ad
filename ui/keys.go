package ui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key binding; it feeds bubbles/help for the bottom help line.
type keyMap struct {
	Up, Down, Tab, Enter, Back key.Binding
	Filter, Pause, Clear       key.Binding
	Help, Quit                 key.Binding
	Move, QuitShort            key.Binding // compact forms for the one-line help
	PageUp, PageDown           key.Binding
	Top, Bottom                key.Binding
	Errors                     key.Binding
	Sessions                   key.Binding
}

func newKeyMap(inProcess bool) keyMap {
	quit := "quit"
	if inProcess {
		quit = "quit (stops gateway)"
	}
	return keyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Tab:      key.NewBinding(key.WithKeys("tab", "shift+tab"), key.WithHelp("tab", "pane")),
		Enter:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "detail")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Pause:    key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		Clear:    key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "clear")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", quit)),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "f", " "), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "newest")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "oldest")),
		Errors:   key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "errors only")),
		Sessions: key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sessions")),

		Move:      key.NewBinding(key.WithKeys("up", "down", "j", "k"), key.WithHelp("↑↓", "move")),
		QuitShort: key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// ShortHelp is the one-line help at the bottom of the dashboard.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Move, k.Tab, k.Enter, k.Filter, k.Pause, k.Clear, k.Help, k.QuitShort}
}

// FullHelp is the expanded help `?` shows.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown},
		{k.Top, k.Bottom, k.Tab, k.Enter, k.Back},
		{k.Filter, k.Errors, k.Sessions, k.Pause, k.Clear, k.Help, k.Quit},
	}
}

// detailKeyMap is the help shown in the detail view.
type detailKeyMap struct{ k keyMap }

func (d detailKeyMap) ShortHelp() []key.Binding {
	return []key.Binding{d.k.Move, d.k.PageUp, d.k.PageDown, d.k.Top, d.k.Bottom, d.k.Back}
}

func (d detailKeyMap) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }
