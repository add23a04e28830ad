package auth

import (
	"context"
	"sync"
	"time"
)

// A key made by `runestone keys create` in another process reaches the index with
// the next poll (up to DefaultPoll later), which made `keys create && npm test` flaky.
// So a token the index does not know is looked up in the store once, by its hash (an
// indexed query). The lookup is rate-limited and its negative result cached briefly,
// so a flood of bad keys cannot hammer the database.
const (
	missRate     = 20.0            // store lookups per second, sustained
	missBurst    = 20.0            // and in a burst
	missNegTTL   = 2 * time.Second // a token found nowhere is not looked up again for this long
	missNegLimit = 4096            // negative entries kept; the cache is cleared when full
	missTimeout  = 2 * time.Second
)

type missLookup struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
	neg    map[[32]byte]time.Time // hash -> not looked up again before this time
}

// allow reports whether h may be looked up in the store now, and takes a token if so.
func (m *missLookup) allow(h [32]byte, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.neg[h]; ok && now.Before(until) {
		return false
	}
	if m.last.IsZero() {
		m.tokens = missBurst
	} else {
		m.tokens = min(missBurst, m.tokens+now.Sub(m.last).Seconds()*missRate)
	}
	m.last = now
	if m.tokens < 1 {
		return false
	}
	m.tokens--
	return true
}

func (m *missLookup) remember(h [32]byte, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.neg == nil || len(m.neg) >= missNegLimit {
		m.neg = make(map[[32]byte]time.Time)
	}
	m.neg[h] = now.Add(missNegTTL)
}

// lookupMiss looks an unknown hash up in the store and, when the key exists there,
// reloads the index. It reports whether the index was reloaded.
func (a *Authenticator) lookupMiss(h [32]byte) bool {
	if a.store == nil {
		return false
	}
	now := a.now()
	if !a.miss.allow(h, now) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), missTimeout)
	defer cancel()
	if _, err := a.store.KeyByHash(ctx, h); err != nil {
		a.miss.remember(h, now)
		return false
	}
	if err := a.reload(ctx); err != nil {
		a.log.Warn("cannot reload keys after finding a new one", "err", err)
		return false
	}
	return true
}

// Owner returns the stored key a header names even when that key is revoked or
// expired (nil for unknown keys and static keys), so a refused request's log row can
// still say whose key it was. The Principal is a copy without limits.
func (a *Authenticator) Owner(authorization string) *Principal {
	token, e := a.parse(authorization)
	if e != nil {
		return nil
	}
	h := hashToken(token)
	if en := a.idx.Load().byHash[h]; en != nil {
		return &Principal{KeyID: en.p.KeyID, Name: en.p.Name, Project: en.p.Project}
	}
	return nil
}
