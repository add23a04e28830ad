package gateway

import (
	"strings"
	"sync"
)

// issuedSize is how many natively relayed response ids the gateway remembers in
// memory; maxIssuedID is the longest id it remembers (OpenAI's are ~50 bytes). Together
// they bound the memory to about 2 MB whatever upstreams send.
const (
	issuedSize  = 8192
	maxIssuedID = 128
)

// issuedResponse is what the gateway knows of a response id it relayed natively.
type issuedResponse struct {
	key, provider string
	deleted       bool
}

// issued remembers the newest natively relayed response ids and the key each was made
// for. A native answer's stored copy is written with its request-log row, off the
// request path, so for up to a log batch the store does not hold it yet; without a
// database it never does. Both times this is what proves that a continuation or a
// DELETE names a response of the caller's own: an id found neither here nor in the
// store is refused, never passed to a provider that keeps every key's conversations
// under the one upstream key. Oldest ids go first (by then the store holds them).
type issued struct {
	mu   sync.Mutex
	m    map[string]issuedResponse
	ring [issuedSize]string
	next int
}

func newIssued() *issued { return &issued{m: make(map[string]issuedResponse)} }

// add records id as made for key by provider. Strings are copied: id comes out of an
// upstream's answer, which must not stay alive for it.
func (s *issued) add(id, key, provider string) {
	if id == "" || len(id) > maxIssuedID {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; ok {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.m, old)
	}
	id = strings.Clone(id)
	s.ring[s.next] = id
	s.next = (s.next + 1) % issuedSize
	s.m[id] = issuedResponse{key: key, provider: provider}
}

// lookup returns what is known of id for key: ok only when id was made for key.
func (s *issued) lookup(id, key string) (issuedResponse, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	return r, ok && r.key == key
}

// markDeleted records that key deleted id (when it is remembered at all).
func (s *issued) markDeleted(id, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[id]; ok && r.key == key {
		r.deleted = true
		s.m[id] = r
	}
}
