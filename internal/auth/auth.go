// Package auth authenticates client requests by their Bearer key.
//
// Every stored key (revoked ones too) and every static key lives in an in-memory
// index keyed by the SHA-256 of the secret, so the hot path is one hash and one map
// lookup with no SQLite access: the index holds every key, so it is also the negative
// cache for unknown ones. A poll goroutine reloads the index when another process
// (`runestone keys create/revoke`) changes a key, and flushes last-used times in
// batches.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/store"
)

// DefaultPoll is how often the authenticator checks the database for key changes,
// so a key created or revoked by another process applies within a second.
const DefaultPoll = 500 * time.Millisecond

// touchEvery bounds how often the hot path writes a key's last-used time: recording
// it at most once a second per key keeps parallel requests off one cache line.
const touchEvery = int64(time.Second)

// flushTimeout bounds the final last-used flush on Close.
const flushTimeout = 2 * time.Second

// Messages a client sees. They say what to do, not only what failed.
const (
	msgMissing = "Missing API key. Send Authorization: Bearer <key>."
	msgNoKeys  = "No API keys exist yet: run `runestone keys create --name dev` and send the key it prints as Authorization: Bearer <key>."
	msgScheme  = "Invalid Authorization header: use the Bearer scheme, as in Authorization: Bearer <key>."
	msgBadChar = "Invalid API key: it contains whitespace or control characters. Send Authorization: Bearer <key>."
)

// Principal is an authenticated caller. Principals are shared between requests and
// must be treated as read-only.
type Principal struct {
	KeyID, Name, Project string
	Static               bool          // a key from RUNESTONE_API_KEYS / auth.keys, not stored
	Limits               limits.Limits // effective: the key's own limits, else the defaults
	Models               []string      // allow-list; empty allows every model
	BudgetUSD            *float64      // nil: no budget
	BudgetPeriod         budget.Period // how often the budget starts over (None: never)
	ExpiresAt            time.Time     // zero: never
}

// Allows reports whether the key may use model: every model when the allow-list is
// empty, else an exact entry or a prefix entry ending in "*" ("gpt-4o*").
func (p *Principal) Allows(model string) bool {
	if len(p.Models) == 0 {
		return true
	}
	for _, m := range p.Models {
		if m == model {
			return true
		}
		if n := len(m) - 1; n >= 0 && m[n] == '*' && strings.HasPrefix(model, m[:n]) {
			return true
		}
	}
	return false
}

// Options configure an Authenticator.
type Options struct {
	Store      *store.Store // may be nil: static keys only
	StaticKeys []string
	Defaults   limits.Limits // limits for keys without their own
	Poll       time.Duration // DefaultPoll when 0
	Logger     *slog.Logger
	Now        func() time.Time
}

// Authenticator checks Bearer keys against the in-memory index.
type Authenticator struct {
	store    *store.Store
	defaults limits.Limits
	poll     time.Duration
	log      *slog.Logger
	now      func() time.Time
	static   []staticKey

	idx atomic.Pointer[index]

	mu      sync.Mutex // serialises reload and flush; never taken on the hot path
	version int64
	cells   map[string]*usage

	cancel     context.CancelFunc
	done       chan struct{}
	changed    <-chan struct{} // key changes pushed by the store (nil: poll only)
	stopListen func()
	closeOnce  sync.Once

	miss missLookup // store lookups of tokens the index does not know
}

type index struct {
	byHash    map[[32]byte]*entry
	entries   []*entry     // stored keys, for flushing last-used
	active    []*Principal // unrevoked stored keys, then static keys
	unrevoked int          // stored keys not revoked (expired included)
}

type entry struct {
	hash      [32]byte
	p         *Principal
	revokedAt time.Time
	use       *usage
}

// usage carries a key's last-used time across reloads.
type usage struct {
	last    atomic.Int64 // unix nanoseconds, written by requests
	flushed int64        // what the database has; under Authenticator.mu
}

type staticKey struct {
	hash [32]byte
	p    *Principal
}

// New loads every key into memory and, when a store is given, starts the goroutine
// that reloads on change and flushes last-used times. It runs until Close, whatever
// happens to ctx.
func New(ctx context.Context, o Options) (*Authenticator, error) {
	a := &Authenticator{
		store:    o.Store,
		defaults: o.Defaults,
		poll:     o.Poll,
		log:      o.Logger,
		now:      o.Now,
		cells:    map[string]*usage{},
	}
	if a.poll <= 0 {
		a.poll = DefaultPoll
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("component", "auth")
	if a.now == nil {
		a.now = time.Now
	}
	seen := map[[32]byte]bool{}
	for _, k := range o.StaticKeys {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		h := sha256.Sum256([]byte(k))
		if seen[h] {
			continue
		}
		seen[h] = true
		hexh := hex.EncodeToString(h[:])
		a.static = append(a.static, staticKey{hash: h, p: &Principal{
			KeyID: "static:" + hexh[:8], Name: "static", Static: true, Limits: o.Defaults,
		}})
	}
	if a.store == nil {
		a.idx.Store(a.build(nil))
		return a, nil
	}
	if err := a.reload(ctx); err != nil {
		return nil, err
	}
	// ctx bounds the first load only. The poller and the Postgres listener live until
	// Close, which the server calls after in-flight requests have drained: tied to the
	// caller's (signal) context they would stop at Ctrl-C, while requests still run.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.done = make(chan struct{})
	// Postgres pushes key changes (LISTEN/NOTIFY); the poll stays as the fallback.
	a.changed, a.stopListen = a.store.ListenKeys(pctx)
	go a.run(pctx)
	return a, nil
}

// Close stops the poll goroutine after a last flush of last-used times. Call it
// before closing the store.
func (a *Authenticator) Close() {
	a.closeOnce.Do(func() {
		if a.cancel == nil {
			return
		}
		a.cancel()
		<-a.done
		a.stopListen()
	})
}

func (a *Authenticator) run(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(a.poll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			if err := a.flush(fctx); err != nil {
				a.log.Warn("could not record last-used times of keys", "err", err)
			}
			cancel()
			return
		case <-a.changed:
			err := a.Refresh(ctx)
			if err != nil && ctx.Err() == nil && !failing {
				failing = true
				a.log.Warn("cannot read keys from the database; serving the keys loaded before", "err", err)
			}
		case <-t.C:
			err := a.Refresh(ctx)
			if err == nil {
				err = a.flush(ctx)
			}
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				failing = true
				a.log.Warn("cannot read keys from the database; serving the keys loaded before", "err", err)
			case err == nil && failing:
				failing = false
				a.log.Info("reading keys from the database again")
			}
		}
	}
}

// Refresh reloads the key index now if any key changed since the last load. The poll
// goroutine calls it; tests and admin paths may too.
func (a *Authenticator) Refresh(ctx context.Context) error {
	if a.store == nil {
		return nil
	}
	v, err := a.store.KeysVersion(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	same := v == a.version
	a.mu.Unlock()
	if same {
		return nil
	}
	return a.reload(ctx)
}

// reload reads every key and swaps in a new index. The version is read first: a
// change racing the read makes the next poll reload again, never miss one.
func (a *Authenticator) reload(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, err := a.store.KeysVersion(ctx)
	if err != nil {
		return err
	}
	keys, err := a.store.ListKeys(ctx, true)
	if err != nil {
		return err
	}
	cells := make(map[string]*usage, len(keys))
	for i := range keys {
		c := a.cells[keys[i].ID]
		if c == nil {
			c = &usage{}
		}
		cells[keys[i].ID] = c
	}
	idx := a.build(keys)
	for _, en := range idx.entries {
		en.use = cells[en.p.KeyID]
	}
	a.cells = cells
	a.version = v
	a.idx.Store(idx)
	a.log.Debug("loaded keys", "stored", len(keys), "static", len(a.static))
	return nil
}

func (a *Authenticator) build(keys []store.Key) *index {
	idx := &index{byHash: make(map[[32]byte]*entry, len(keys))}
	for i := range keys {
		k := &keys[i]
		p := &Principal{
			KeyID: k.ID, Name: k.Name, Project: k.Project,
			Limits: limits.Limits{
				RPM:        orDefault(k.RPM, a.defaults.RPM),
				RPH:        orDefault(k.RPH, a.defaults.RPH),
				TPM:        orDefault(k.TPM, a.defaults.TPM),
				Concurrent: orDefault(k.Concurrent, a.defaults.Concurrent),
			},
			Models:    k.Models,
			BudgetUSD: k.BudgetUSD, BudgetPeriod: k.BudgetPeriod,
		}
		if k.ExpiresAt != nil {
			p.ExpiresAt = *k.ExpiresAt
		}
		en := &entry{hash: k.Hash(), p: p, use: &usage{}}
		if k.RevokedAt != nil {
			en.revokedAt = *k.RevokedAt
		} else {
			idx.unrevoked++
			idx.active = append(idx.active, p)
		}
		idx.byHash[en.hash] = en
		idx.entries = append(idx.entries, en)
	}
	for _, s := range a.static {
		idx.active = append(idx.active, s.p)
	}
	return idx
}

func orDefault(own *int, def int) int {
	if own != nil {
		return *own
	}
	return def
}

// flush writes last-used times recorded since the previous flush in one batch.
func (a *Authenticator) flush(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	idx := a.idx.Load()
	var used map[string]time.Time
	var vals []int64
	var cells []*usage
	for _, en := range idx.entries {
		last := en.use.last.Load()
		if last > en.use.flushed {
			if used == nil {
				used = map[string]time.Time{}
			}
			used[en.p.KeyID] = time.Unix(0, last)
			vals = append(vals, last)
			cells = append(cells, en.use)
		}
	}
	if len(used) == 0 {
		return nil
	}
	if err := a.store.TouchKeys(ctx, used); err != nil {
		return err
	}
	for i, c := range cells {
		c.flushed = vals[i]
	}
	return nil
}

// Authenticate checks an Authorization header value and returns the caller, or the
// 401 to send. For a known key it does one SHA-256 and one map lookup, no I/O.
func (a *Authenticator) Authenticate(authorization string) (*Principal, *apierr.Error) {
	return a.authenticate(authorization, true)
}

func (a *Authenticator) authenticate(authorization string, lookup bool) (*Principal, *apierr.Error) {
	token, e := a.parse(authorization)
	if e != nil {
		return nil, e
	}
	h := hashToken(token)
	idx := a.idx.Load()
	// The map finds the entry by hash; the constant-time compare is the equality
	// check the spec asks for (timing reveals at most the hash, never the secret).
	if en := idx.byHash[h]; en != nil && subtle.ConstantTimeCompare(en.hash[:], h[:]) == 1 {
		if !en.revokedAt.IsZero() {
			return nil, apierr.InvalidAPIKey(fmt.Sprintf(
				"The API key %q (%s) was revoked on %s and can no longer be used. Create a new one with `runestone keys create --name NAME`.",
				en.p.Name, en.p.KeyID, en.revokedAt.UTC().Format(time.RFC3339)))
		}
		now := a.now()
		if !en.p.ExpiresAt.IsZero() && !now.Before(en.p.ExpiresAt) {
			return nil, apierr.InvalidAPIKey(fmt.Sprintf(
				"The API key %q (%s) expired on %s. Create a new one with `runestone keys create --name NAME`.",
				en.p.Name, en.p.KeyID, en.p.ExpiresAt.UTC().Format(time.RFC3339)))
		}
		n := now.UnixNano()
		if n-en.use.last.Load() >= touchEvery {
			en.use.last.Store(n)
		}
		return en.p, nil
	}
	// Static keys: compare against every one, without stopping at a match.
	var found *Principal
	for i := range a.static {
		if subtle.ConstantTimeCompare(a.static[i].hash[:], h[:]) == 1 {
			found = a.static[i].p
		}
	}
	if found != nil {
		return found, nil
	}
	if lookup && a.lookupMiss(h) {
		return a.authenticate(authorization, false)
	}
	if idx.unrevoked == 0 && len(a.static) == 0 {
		return nil, apierr.InvalidAPIKey(msgNoKeys)
	}
	return nil, apierr.InvalidAPIKey("Incorrect API key provided: " + maskToken(token) +
		". Check the key, or create one with `runestone keys create --name NAME`.")
}

// parse extracts the token from "Bearer <token>": the scheme is case-insensitive,
// spaces and tabs around and between are allowed (HTTP's optional whitespace), any
// other whitespace or control byte is not: "Bearer <key>\n" is not the key.
func (a *Authenticator) parse(header string) (string, *apierr.Error) {
	h := strings.Trim(header, " \t")
	if h == "" {
		return "", a.missing()
	}
	i := strings.IndexAny(h, " \t")
	if i < 0 {
		if strings.EqualFold(h, "Bearer") {
			return "", a.missing()
		}
		return "", apierr.InvalidAPIKey(msgScheme)
	}
	if !strings.EqualFold(h[:i], "Bearer") {
		return "", apierr.InvalidAPIKey(msgScheme)
	}
	tok := strings.TrimLeft(h[i:], " \t")
	for j := 0; j < len(tok); j++ {
		if c := tok[j]; c <= ' ' || c == 0x7f {
			return "", apierr.InvalidAPIKey(msgBadChar)
		}
	}
	return tok, nil
}

func (a *Authenticator) missing() *apierr.Error {
	if !a.HasKeys() {
		return apierr.InvalidAPIKey(msgNoKeys)
	}
	return apierr.InvalidAPIKey(msgMissing)
}

// hashToken hashes without a heap copy for tokens that fit the stack buffer.
func hashToken(tok string) [32]byte {
	var buf [64]byte
	if len(tok) <= len(buf) {
		return sha256.Sum256(append(buf[:0], tok...))
	}
	return sha256.Sum256([]byte(tok))
}

// maskToken shows an unknown key the way OpenAI does, enough to spot a typo.
func maskToken(tok string) string {
	if len(tok) < 16 {
		return "***"
	}
	return tok[:10] + "…" + tok[len(tok)-4:]
}

// HasKeys reports whether any key can be presented: a static key or a stored key
// that is not revoked (it may have expired).
func (a *Authenticator) HasKeys() bool {
	return len(a.static) > 0 || a.idx.Load().unrevoked > 0
}

// Principals returns the keys that can authenticate now (stored keys neither revoked
// nor expired, then static keys), for limiter and budget snapshots.
func (a *Authenticator) Principals() []*Principal {
	now := a.now()
	idx := a.idx.Load()
	out := make([]*Principal, 0, len(idx.active))
	for _, p := range idx.active {
		if p.ExpiresAt.IsZero() || now.Before(p.ExpiresAt) {
			out = append(out, p)
		}
	}
	return out
}
