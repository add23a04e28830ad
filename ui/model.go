// Package ui is Runestone's live dashboard: a Bubble Tea program that shows requests,
// providers and per-key limits as the gateway serves them. It consumes only the
// internal/events types, through a Source: the gateway's own bus in `runestone serve`
// (NewBusSource) or a running gateway's admin API in `runestone top` (an
// internal/adminapi client, which the command line passes in: ui does no HTTP itself).
//
// Events only update the model and set a dirty flag; a 50 ms tick renders at most
// ~20 frames a second, and every history is a bounded ring, so a busy gateway costs
// the dashboard neither unbounded memory nor a frame per event.
package ui

import (
	"context"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/jmanhype/runestone/internal/events"
)

// Limits and pacing of the dashboard.
const (
	maxHistory      = 500                   // finished (and recent in-flight) request rows kept
	maxInFlight     = 1000                  // in-flight requests tracked for live updates
	providerSamples = 200                   // recent outcomes per provider for p50 / error rate
	frameInterval   = 50 * time.Millisecond // ~20 fps render tick
	idleRedraw      = 4                     // redraw every 4th tick even when idle (clocks, spinners)
	maxEventBatch   = 512                   // events taken off the stream per message
	backoffMin      = 500 * time.Millisecond
	backoffMax      = 5 * time.Second
	limitFlash      = 5 * time.Second // a key stays marked LIMIT this long after a 429
	sparkSeconds    = 60
)

// Options configure the dashboard.
type Options struct {
	// Version and Addr show in the header until the gateway's snapshot says otherwise.
	Version, Addr string
	// InProcess is serve mode: quitting the dashboard shuts the gateway down.
	InProcess bool
	// Now is the clock; nil means time.Now. Tests inject a fixed one.
	Now func() time.Time
}

// pane is a focusable part of the dashboard.
type pane int

const (
	paneRequests pane = iota
	paneProviders
	paneKeys
	paneCount
)

// row is one request as the requests pane shows it; live rows are updated in place.
type row struct {
	req         events.Request
	inRing      bool // still held by the history ring (else only by the in-flight map)
	sawAttempts bool // provider stats came from attempt events already
	lost        bool // dropped from the in-flight map before it finished
}

func (r *row) live() bool { return r.req.Status == 0 && !r.lost }

// provider is one provider's state plus locally measured recent outcomes.
type provider struct {
	events.ProviderState
	lat    *ring[float64]
	failed *ring[bool]
	errs   *ring[provError] // the last provErrors errors, for its detail
}

// keyState is one key's limiter counters and when it was last refused.
type keyState struct {
	events.KeyLimits
	deniedAt time.Time
}

// detailState is the open detail view.
type detailState struct {
	id      string
	req     events.Request
	loading bool
	err     error
	d       *events.RequestDetail
}

// Model is the dashboard's Bubble Tea model. Create it with New.
type Model struct {
	src    Source
	opts   Options
	now    func() time.Time
	ctx    context.Context
	cancel context.CancelFunc

	st     *styles
	keys   keyMap
	help   help.Model
	vp     viewport.Model
	width  int
	height int

	// connection
	gen        int // bumps on every (re)connect; stale messages carry an old one
	connected  bool
	connecting bool
	connErr    string
	authFailed bool // the gateway refused the admin key: no more retries
	backoff    time.Duration
	retryAt    time.Time

	// data
	version   string
	addr      string
	started   time.Time
	authOn    bool
	provs     []*provider
	provIdx   map[string]*provider
	keyList   []*keyState
	keyIdx    map[string]*keyState
	rows      *ring[*row]
	inflight  map[string]*row
	totals    events.Totals
	rate      rateCounter
	dropped   uint64
	clearedAt time.Time

	// interaction
	focus      pane
	selID      string // selected request; "" follows the newest
	provCur    int
	keyCur     int
	paused     bool
	frozen     []*row // the rows shown while paused
	filtering  bool   // the filter prompt has the keyboard
	filterText string // the applied filter (also edited live while typing)
	errorsOnly bool   // the requests pane lists failed requests only (e)
	// sessionsView: the requests pane shows sessions instead (s); sessCur is its cursor.
	sessionsView bool
	sessCur      int
	// confirmQuit: q in serve mode asked "stop the gateway?"; the next key answers.
	confirmQuit bool
	detail      *detailState
	info        *infoState // a provider's or key's detail (Enter on those panes)
	quitting    bool

	// rendering
	dirty bool
	ticks int
	frame string
}

// New returns a dashboard over src. Its Init connects, and keeps reconnecting with
// backoff whenever the event stream ends.
func New(src Source, opts Options) *Model {
	return newModel(context.Background(), src, opts, nil)
}

func newModel(parent context.Context, src Source, opts Options, r *lipgloss.Renderer) *Model {
	ctx, cancel := context.WithCancel(parent)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	m := &Model{
		src:      src,
		opts:     opts,
		now:      now,
		ctx:      ctx,
		cancel:   cancel,
		keys:     newKeyMap(opts.InProcess),
		help:     help.New(),
		vp:       viewport.New(0, 0),
		width:    80,
		height:   24,
		version:  opts.Version,
		addr:     opts.Addr,
		provIdx:  map[string]*provider{},
		keyIdx:   map[string]*keyState{},
		rows:     newRing[*row](maxHistory),
		inflight: map[string]*row{},
		backoff:  backoffMin,
		dirty:    true,
	}
	m.setStyles(newStyles(r, noColorEnv()))
	return m
}

// setStyles installs a palette and restyles the bubbles components with it.
func (m *Model) setStyles(st *styles) {
	m.st = st
	m.help.Styles.ShortKey = st.bold
	m.help.Styles.ShortDesc = st.dim
	m.help.Styles.ShortSeparator = st.dim
	m.help.ShortSeparator = "  "
	m.help.Styles.FullKey = st.bold
	m.help.Styles.FullDesc = st.dim
	m.help.Styles.FullSeparator = st.dim
	m.help.Styles.Ellipsis = st.dim
}

// Init connects to the source and starts the render tick.
func (m *Model) Init() tea.Cmd {
	m.connecting = true
	return tea.Batch(connectCmd(m.ctx, m.src, m.gen), tickCmd())
}
